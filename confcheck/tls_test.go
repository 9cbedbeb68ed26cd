package confcheck

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                string
		ca, cert, key, want string
	}{
		{"nothing named", "", "", "", ""},
		{"a CA file that is missing", filepath.Join(dir, "none.pem"), "", "", "ca_file: open"},
		{"a CA file without PEM", notPEM, "", "", "ca_file: " + notPEM + ": no PEM certificate"},
		{"a certificate without its key", "", "c.pem", "", "cert_file: set without key_file"},
		{"a key without its certificate", "", "", "k.pem", "key_file: set without cert_file"},
		{"a pair that does not load", "", notPEM, notPEM, "cert_file: with key_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps Problems
			TLSFiles(&ps, &tls.Config{}, tt.ca, tt.cert, tt.key)
			got := ""
			if err := ps.Err(); err != nil {
				got = err.Error()
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
