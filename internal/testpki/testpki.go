// Package testpki writes a throwaway certificate authority and the
// certificates it signs, as PEM files, for the test peers that speak TLS
// (slapd, etcd, rsyslogd) and the clients that reach them: one way to
// make them, for ldaptest, etcdtest and rsyslogtest alike.
package testpki

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
	"time"
)

// PKI is the paths of a CA certificate and of the certificates it
// signed, each for 127.0.0.1 and localhost (P-256 keys, PKCS #8).
type PKI struct {
	// CACert signed every certificate below.
	CACert string
	// ServerCert, ServerKey are for server use only.
	ServerCert, ServerKey string
	// ClientCert, ClientKey are for client use only.
	ClientCert, ClientKey string
	// PeerCert, PeerKey are for both uses (an etcd member serves its
	// peers and dials them).
	PeerCert, PeerKey string
}

// Write makes a fresh PKI in dir, valid from an hour ago for lifetime;
// name goes into the certificates' common names.
func Write(dir, name string, lifetime time.Duration) (PKI, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PKI{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return PKI{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return PKI{}, err
	}
	p := PKI{CACert: filepath.Join(dir, "ca.pem")}
	if err := writePEM(p.CACert, "CERTIFICATE", caDER); err != nil {
		return PKI{}, err
	}
	issue := func(serial int64, role string, usage ...x509.ExtKeyUsage) (cert, key string, err error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name + " " + role},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(lifetime),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  usage,
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", "", err
		}
		cert, key = filepath.Join(dir, role+".pem"), filepath.Join(dir, role+"-key.pem")
		if err := writePEM(cert, "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		return cert, key, writePEM(key, "PRIVATE KEY", keyDER)
	}
	if p.ServerCert, p.ServerKey, err = issue(2, "server", x509.ExtKeyUsageServerAuth); err != nil {
		return PKI{}, err
	}
	if p.ClientCert, p.ClientKey, err = issue(3, "client", x509.ExtKeyUsageClientAuth); err != nil {
		return PKI{}, err
	}
	if p.PeerCert, p.PeerKey, err = issue(4, "peer", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth); err != nil {
		return PKI{}, err
	}
	return p, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
