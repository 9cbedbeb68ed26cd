package radiusd

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
)

// TestLogsHaveNoSecrets runs accept, reject, challenge, failure, CHAP and
// a wrong secret through a debug-level logger and looks for the password,
// the passcode and the secret in every line.
func TestLogsHaveNoSecrets(t *testing.T) {
	const passcode = "918273"
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		switch {
		case req.User == "alice" && req.Password == testPassword:
			return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK}, nil
		case req.User == "carol" && req.State == nil:
			return challenge.Decision{Outcome: challenge.Challenge, Reason: "need_passcode", Message: "Passcode:", State: []byte("st")}, nil
		case req.User == "carol":
			return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK}, nil
		case req.User == "dave":
			return challenge.Decision{}, errors.New("directory: timeout")
		}
		return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword}, nil
	})
	h := newHarness(t, auth, nil)
	h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	h.exchange(request(t, testSecret, "bob", testPassword, nil), testSecret)
	h.exchange(request(t, testSecret, "carol", testPassword, nil), testSecret)
	h.exchange(request(t, testSecret, "carol", passcode, func(p *radius.Packet) { rfc2865.State_Set(p, []byte("st")) }), testSecret)
	h.exchange(request(t, testSecret, "dave", testPassword, nil), testSecret)
	h.exchange(request(t, testSecret, "erin", testPassword, func(p *radius.Packet) { rfc2865.CHAPPassword_Set(p, make([]byte, 17)) }), testSecret)
	h.expectDrop(request(t, []byte("wrong-secret"), "alice", testPassword, nil), causeBadMA)

	logs := h.waitLog(`"message":"radius request"`, 6)
	for _, secret := range []string{testPassword, passcode, string(testSecret), hex.EncodeToString(testSecret)} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
	var lines int
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if line["message"] != "radius request" {
			continue
		}
		lines++
		for _, field := range []string{"id", "client", "nas", "user", "decision", "reason", "latency_ms"} {
			if _, ok := line[field]; !ok {
				t.Errorf("log line %s has no %s", sc.Text(), field)
			}
		}
	}
	if lines != 6 {
		t.Errorf("got %d request lines, want 6:\n%s", lines, logs)
	}
}

// TestCorrelationIDReachesAuthenticator: the id in the request's log line
// is the one the Authenticator was given, so their lines can be joined.
func TestCorrelationIDReachesAuthenticator(t *testing.T) {
	auth := newFakeAuth(acceptAlice)
	h := newHarness(t, auth, nil)
	h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	id := auth.last().ID
	if len(id) != 12 {
		t.Fatalf("Authenticator got id %q, want 12 hex digits", id)
	}
	h.waitLog(`"id":"`+id+`"`, 1)
}

// TestLoginSettingsAndAbsorbedErrors: the client's second-factor settings
// reach the Authenticator, and a failure a Decision absorbed (a fail mode
// answering for a store that is down) is logged with the device-less line.
func TestLoginSettingsAndAbsorbedErrors(t *testing.T) {
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		return challenge.Decision{Outcome: challenge.Accept, Reason: "failmode_safe", Err: errors.New("store unreachable")}, nil
	})
	login := challenge.ClientLogin{Mode: challenge.Append, Separator: "::", FailMode: challenge.Safe}
	h := newHarness(t, auth, func(o *Options) {
		ct, err := NewClientTable([]Client{{
			Name: "nas1", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Secret: testSecret, Login: login,
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Clients = ct
	})
	h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	if got := auth.last().Login; got != login {
		t.Errorf("Authenticator got login settings %+v, want %+v", got, login)
	}
	h.waitLog(`"level":"warn","error":"store unreachable"`, 1)
}
