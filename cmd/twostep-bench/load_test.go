package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"twostep/internal/logbuf"

	"go.uber.org/goleak"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// syncBuffer is the shared logbuf.Buffer.
type syncBuffer = logbuf.Buffer

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a RADIUS server built on layeh, independent of the
// generator's own packet code: it checks the request's
// Message-Authenticator and answers by password.
type testServer struct {
	addr     string
	requests atomic.Int64
	badMA    atomic.Int64
}

// startTestServer listens on 127.0.0.1:0. answer picks the reply code from
// the decoded user and password; secret signs the reply (a different one
// than the client's makes every reply bad). drop makes it never answer.
func startTestServer(t *testing.T, secret string, drop bool, answer func(user, pw string) radius.Code) *testServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: conn.LocalAddr().String()}
	handler := radius.HandlerFunc(func(w radius.ResponseWriter, r *radius.Request) {
		ts.requests.Add(1)
		got, err := rfc2869.MessageAuthenticator_Lookup(r.Packet)
		if err != nil || !hmac.Equal(got, layehMA(t, r.Packet)) {
			ts.badMA.Add(1)
			return
		}
		if drop {
			return
		}
		code := answer(rfc2865.UserName_GetString(r.Packet), rfc2865.UserPassword_GetString(r.Packet))
		w.Write(layehSigned(t, r.Packet, code, secret))
	})
	srv := &radius.PacketServer{
		Handler:      handler,
		SecretSource: radius.StaticSecretSource([]byte(testSecret)),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(conn)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ts
}

// layehSigned is a response packet with a Message-Authenticator, for
// layeh's ResponseWriter (which sets the Response Authenticator).
func layehSigned(t *testing.T, req *radius.Packet, code radius.Code, secret string) *radius.Packet {
	resp := req.Response(code)
	resp.Secret = []byte(secret)
	resp.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
	resp.Set(rfc2869.MessageAuthenticator_Type, layehMA(t, resp))
	return resp
}

var threeUsers = []user{{"alice", "alice-pw"}, {"bob", "wrong"}, {"carol", "carol-pw"}}

func byUser(user, pw string) radius.Code {
	switch {
	case user == "alice" && pw == "alice-pw":
		return radius.CodeAccessAccept
	case user == "carol" && pw == "carol-pw":
		return radius.CodeAccessChallenge
	default:
		return radius.CodeAccessReject
	}
}

func testConfig(t *testing.T, addr string, users []user) loadConfig {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var tpls []*template
	for _, u := range users {
		tpl, err := newTemplate(u, true)
		if err != nil {
			t.Fatal(err)
		}
		tpls = append(tpls, tpl)
	}
	return loadConfig{
		Server:      ua,
		Secret:      []byte(testSecret),
		Templates:   tpls,
		Concurrency: 3,
		Warmup:      50 * time.Millisecond,
		Duration:    300 * time.Millisecond,
		Timeout:     time.Second,
		RequireMA:   true,
	}
}

func TestLoadAgainstLayehServer(t *testing.T) {
	ts := startTestServer(t, testSecret, false, byUser)
	cfg := testConfig(t, ts.addr, threeUsers)
	res, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 {
		t.Fatal("no requests measured")
	}
	if got := res.Accepts + res.Rejects + res.Challenges; got != res.Requests {
		t.Errorf("answers %d, want all %d requests (timeouts %d, bad %d %v, errors %d)",
			got, res.Requests, res.Timeouts, res.Bad, res.BadReasons, res.Errors)
	}
	if res.Accepts == 0 || res.Rejects == 0 || res.Challenges == 0 {
		t.Errorf("got accept %d reject %d challenge %d, want each user's answer", res.Accepts, res.Rejects, res.Challenges)
	}
	if n := ts.badMA.Load(); n != 0 {
		t.Errorf("server saw %d requests with a bad Message-Authenticator", n)
	}
	if res.latency.n != res.Requests || res.latency.quantile(0.5) <= 0 {
		t.Errorf("latency histogram has %d samples (p50 %v), want %d", res.latency.n, res.latency.quantile(0.5), res.Requests)
	}
	// The phase ends on time: elapsed is the configured duration.
	if res.Elapsed != cfg.Duration {
		t.Errorf("elapsed %v, want about %v", res.Elapsed, cfg.Duration)
	}
}

