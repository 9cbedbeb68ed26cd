package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"

	"twostep/notify"
	"twostep/portal"
)

// push checks push approval: the Web Push key, and that every node in
// push.urls answers as the approval API.
func (d *doctor) push(ctx context.Context) {
	p := d.cfg.Push
	if !p.Enabled() {
		d.ok("push", "off (no push.listen): no push approval")
		return
	}
	d.vapid()
	// Devices trust what the system's roots trust: so does the probe.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, u := range p.API.URLs {
		check := "push.url " + u
		pctx, cancel := d.within(ctx)
		err := portal.ProbeAPI(pctx, client, u)
		cancel()
		if err != nil {
			d.fail(check, err.Error(), pushURLFix(err))
			continue
		}
		d.ok(check, "the approval API answers")
	}
}

// pushURLFix says what to do about a node that does not answer.
func pushURLFix(err error) string {
	var (
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return "push.tls: phones must trust the API's certificate: use one from a CA they trust (this host's roots stand for them)"
	case errors.As(err, &host):
		return "push.urls: name each node as its certificate (push.tls.cert_file) does"
	case errors.As(err, &invalid):
		return "push.tls: renew the API's certificate"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "start twostepd there with push.listen, or correct push.urls"
	}
	return "push.urls: each entry is a node's approval API as devices reach it (push.listen, or the portal's address)"
}

// vapid checks the Web Push key: it reads, parses and matches its
// public key.
func (d *doctor) vapid() {
	const check = "push.vapid"
	path := d.cfg.Push.Notify.WebPush.VAPIDKeyFile
	if path == "" {
		d.ok(check, "no push.webpush.vapid_key_file: Web Push off, webhook devices only")
		return
	}
	create := fmt.Sprintf("create the cluster's key once with `%s` and give every node the same file", commandLine("vapid-key", "-out", path))
	b, err := os.ReadFile(path)
	if err != nil {
		fix := "push.webpush.vapid_key_file: copy the cluster's key file from another node, or " + create
		if errors.Is(err, os.ErrPermission) {
			fix = "run the doctor as root or as the user twostepd runs as"
		}
		d.fail(check, err.Error(), fix)
		return
	}
	key, err := notify.DecodeVAPIDPrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		d.fail(check, fmt.Sprintf("%s: %v", path, err), "push.webpush.vapid_key_file: copy the cluster's key file from another node (a new key makes every Web Push device enroll again), or "+create)
		return
	}
	pub, err := notify.CheckVAPIDKey(key)
	if err != nil {
		d.fail(check, fmt.Sprintf("%s: %v", path, err), create)
		return
	}
	detail := fmt.Sprintf("%s: a P-256 key whose public key matches (applicationServerKey %s; every node shows the same)", path, pub)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		d.warn(check, fmt.Sprintf("%s; but group or others may read it (mode %04o)", detail, fi.Mode().Perm()), "chmod 600 "+shellQuote(path))
		return
	}
	d.ok(check, detail)
}
