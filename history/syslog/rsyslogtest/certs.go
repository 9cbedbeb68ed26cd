package rsyslogtest

import (
	"time"

	"twostep/internal/testpki"
)

// certLifetime is how long the test certificates are valid.
const certLifetime = 24 * time.Hour

// writeCerts makes a CA, the server's certificate for 127.0.0.1 and
// localhost, and a client certificate, in the server's dir.
func (s *Server) writeCerts() error {
	p, err := testpki.Write(s.dir, "rsyslogtest", certLifetime)
	s.CAFile, s.ClientCertFile, s.ClientKeyFile = p.CACert, p.ClientCert, p.ClientKey
	s.serverCert, s.serverKey = p.ServerCert, p.ServerKey
	return err
}
