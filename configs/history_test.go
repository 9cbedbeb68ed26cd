package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/history"
	"twostep/history/syslog"
)

func TestHistorySection(t *testing.T) {
	const head = "clients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\ndirectory: {backend: file, file: {path: users.yaml}}\n"
	tests := []struct {
		name string
		src  string
		want history.Config
	}{
		{"left out: on, 30 days, 200 a user, the reference in rejects", "", history.Config{Enabled: true, Retention: 720 * time.Hour, PerUser: 200, ReferenceInReply: true}},
		{"some keys", "history: {retention: 168h, per_user: 50}\n", history.Config{Enabled: true, Retention: 168 * time.Hour, PerUser: 50, ReferenceInReply: true}},
		{"turned off", "history: {enabled: false, reference_in_reply: false}\n", history.Config{Retention: 720 * time.Hour, PerUser: 200}},
		{"syslog: the defaults", "history:\n  syslog: {address: \"siem.example:6514\"}\n",
			history.Config{Enabled: true, Retention: 720 * time.Hour, PerUser: 200, ReferenceInReply: true,
				Syslog: syslog.Config{Network: "tls", Address: "siem.example:6514", AppName: "twostep", Facility: "authpriv"}}},
		{"syslog with the history off", "history:\n  enabled: false\n  syslog: {network: udp, address: \"127.0.0.1:514\", facility: local3, app_name: vpn, hostname: vpn1}\n",
			history.Config{Retention: 720 * time.Hour, PerUser: 200, ReferenceInReply: true,
				Syslog: syslog.Config{Network: "udp", Address: "127.0.0.1:514", AppName: "vpn", Facility: "local3", Hostname: "vpn1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/twostep/t.yaml", []byte(head+tt.src), fakeEnv)
			if err != nil {
				t.Fatal(err)
			}
			if c.History != tt.want {
				t.Errorf("got %+v, want %+v", c.History, tt.want)
			}
		})
	}
	t.Run("syslog: the CA file beside the configuration", func(t *testing.T) {
		dir := t.TempDir()
		writeCA(t, filepath.Join(dir, "ca.pem"))
		c, err := Parse(filepath.Join(dir, "t.yaml"), []byte(head+"history:\n  syslog: {address: \"siem.example:6514\", ca_file: ca.pem}\n"), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.History.Syslog.CAFile; got != filepath.Join(dir, "ca.pem") {
			t.Errorf("ca_file %q, want it beside the configuration", got)
		}
	})
	t.Run("the syslog section's problems at their lines", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+"history:\n  syslog:\n    network: relp\n    address: siem\n    facility: auth-priv\n    app_name: two step\n"), fakeEnv)
		for _, want := range []string{
			`t.yaml:5: history.syslog.network: "relp": want udp, tcp or tls`,
			`t.yaml:6: history.syslog.address: "siem": want the receiver's host:port`,
			`t.yaml:7: history.syslog.facility: "auth-priv": want a syslog facility name`,
			`t.yaml:8: history.syslog.app_name: "two step": at most 48 printable ASCII characters`,
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
		_, err = Parse("t.yaml", []byte(head+"history:\n  syslog:\n    network: tcp\n    address: \"siem:514\"\n    ca_file: /nonexistent.pem\n"), fakeEnv)
		if want := "t.yaml:7: history.syslog.ca_file: only with network: tls"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
		_, err = Parse("t.yaml", []byte(head+"history:\n  syslog:\n    address: \"siem:6514\"\n    cert_file: /nonexistent.pem\n    key_file: /nonexistent.key\n"), fakeEnv)
		if want := "t.yaml:6: history.syslog.cert_file: with key_file: open /nonexistent.pem"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	})
	t.Run("every problem with its line", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+"history:\n  retention: 30m\n  per_user: 0\n  per_user_cap: 3\n"), fakeEnv)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want *configs.Error", err)
		}
		for _, want := range []string{"t.yaml:4: history.retention: must be 1h to 366 days", "t.yaml:6: history.per_user_cap: unknown key"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

// writeCA writes a self-signed CA certificate to path.
func writeCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
