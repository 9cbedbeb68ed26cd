package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"twostep/challenge/otp"
)

// totpServer is a fake second-factor RADIUS server on layeh, independent
// of the generator's packet code: a password alone is answered with an
// Access-Challenge whose State the answer must carry, "password,CODE" is
// checked at once, and a code is accepted once per device and step, as
// twostepd does. Replays are counted: the generator must send none.
type totpServer struct {
	addr string

	mu        sync.Mutex
	passwords map[string]string
	devices   map[string][]otp.TOTP
	last      map[string][]int64 // per user and device: the last step accepted
	pending   map[string]string  // State -> user
	noState   bool               // answer challenges without State
	replays   int
	wrong     int
	accepted  int
	requests  int
}

func startTOTPServer(t *testing.T, users []user, devs [][]otp.TOTP) *totpServer {
	t.Helper()
	ts := &totpServer{
		passwords: map[string]string{}, devices: map[string][]otp.TOTP{},
		last: map[string][]int64{}, pending: map[string]string{},
	}
	for i, u := range users {
		ts.passwords[u.Name] = u.Password
		ts.devices[u.Name] = devs[i]
		ts.last[u.Name] = make([]int64, len(devs[i]))
		for d := range ts.last[u.Name] {
			ts.last[u.Name][d] = -1
		}
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = conn.LocalAddr().String()
	srv := &radius.PacketServer{
		Handler: radius.HandlerFunc(func(w radius.ResponseWriter, r *radius.Request) {
			code, state := ts.decide(r.Packet)
			resp := r.Response(code)
			if state != nil {
				rfc2865.State_Set(resp, state)
			}
			resp.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
			resp.Set(rfc2869.MessageAuthenticator_Type, layehMA(t, resp))
			w.Write(resp)
		}),
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

// decide picks the answer, and the State of an Access-Challenge.
func (ts *totpServer) decide(p *radius.Packet) (radius.Code, []byte) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.requests++
	name := rfc2865.UserName_GetString(p)
	pw := rfc2865.UserPassword_GetString(p)
	if state := rfc2865.State_Get(p); state != nil {
		u, ok := ts.pending[string(state)]
		delete(ts.pending, string(state))
		if !ok || u != name {
			return radius.CodeAccessReject, nil
		}
		return ts.check(name, pw), nil
	}
	want, ok := ts.passwords[name]
	if !ok {
		return radius.CodeAccessReject, nil
	}
	if i := strings.LastIndex(pw, ","); i >= 0 && pw[:i] == want {
		return ts.check(name, pw[i+1:]), nil
	}
	if pw != want {
		return radius.CodeAccessReject, nil
	}
	if ts.noState {
		return radius.CodeAccessChallenge, nil
	}
	state := make([]byte, 16)
	rand.Read(state)
	ts.pending[string(state)] = name
	return radius.CodeAccessChallenge, state
}

// check accepts code for one of name's devices whose last step is older.
func (ts *totpServer) check(name, code string) radius.Code {
	now := time.Now()
	for d, dev := range ts.devices[name] {
		if step, ok := dev.Check(code, now, ts.last[name][d], otp.DefaultWindow()); ok {
			ts.last[name][d] = step
			ts.accepted++
			return radius.CodeAccessAccept
		}
		if _, ok := dev.Check(code, now, -1, otp.DefaultWindow()); ok {
			ts.replays++
			return radius.CodeAccessReject
		}
	}
	ts.wrong++
	return radius.CodeAccessReject
}

func (ts *totpServer) counts() (requests, accepted, replays, wrong int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests, ts.accepted, ts.replays, ts.wrong
}

// totpConfig is a load of users with devs, logging in as kind.
func totpConfig(t *testing.T, addr string, users []user, devs [][]otp.TOTP, kind loginKind) loadConfig {
	t.Helper()
	cfg := testConfig(t, addr, users)
	prs, err := newPairs(devs)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Login, cfg.Pairs = kind, prs
	if kind == loginAppend {
		for i, u := range users {
			if cfg.Templates[i], err = newCodeTemplate(u, ",", prs.digits(), true); err != nil {
				t.Fatal(err)
			}
		}
	}
	return cfg
}

var totpUsers = []user{{"alice", "alice-pw"}, {"bob", "bob-pw"}, {"carol", "carol-pw"}, {"dave", "dave-pw"}}

func TestPasscodeLogins(t *testing.T) {
	for _, kind := range []loginKind{loginAppend, loginChallenge} {
		t.Run(kind.String(), func(t *testing.T) {
			// Enough pairs that none runs out in the run: 4 users x 50.
			devs := testDevices(len(totpUsers), 50)
			ts := startTOTPServer(t, totpUsers, devs)
			cfg := totpConfig(t, ts.addr, totpUsers, devs, kind)
			cfg.Warmup = 0
			cfg.Requests = 60
			cfg.Duration = 20 * time.Second
			res, err := runLoad(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Logins != 60 || res.Accepts != 60 {
				t.Fatalf("got %d logins, %d accepted (rejects %d, challenges %d, timeouts %d, bad %d %v), want 60 accepted",
					res.Logins, res.Accepts, res.Rejects, res.Challenges, res.Timeouts, res.Bad, res.BadReasons)
			}
			perLogin := uint64(1)
			if kind == loginChallenge {
				perLogin = 2
			}
			if res.Requests != perLogin*res.Logins {
				t.Errorf("got %d requests for %d logins, want %d each", res.Requests, res.Logins, perLogin)
			}
			if res.latency.n != res.Logins {
				t.Errorf("latency has %d samples, want one per login (%d)", res.latency.n, res.Logins)
			}
			requests, accepted, replays, wrong := ts.counts()
			if replays != 0 || wrong != 0 {
				t.Errorf("server saw %d replays and %d wrong codes, want none", replays, wrong)
			}
			if uint64(accepted) != res.Accepts || uint64(requests) != res.Requests {
				t.Errorf("server accepted %d of %d requests, generator counted %d of %d", accepted, requests, res.Accepts, res.Requests)
			}
			if res.PairWait != 0 {
				t.Errorf("workers waited %v with pairs to spare", res.PairWait)
			}
		})
	}
}

func TestPasscodePairsRunOut(t *testing.T) {
	// One user with one device: one login per 30 s step. The rest of the
	// run is waited out and reported, never sent as a replay; a wait that
	// began in the warm-up counts from the measured phase on.
	for _, warmup := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(fmt.Sprintf("warm-up %v", warmup), func(t *testing.T) {
			users, devs := totpUsers[:1], testDevices(1, 1)
			ts := startTOTPServer(t, users, devs)
			cfg := totpConfig(t, ts.addr, users, devs, loginAppend)
			cfg.Warmup = warmup
			res, err := runLoad(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, accepted, replays, _ := ts.counts()
			if replays != 0 {
				t.Errorf("server saw %d replays, want none", replays)
			}
			// Two at most: the run may straddle a step boundary.
			if accepted < 1 || accepted > 2 || res.Accepts > uint64(accepted) {
				t.Errorf("got %d accepted (generator measured %d), want 1 or 2", accepted, res.Accepts)
			}
			if res.PairWait <= 0 {
				t.Error("no wait reported although the pairs ran out")
			}
			rep := newReport(settings{Concurrency: cfg.Concurrency}, res)
			var out strings.Builder
			if err := rep.writeText(&out); err != nil {
				t.Fatal(err)
			}
			if rep.Results.PairWait <= 0 || !strings.Contains(out.String(), "WARNING") {
				t.Errorf("report shows no pair wait:\n%s", out.String())
			}
		})
	}
}

func TestChallengeWithoutState(t *testing.T) {
	devs := testDevices(len(totpUsers), 5)
	ts := startTOTPServer(t, totpUsers, devs)
	ts.mu.Lock()
	ts.noState = true
	ts.mu.Unlock()
	cfg := totpConfig(t, ts.addr, totpUsers, devs, loginChallenge)
	cfg.Warmup = 0
	cfg.Requests = 10
	cfg.Duration = 20 * time.Second
	res, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 10 || res.BadReasons["Access-Challenge without State"] != 10 {
		t.Errorf("got %d bad %v, want 10 challenges without State", res.Bad, res.BadReasons)
	}
	if res.Requests != 10 {
		t.Errorf("got %d requests, want 10: no answer is sent without a State", res.Requests)
	}
}

func TestLoginKinds(t *testing.T) {
	for _, s := range []string{"pap", "append", "challenge"} {
		k, ok := parseLoginKind(s)
		if !ok || k.String() != s {
			t.Errorf("parseLoginKind(%q) = %v %v", s, k, ok)
		}
	}
	if _, ok := parseLoginKind("push"); ok {
		t.Error("parseLoginKind accepted push")
	}
}
