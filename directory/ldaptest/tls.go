package ldaptest

import (
	"time"

	"twostep/internal/testpki"
)

// WithTLS gives the server a certificate for 127.0.0.1 signed by a fresh
// CA (Server.CAFile), so that it accepts StartTLS on URL() and TLS from
// the start on LDAPSURL().
func WithTLS() Option {
	return func(o *Options) { o.TLS = true }
}

// certLifetime is how long the test certificates are valid: a year, so
// that checks which warn of a certificate about to expire see a good one.
const certLifetime = 365 * 24 * time.Hour

// writeCerts makes a CA and a server certificate for 127.0.0.1 in dir and
// returns the paths of the CA certificate, server certificate and key.
func writeCerts(dir string) (ca, cert, key string, err error) {
	p, err := testpki.Write(dir, "ldaptest", certLifetime)
	return p.CACert, p.ServerCert, p.ServerKey, err
}
