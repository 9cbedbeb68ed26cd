package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/notify"
	"twostep/portal"
)

// pushOption returns the engine's push approval, or nil when push is off.
func (d *daemon) pushOption(store cluster.Store, node string) (challenge.Option, *cluster.Pushes, error) {
	pc := d.cfg.Push
	if !pc.Enabled() {
		return nil, nil, nil
	}
	// One client for every notification: connections to a push service
	// or webhook host are reused and bounded, so a burst of logins does
	// not open thousands of them.
	client := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxConnsPerHost:     64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		ForceAttemptHTTP2:   true,
	}}
	nc := pc.Notify
	dispatch := notify.Dispatch{Webhook: &notify.Webhook{Client: client, AllowHTTP: nc.Webhook.AllowHTTP}, Metrics: d.m.notify}
	if nc.WebPush.VAPIDKeyFile != "" {
		b, err := os.ReadFile(nc.WebPush.VAPIDKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("push: VAPID key: %w (create it with `twostepctl vapid-key -out FILE`)", err)
		}
		key, err := notify.DecodeVAPIDPrivateKey(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, nil, fmt.Errorf("push: VAPID key %s: %w", nc.WebPush.VAPIDKeyFile, err)
		}
		dispatch.WebPush = &notify.WebPush{Client: client, VAPID: notify.VAPID{Private: key, Subject: nc.WebPush.Subject}}
		d.vapid = key // the portal gives its public half to web authenticators
	}
	pushes := cluster.NewPushes(store, d.keys)
	cfg := pc.Approval
	cfg.AnswerURLs, cfg.Node = pc.API.URLs, node
	if nc.Alert.URL != "" {
		alert := notify.Dispatch{Webhook: &notify.Webhook{Client: client, AllowHTTP: nc.Webhook.AllowHTTP}, Metrics: d.m.notify}
		target := notify.Target{Kind: notify.KindAlert, Endpoint: nc.Alert.URL, Secret: nc.Alert.Secret}
		cfg.Alert = func(ctx context.Context, p *cluster.Push) {
			msg := notify.Message{Tx: p.ID, User: p.Account, Device: p.Device, Service: p.Client, NAS: p.NASID, From: p.From, Created: p.Created, Expires: p.Expires}
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := alert.Notify(actx, target, msg); err != nil {
				d.log.Error().Err(err).Str("user", p.Account).Msg("fraud alert not delivered")
			}
		}
	}
	return challenge.WithPush(cfg, pushes, dispatch), pushes, nil
}

// webServer is an HTTP(S) listener of the daemon: the push approval API
// or the portal.
type webServer struct {
	name string
	ln   net.Listener
	srv  *http.Server
	tls  bool
}

// newWebServer binds listen for h; tlsConfig nil serves plain HTTP.
// errorLog takes net/http's complaints: failed handshakes and broken
// connections (see newServerLog).
func newWebServer(name, listen string, h http.Handler, tlsConfig *tls.Config, errorLog *log.Logger) (*webServer, error) {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ErrorLog:          errorLog,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", name, listen, err)
	}
	return &webServer{name: name, ln: ln, srv: srv, tls: tlsConfig != nil}, nil
}

// startPushAPI binds the approval API on push.listen; nil when push is
// off.
func (d *daemon) startPushAPI(engine *challenge.Engine) (*webServer, error) {
	pc := d.cfg.Push
	if !pc.Enabled() {
		return nil, nil
	}
	ac := pc.API
	var tc *tls.Config
	if ac.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(ac.TLS.CertFile, ac.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("push: TLS: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ac.Metrics, ac.Logs = d.m.web, d.lines
	api := portal.NewPushAPI(engine, ac, d.log)
	return newWebServer("push api", ac.Listen, api, tc, d.serverLog("push_api"))
}

// serverLog is the error log of the HTTP server called server (the
// label of twostep_http_server_errors_total).
func (d *daemon) serverLog(server string) *log.Logger {
	return newServerLog(server, d.log, d.lines, d.m.serverErrors)
}

func (a *webServer) addr() string { return a.ln.Addr().String() }

func (a *webServer) serve() error {
	var err error
	if a.tls {
		err = a.srv.ServeTLS(a.ln, "", "")
	} else {
		err = a.srv.Serve(a.ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", a.name, err)
	}
	return nil
}

func (a *webServer) shutdown(ctx context.Context) { a.srv.Shutdown(ctx) }
