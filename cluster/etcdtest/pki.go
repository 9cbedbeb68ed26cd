package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a throwaway CA and certificates it signed, as PEM files: for
// 127.0.0.1 and localhost, valid for an hour around now.
type PKI struct {
	// CACert signed every certificate below.
	CACert string
	// ServerCert, ServerKey serve etcd's clients (server use only).
	ServerCert, ServerKey string
	// ClientCert, ClientKey are twostepd's client certificate (client
	// use only).
	ClientCert, ClientKey string
	// PeerCert, PeerKey are a member's peer certificate: a member serves
	// its peers and dials them, so both uses.
	PeerCert, PeerKey string
}

// NewPKI writes a fresh PKI into dir; it fails the test on any error.
func NewPKI(t testing.TB, dir string) PKI {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "twostep test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	issue := func(serial int64, cn, name string, usage ...x509.ExtKeyUsage) (string, string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writeKey(t, dir, name+"-key.pem", key)
	}
	p := PKI{CACert: writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)}
	p.ServerCert, p.ServerKey = issue(2, "etcd", "server", x509.ExtKeyUsageServerAuth)
	p.ClientCert, p.ClientKey = issue(3, "twostepd", "client", x509.ExtKeyUsageClientAuth)
	p.PeerCert, p.PeerKey = issue(4, "etcd peer", "peer", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	return k
}

func writeKey(t testing.TB, dir, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	return path
}
