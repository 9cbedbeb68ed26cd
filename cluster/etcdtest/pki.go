package etcdtest

import (
	"testing"
	"time"

	"twostep/internal/testpki"
)

// PKI is a throwaway CA and certificates it signed, as PEM files, for
// 127.0.0.1 and localhost: ServerCert serves etcd's clients, ClientCert is
// twostepd's, PeerCert a member's (both uses).
type PKI = testpki.PKI

// NewPKI writes a fresh PKI into dir, valid for an hour around now; it
// fails the test on any error.
func NewPKI(t testing.TB, dir string) PKI {
	t.Helper()
	p, err := testpki.Write(dir, "twostep test", time.Hour)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	return p
}