func TestLoadRequestBudget(t *testing.T) {
	ts := startTestServer(t, testSecret, false, byUser)
	cfg := testConfig(t, ts.addr, threeUsers)
	cfg.Requests = 90
	cfg.Duration = 10 * time.Second
	cfg.Warmup = 0
	res, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 90 {
		t.Errorf("got %d requests, want 90", res.Requests)
	}
	if got := res.Accepts + res.Rejects + res.Challenges; got != 90 {
		t.Errorf("got %d answers, want 90", got)
	}
	if got := ts.requests.Load(); got != 90 {
		t.Errorf("server got %d requests, want 90", got)
	}
}

func TestLoadFailures(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, r loadResult)
		setup func(t *testing.T) string
		retry int
	}{
		{
			name:  "server signs with another secret",
			setup: func(t *testing.T) string { return startTestServer(t, "not-the-same-secret", false, byUser).addr },
			check: func(t *testing.T, r loadResult) {
				// A busy machine may turn a few into timeouts, never into answers.
				if r.Bad == 0 || r.Accepts+r.Rejects+r.Challenges != 0 || r.BadReasons[errRespAuth.Error()] != r.Bad {
					t.Errorf("got %d bad of %d (%v), want all with %q", r.Bad, r.Requests, r.BadReasons, errRespAuth)
				}
			},
		},
		{
			name:  "server never answers",
			setup: func(t *testing.T) string { return startTestServer(t, testSecret, true, byUser).addr },
			retry: 1,
			check: func(t *testing.T, r loadResult) {
				if r.Timeouts == 0 || r.Timeouts != r.Requests {
					t.Errorf("got %d timeouts of %d requests, want all", r.Timeouts, r.Requests)
				}
				if r.Retransmits != r.Timeouts {
					t.Errorf("got %d retransmits, want one per timeout (%d)", r.Retransmits, r.Timeouts)
				}
			},
		},
		{
			name: "nothing listens",
			setup: func(t *testing.T) string {
				c, err := net.ListenPacket("udp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := c.LocalAddr().String()
				c.Close()
				return addr
			},
			check: func(t *testing.T, r loadResult) {
				if r.Errors == 0 || r.Accepts+r.Rejects+r.Challenges != 0 {
					t.Errorf("got %d socket errors and %d answers, want errors only", r.Errors, r.Accepts+r.Rejects+r.Challenges)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.setup(t), threeUsers)
			cfg.Timeout = 100 * time.Millisecond
			cfg.Duration = time.Second
			cfg.Retries = tt.retry
			start := time.Now()
			res, err := runLoad(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// It stops by itself: the slack is for a busy test machine.
			if took, limit := time.Since(start), cfg.Warmup+cfg.Duration+time.Second; took > limit {
				t.Errorf("run took %v, want at most %v", took, limit)
			}
			tt.check(t, res)
		})
	}
}

func TestLoadStopsOnCancel(t *testing.T) {
	ts := startTestServer(t, testSecret, true, byUser)
	cfg := testConfig(t, ts.addr, threeUsers)
	cfg.Duration = time.Minute
	cfg.Timeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := runLoad(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run took %v after cancel, want it to stop at once", took)
	}
	if !res.Interrupted {
		t.Error("Interrupted is false, want true")
	}
}

func writeUsers(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunEndToEnd(t *testing.T) {
	ts := startTestServer(t, testSecret, false, byUser)
	users := writeUsers(t, "# bench users\nalice:alice-pw\r\n\ncarol:carol-pw\n")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, out string)
	}{
		{
			name: "text",
			args: []string{"-users", users, "-label", "layeh"},
			check: func(t *testing.T, out string) {
				for _, want := range []string{"(layeh)", "requests/s", "users 2", "p99", "concurrency 2", "40 requests"} {
					if !strings.Contains(out, want) {
						t.Errorf("output lacks %q:\n%s", want, out)
					}
				}
				if strings.Contains(out, "alice-pw") || strings.Contains(out, testSecret) {
					t.Errorf("output shows a password or the secret:\n%s", out)
				}
			},
		},
		{
			name: "json",
			args: []string{"-user", "alice", "-password", "alice-pw", "-json", "-expect", "accept"},
			check: func(t *testing.T, out string) {
				var r report
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if r.Results.Requests == 0 || r.Results.Accepts != r.Results.Requests || r.Results.RequestsPerSec <= 0 {
					t.Errorf("got %+v, want only accepts", r.Results)
				}
				if r.Settings.Users != 1 || !r.Settings.MessageAuthenticator {
					t.Errorf("settings %+v", r.Settings)
				}
			},
		},
		{
			// One worker walks through both users: carol is challenged.
			name:    "expect accept but some are challenged",
			args:    []string{"-users", users, "-expect", "accept", "-concurrency", "1"},
			wantErr: "-expect accept",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-server", ts.addr, "-secret", testSecret, "-concurrency", "2",
				"-warmup", "0s", "-requests", "40", "-duration", "20s"}, tt.args...)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), args, &stdout, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v (stderr %s)", err, stderr.String())
			}
			tt.check(t, stdout.String())
		})
	}
}

