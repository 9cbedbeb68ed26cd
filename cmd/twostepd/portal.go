package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/notify"
	"twostep/portal"
)

// startPortal binds the self-service portal on portal.listen; nil when
// the portal is off.
func (d *daemon) startPortal(engine *challenge.Engine, store cluster.Store) (*webServer, error) {
	pc := d.cfg.Portal
	if !pc.Enabled() {
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	if pc.TLS.SelfSigned {
		cert, err = selfSigned(pc.Listen)
		if err != nil {
			return nil, fmt.Errorf("portal: self-signed certificate: %w", err)
		}
		sum := sha256.Sum256(cert.Certificate[0])
		d.log.Warn().Str("sha256", hex.EncodeToString(sum[:])).
			Msg("portal: self-signed certificate made for this start (demo only: browsers warn, and phones do not install the web authenticator from it)")
	} else if cert, err = tls.LoadX509KeyPair(pc.TLS.CertFile, pc.TLS.KeyFile); err != nil {
		return nil, fmt.Errorf("portal: TLS: %w", err)
	}
	vapid, err := d.vapidPublicKey()
	if err != nil {
		return nil, err
	}
	// The portal section, with what the cluster and push sections and the
	// daemon add.
	pc.Issuer = d.cfg.Cluster.Issuer
	pc.AnswersPerMinute = d.cfg.Push.API.AnswersPerMinute
	pc.WebAuthenticator = d.cfg.Push.Enabled()
	pc.VAPIDPublicKey = vapid
	pc.Metrics, pc.Logs = d.m.web, d.lines
	p, err := portal.New(pc, engine, cluster.NewAccounts(store, d.keys), cluster.NewSessions(store, d.keys), d.log)
	if err != nil {
		return nil, err
	}
	return newWebServer("portal", pc.Listen, p.Handler(),
		&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, d.serverLog("portal"))
}

// vapidPublicKey is the Web Push key the web authenticator subscribes
// with, or "" when Web Push is off.
func (d *daemon) vapidPublicKey() (string, error) {
	if d.vapid == nil {
		return "", nil
	}
	return notify.EncodeVAPIDPublicKey(&d.vapid.PublicKey)
}

// selfSigned makes a certificate for the demo portal: the listen
// address's IP (or all of the host's loopback names) and localhost.
func selfSigned(listen string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "twostep demo portal"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && host != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
