package confcheck

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// TLSFiles loads the files a section names for a TLS client into conf:
// the CA bundle that verifies the server (ca_file) and the client's
// certificate and key (cert_file, key_file, both or neither). What
// cannot be read is added to ps under those keys.
func TLSFiles(ps *Problems, conf *tls.Config, caFile, certFile, keyFile string) {
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			ps.Add("ca_file", "%v", err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				ps.Add("ca_file", "%s: no PEM certificate", caFile)
			}
			conf.RootCAs = pool
		}
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			ps.Add("cert_file", "with key_file: %v", err)
		} else {
			conf.Certificates = []tls.Certificate{cert}
		}
	case certFile != "":
		ps.Add("cert_file", "set without key_file")
	case keyFile != "":
		ps.Add("key_file", "set without cert_file")
	}
}