func TestRunServeResponder(t *testing.T) {
	// Find a free port, then let the responder take it.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	serveErr := make(chan error, 1)
	var serveOut syncBuffer
	go func() {
		serveErr <- run(ctx, []string{"serve", "-listen", addr, "-secret", testSecret, "-for", "10s"}, &serveOut, &bytes.Buffer{})
	}()
	for !strings.Contains(serveOut.String(), "listening on") {
		select {
		case err := <-serveErr:
			t.Fatalf("serve: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}

	var stdout bytes.Buffer
	args := []string{"-server", addr, "-secret", testSecret, "-user", "x", "-password", "y",
		"-warmup", "0s", "-requests", "40", "-duration", "20s", "-expect", "accept", "-json"}
	if err := run(t.Context(), args, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatalf("load against the responder: %v\n%s", err, stdout.String())
	}
	cancel()
	if err := <-serveErr; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(serveOut.String(), "listening on "+addr) {
		t.Errorf("serve printed %q, want the address", serveOut.String())
	}
}

func TestFlagErrors(t *testing.T) {
	users := writeUsers(t, "alice:pw\n")
	badUsers := writeUsers(t, "alice:pw\nno-colon-here-secretpw\n")
	tests := []struct {
		name string
		args []string
		want []string // all in the one error
	}{
		{"remote target refused", []string{"-server", "192.0.2.1:1812", "-secret", "s", "-users", users}, []string{"not a loopback address", "-allow-remote"}},
		{"every problem at once", []string{"-secret", "", "-concurrency", "0", "-timeout", "0s", "-retries", "11", "-expect", "maybe"},
			[]string{"-secret is required", "-concurrency 0", "-timeout 0s", "-retries 11", "-expect \"maybe\"", "-users FILE"}},
		{"users and user", []string{"-secret", "s", "-users", users, "-user", "bob"}, []string{"exclusive"}},
		{"bad users line", []string{"-secret", "s", "-users", badUsers}, []string{":2: want user:password"}},
		{"missing users file", []string{"-secret", "s", "-users", filepath.Join(t.TempDir(), "none")}, []string{"no such file"}},
		{"too long", []string{"-secret", "s", "-users", users, "-duration", "2h"}, []string{"-duration 2h0m0s"}},
		{"stray argument", []string{"-secret", "s", "extra"}, []string{"unexpected arguments"}},
		{"serve on a public address", []string{"serve", "-secret", "s", "-listen", "0.0.0.0:0"}, []string{"loopback only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("got no error")
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code got %d, want 2", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q shows a users file line", err)
			}
		})
	}
}

func TestRequestsAloneGetsLongCap(t *testing.T) {
	o, err := parseFlags([]string{"-secret", "s", "-user", "u", "-requests", "5"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := o.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Duration != requestsCapDefault {
		t.Errorf("duration got %v, want %v", cfg.Duration, requestsCapDefault)
	}
}

// TestHelpExitsZero: -h prints the help of the generator and of every
// helper, and is no failure.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"-h"}, {"--help"}, {"serve", "-h"}, {"users", "-h"}, {"compare", "-h"}, {"ldap", "-h"},
		{"enroll", "-h"}, {"etcd", "-h"}, {"push", "-h"}, {"portal", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), args, &stdout, &stderr)
			if code := exitCode(err); err == nil || code != 0 {
				t.Errorf("got %v, exit code %d; want flag.ErrHelp, exit code 0", err, code)
			}
			if help := stderr.String(); !strings.Contains(help, "Usage") || !strings.Contains(help, "twostep-bench") {
				t.Errorf("no usage printed:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}
