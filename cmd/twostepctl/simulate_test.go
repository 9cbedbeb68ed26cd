package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/configs"
	"twostep/directory"
	"twostep/internal/logbuf"
	"twostep/notify"
	"twostep/portal"
)

// syncBuffer is the shared logbuf.Buffer.
type syncBuffer = logbuf.Buffer

// waitFor waits until b holds want.
func waitFor(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 10s in:\n%s", want, b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// passwordOK is a directory where alice's password is always right.
type passwordOK struct{}

func (passwordOK) Authenticate(_ context.Context, user, _ string) (directory.Result, error) {
	return directory.Result{Status: directory.OK, User: directory.User{Name: user, Groups: []string{"vpn-users"}}}, nil
}

// approvalWorld is a twostepd node's push side over the test cluster's
// etcd: the engine, its webhook notifier and its approval API.
type approvalWorld struct {
	engine   *challenge.Engine
	pushes   *cluster.Pushes
	accounts *cluster.Accounts
	notifier notify.Dispatch
	api      *httptest.Server
}

func newApprovalWorld(t *testing.T, tc *testCluster) *approvalWorld {
	t.Helper()
	cfg, err := configs.LoadForTools(tc.config)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.Open(context.Background(), cfg.Cluster.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	w := &approvalWorld{
		pushes:   cluster.NewPushes(store, keys),
		accounts: cluster.NewAccounts(store, keys),
		notifier: notify.Dispatch{Webhook: &notify.Webhook{Client: &http.Client{Transport: transport}}},
	}
	t.Cleanup(w.pushes.Close)
	// The API's address goes into the engine, which the API serves.
	w.api = httptest.NewUnstartedServer(nil)
	w.engine = challenge.NewEngine(passwordOK{}, challenge.Policy{},
		challenge.WithPasscodes(challenge.Passcodes{}, w.accounts, cluster.NewChallenges(store, keys)),
		challenge.WithPush(challenge.PushConfig{AnswerURLs: []string{"http://" + w.api.Listener.Addr().String()}, Node: "test"}, w.pushes, w.notifier),
		challenge.WithAudit(cluster.NewAudit(store, 0), "test"))
	w.api.Config.Handler = portal.NewPushAPI(w.engine, portal.APIConfig{}, zerolog.Nop())
	w.api.Start()
	t.Cleanup(w.api.Close)
	return w
}

// start starts a push to alice's device dev, verified when number is not
// empty, and notifies it with the message's answer URLs.
func (w *approvalWorld) start(t *testing.T, dev cluster.Device, number string, answer []string) *cluster.Push {
	t.Helper()
	ctx := context.Background()
	acct, err := w.accounts.Load(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p := &cluster.Push{User: "alice", Device: dev.ID, DeviceName: dev.Name, Client: "vpn", NASAddr: "192.0.2.1",
		NASID: "fw1", From: "198.51.100.7", Created: now, Expires: now.Add(30 * time.Second)}
	if err := w.pushes.Start(ctx, acct, p, cluster.PushStart{Number: number}, now); err != nil {
		t.Fatal(err)
	}
	pd, err := dev.PushDevice()
	if err != nil {
		t.Fatal(err)
	}
	msg := notify.Message{Tx: p.ID, User: p.User, Device: p.Device, Service: p.Client, NAS: p.NASID, From: p.From,
		Created: p.Created, Expires: p.Expires, Number: p.Verified(), Answer: answer}
	if err := w.notifier.Notify(ctx, notify.Target{Kind: pd.Kind, Endpoint: pd.Endpoint, Secret: pd.Secret}, msg); err != nil {
		t.Fatalf("notify the simulator: %v", err)
	}
	return p
}

// state waits for push id's answer, at most a few seconds, and returns
// its state.
func (w *approvalWorld) state(t *testing.T, id string) cluster.PushState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := w.pushes.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serving is a `device simulate serve` running in-process.
type serving struct {
	stdout, stderr *syncBuffer
	stop           context.CancelFunc
	done           chan error
}

func serve(t *testing.T, stdin string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{stdout: &syncBuffer{}, stderr: &syncBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, append([]string{"device", "simulate", "serve"}, args...), strings.NewReader(stdin), s.stdout, s.stderr)
	}()
	t.Cleanup(func() { s.end(t) })
	waitFor(t, s.stdout, "listening on")
	return s
}

// end stops serve and checks that it ended well.
func (s *serving) end(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v\n%s", err, s.stderr.String())
	}
}

func TestSimulate(t *testing.T) {
	tc := newTestCluster(t)
	w := newApprovalWorld(t, tc)
	keyPath := filepath.Join(t.TempDir(), "sim.key")
	addr := freeAddr(t)

	out := mustCtl(t, "", "device", "simulate", "enroll", "-config", tc.config, "-key", keyPath, "-listen", addr, "alice")
	id := strings.TrimSpace(out)
	acct := tc.load(t, "alice")
	dev, ok := acct.Device(id)
	if !ok || dev.Type != cluster.PushApp || dev.Name != "simulator" {
		t.Fatalf("enroll printed %q; devices %+v, want a push device named simulator", out, acct.Devices)
	}
	pd, err := dev.PushDevice()
	if err != nil {
		t.Fatal(err)
	}
	if pd.Kind != notify.KindWebhook || pd.Endpoint != "http://"+addr+"/push" || len(pd.Secret) != simSecretLen || len(pd.PublicKey) != 65 {
		t.Errorf("registered %s %s, secret %d bytes, key %d bytes", pd.Kind, pd.Endpoint, len(pd.Secret), len(pd.PublicKey))
	}
	for _, p := range []string{keyPath, keyPath + ".json"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", p, err, fi.Mode().Perm())
		}
	}
	if events := mustCtl(t, "", "audit", "-config", tc.config, "-user", "alice"); !strings.Contains(events, "device.enroll") || !strings.Contains(events, id) {
		t.Errorf("audit shows no device.enroll of %s:\n%s", id, events)
	}

	t.Run("the audit trail shows a webhook's host, not its secret path", func(t *testing.T) {
		out := mustCtl(t, "", "device", "simulate", "enroll", "-config", tc.config, "-name", "ntfy", "-key", filepath.Join(t.TempDir(), "ntfy.key"),
			"-listen", freeAddr(t), "-endpoint", "https://ntfy.example/secret-topic", "bob")
		events := mustCtl(t, "", "audit", "-config", tc.config, "-user", "bob", "-json")
		if !strings.Contains(events, "https://ntfy.example") || strings.Contains(events, "secret-topic") {
			t.Errorf("audit after enrolling %s:\n%s\nwant the webhook's scheme and host, not its path", out, events)
		}
	})

	t.Run("devices shows the push device and its automatic pushes", func(t *testing.T) {
		list := mustCtl(t, "", "devices", "-config", tc.config, "alice")
		if !strings.Contains(list, "simulator") || !strings.Contains(list, "webhook (automatic pushes)") {
			t.Errorf("devices:\n%s", list)
		}
	})

	t.Run("enroll refuses to overwrite", func(t *testing.T) {
		_, _, err := ctl(t, "", "device", "simulate", "enroll", "-config", tc.config, "-key", keyPath, "-listen", addr, "alice")
		if err == nil || !strings.Contains(err.Error(), "never overwrites") {
			t.Errorf("got %v, want a refusal to overwrite", err)
		}
		if n := len(tc.load(t, "alice").Devices); n != 1 {
			t.Errorf("%d devices, want 1", n)
		}
	})

	t.Run("a login approved end to end", func(t *testing.T) {
		s := serve(t, "", "-key", keyPath)
		r := make(responder, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w.engine.Authenticate(ctx, &challenge.Request{User: "alice", Password: "pw,push", Client: "vpn",
			Source: netip.MustParseAddrPort("192.0.2.1:4000"), CallingStationID: "198.51.100.7",
			Login: challenge.ClientLogin{Mode: challenge.ModeAppend, NASTimeout: 5 * time.Second}}, r)
		a := <-r
		d, err := a.d, a.err
		if err != nil || d.Outcome != challenge.Accept || d.Reason != challenge.ReasonPushApproved {
			t.Fatalf("login: got %v %s (%v), want accept push_approved\n%s%s", d.Outcome, d.Reason, err, s.stdout, s.stderr)
		}
		waitFor(t, s.stdout, "answered approved: approved (200)")
		if got := s.stdout.String(); !strings.Contains(got, "alice on vpn") || !strings.Contains(got, "from 198.51.100.7") || !strings.Contains(got, "expires") {
			t.Errorf("serve printed:\n%s\nwant who, service, from and expiry", got)
		}
	})

	dead := "http://" + freeAddr(t) // an approval API node that is down
	cases := []struct {
		name   string
		stdin  string
		flags  []string
		number string // verified push when set
		want   cluster.PushState
		line   string
	}{
		{name: "approve, the first API node down", want: cluster.PushApproved, line: "answered approved: approved (200)"},
		{name: "deny", flags: []string{"-answer", "deny", "-delay", "50ms"}, want: cluster.PushDenied, line: "answered denied: denied (200)"},
		{name: "verified with -number", flags: []string{"-number", "42"}, number: "42", want: cluster.PushApproved, line: "approved (200)"},
		{name: "verified with a wrong number", flags: []string{"-number", "13"}, number: "42", want: cluster.PushDenied, line: "refused (422)"},
		{name: "verified, number typed", stdin: "42\n", flags: []string{"-number", "prompt"}, number: "42", want: cluster.PushApproved, line: "approved (200)"},
		{name: "verified, no terminal", number: "42", want: cluster.PushPending, line: "not approved: it asks for the number"},
		{name: "ignore", flags: []string{"-answer", "ignore"}, want: cluster.PushPending, line: "ignored"},
		// Last: a fraud report locks alice.
		{name: "fraud", flags: []string{"-answer", "fraud"}, want: cluster.PushFraud, line: "answered fraud: fraud (200)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := serve(t, c.stdin, append([]string{"-key", keyPath}, c.flags...)...)
			p := w.start(t, dev, c.number, []string{dead, w.api.URL})
			waitFor(t, s.stdout, c.line)
			if c.want == cluster.PushPending {
				got, err := w.pushes.Get(context.Background(), p.ID)
				if err != nil || got.State != cluster.PushPending {
					t.Errorf("push: %v %v, want pending", got, err)
				}
				return
			}
			if got := w.state(t, p.ID); got != c.want {
				t.Errorf("got %s, want %s\n%s", got, c.want, s.stdout)
			}
		})
	}
	if tc.load(t, "alice").Lockout.LockedAt.IsZero() {
		t.Error("a fraud report did not lock alice")
	}

	t.Run("bad notifications are refused", func(t *testing.T) {
		s := serve(t, "", "-key", keyPath)
		msg := notify.Message{Tx: "forged", User: "alice", Device: id, Service: "vpn", Expires: time.Now().Add(time.Minute), Answer: []string{w.api.URL}}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport}
		tries := []struct {
			name string
			hook *notify.Webhook
			key  []byte
		}{
			{"another secret", &notify.Webhook{Client: client}, bytes.Repeat([]byte{7}, simSecretLen)},
			{"no signature", &notify.Webhook{Client: client}, nil},
			{"an old delivery", &notify.Webhook{Client: client, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, pd.Secret},
		}
		for _, tr := range tries {
			err := tr.hook.Notify(context.Background(), notify.Target{Kind: notify.KindWebhook, Endpoint: pd.Endpoint, Secret: tr.key}, msg)
			if err == nil || !strings.Contains(err.Error(), "status 401") {
				t.Errorf("%s: got %v, want status 401", tr.name, err)
			}
		}
		if got := strings.Count(s.stderr.String(), "refused a notification"); got != len(tries) {
			t.Errorf("stderr:\n%s\nwant %d refusals", s.stderr, len(tries))
		}
		if strings.Contains(s.stdout.String(), "forged") {
			t.Errorf("serve took a forged push:\n%s", s.stdout)
		}
	})
}

func TestSimulateErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"enroll without -key", []string{"enroll", "-listen", "127.0.0.1:8790", "alice"}, "-key FILE is required"},
		{"enroll without -listen", []string{"enroll", "-key", key, "alice"}, "-listen HOST:PORT is required"},
		{"enroll on port 0", []string{"enroll", "-key", key, "-listen", "127.0.0.1:0", "alice"}, "port from 1 to 65535"},
		{"enroll on every address", []string{"enroll", "-key", key, "-listen", "0.0.0.0:8790", "alice"}, "-endpoint"},
		{"enroll with an ftp endpoint", []string{"enroll", "-key", key, "-listen", "127.0.0.1:8790", "-endpoint", "ftp://x/push", "alice"}, "want an http:// or https:// URL"},
		{"serve without -key", []string{"serve"}, "-key FILE is required"},
		{"serve with a made-up answer", []string{"serve", "-key", key, "-answer", "maybe"}, "want approve, deny, fraud or ignore"},
		{"serve with a bad number", []string{"serve", "-key", key, "-number", "4x"}, "want auto, prompt, or the digits"},
		{"serve without a key file", []string{"serve", "-key", key}, "device simulate enroll -key"},
		{"an unknown command", []string{"frobnicate"}, "want enroll or serve"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ctl(t, "", append([]string{"device", "simulate"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestSimulateHelp(t *testing.T) {
	for _, args := range [][]string{
		{"device", "simulate", "-h"},
		{"device", "simulate", "enroll", "-h"},
		{"device", "simulate", "serve", "-h"},
		{"help", "device", "simulate", "serve"},
	} {
		out := mustCtl(t, "", args...)
		if !strings.Contains(out, "Usage: twostepctl device simulate") || !strings.Contains(out, "Example") {
			t.Errorf("%s: got\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"tx":"a"}`)
	now := time.Unix(1_800_000_000, 0)
	sign := func(ts string, key []byte) http.Header {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, ts)
		h.Set(notify.HeaderSignature, webhookSig(key, ts, body))
		return h
	}
	cases := []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"good", sign("1800000000", secret), true},
		{"another key", sign("1800000000", []byte("other")), false},
		{"too old", sign("1799999000", secret), false},
		{"from the future", sign("1800001000", secret), false},
		{"no headers", http.Header{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verifyWebhook(secret, c.h, body, now, simMaxSkew)
			if (err == nil) != c.ok {
				t.Errorf("got %v, want ok %v", err, c.ok)
			}
		})
	}
}

// webhookSig computes the signature header as notify documents it:
// sha256= and the hex HMAC-SHA256 of timestamp "." body.
func webhookSig(key []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts + "." + string(body)))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// responder is the challenge.Responder of a login decided in a test: it
// hands the answer over, where radiusd would send it.
type responder chan struct {
	d   challenge.Decision
	err error
}

func (r responder) Respond(d challenge.Decision, err error) {
	r <- struct {
		d   challenge.Decision
		err error
	}{d, err}
}

func (r responder) Release() {}
