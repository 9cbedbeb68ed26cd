package radiusd

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc3162"

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
			return challenge.Decision{Outcome: challenge.Ask, Reason: "need_passcode", Message: "Passcode:", State: []byte("st")}, nil
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
	login := challenge.ClientLogin{Mode: challenge.ModeAppend, Separator: "::", FailMode: challenge.Safe}
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

// TestRequestLogFields: the request's line names the user by the
// directory's canonical name, with what was typed beside it when it
// differs, and carries NAS-Identifier, NAS-IP-Address (or
// NAS-IPv6-Address) and Calling-Station-Id when the NAS sent them.
func TestRequestLogFields(t *testing.T) {
	// The fake directory knows alice, whatever case, spaces or width.
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		switch req.User {
		case "alice", "ALICE", "alice ", "ａｌｉｃｅ":
			return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, User: "alice"}, nil
		}
		return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonUnknownUser}, nil
	})
	nasAttrs := func(p *radius.Packet) {
		rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
		rfc2865.NASIPAddress_Set(p, net.IPv4(192, 0, 2, 10))
		rfc2865.CallingStationID_SetString(p, "198.51.100.23")
	}
	tests := []struct {
		name  string
		typed string
		edit  func(p *radius.Packet)
		want  map[string]string // "": the field must be absent
	}{
		{"canonical as typed, NAS attributes", "alice", nasAttrs, map[string]string{
			"user": "alice", "typed_user": "", "nas_identifier": "vpn-gw-1", "nas_ip_address": "192.0.2.10", "calling_station_id": "198.51.100.23",
		}},
		{"upper case", "ALICE", nil, map[string]string{
			"user": "alice", "typed_user": "ALICE", "nas_identifier": "", "nas_ip_address": "", "calling_station_id": "",
		}},
		{"trailing space", "alice ", nil, map[string]string{"user": "alice", "typed_user": "alice "}},
		{"fullwidth", "ａｌｉｃｅ", nil, map[string]string{"user": "alice", "typed_user": "ａｌｉｃｅ"}},
		{"unknown user: as typed", "Nobody", nil, map[string]string{"user": "Nobody", "typed_user": ""}},
		{"NAS-IPv6-Address", "alice", func(p *radius.Packet) {
			rfc3162.NASIPv6Address_Set(p, net.ParseIP("2001:db8::10"))
		}, map[string]string{"nas_ip_address": "2001:db8::10"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, auth, nil)
			h.exchange(request(t, testSecret, tt.typed, testPassword, tt.edit), testSecret)
			logs := h.waitLog(`"message":"radius request"`, 1)
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs)), &line); err != nil {
				t.Fatalf("log %q: %v", logs, err)
			}
			for field, want := range tt.want {
				got, present := line[field]
				switch {
				case want == "" && present:
					t.Errorf("%s: got %q, want no such field", field, got)
				case want != "" && got != want:
					t.Errorf("%s: got %v, want %q", field, got, want)
				}
			}
		})
	}
}

// TestNASGaveUp: an answer that leaves longer than the client's
// nas_timeout after the latest copy of its request (the NAS retransmits
// less, or waits less, than the client entry says) is logged at warn
// level with nas_gave_up and the client's configured wait, and counted.
// A retransmission shows that the NAS still waits.
func TestNASGaveUp(t *testing.T) {
	tests := []struct {
		name       string
		retransmit time.Duration // when a copy of the request arrives; 0: none
		decided    time.Duration // when the decision is taken
		wantLate   time.Duration // 0: the NAS still waited
	}{
		{"answered within nas_timeout", 0, 4 * time.Second, 0},
		{"one try, answered after it", 0, 8 * time.Second, 8 * time.Second},
		{"retransmitted, answered within its wait", 3 * time.Second, 7 * time.Second, 0},
		{"retransmitted, answered after its wait", 3 * time.Second, 9 * time.Second, 6 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			proceed := make(chan struct{})
			auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
				<-proceed
				return challenge.Decision{Outcome: challenge.Accept, Reason: "push_approved", User: "alice"}, nil
			})
			h := newHarness(t, auth, func(o *Options) {
				o.Now = clock.Now
				ct, err := NewClientTable([]Client{{
					Name: "pam", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Secret: testSecret,
					Login: challenge.ClientLogin{NASTimeout: 5 * time.Second, NASRetries: 2},
				}})
				if err != nil {
					t.Fatal(err)
				}
				o.Clients = ct
			})
			c := h.dial()
			req := request(t, testSecret, "alice", testPassword, nil)
			h.send(c, req)
			auth.waitCalls(t, 1)
			if tt.retransmit > 0 {
				clock.Advance(tt.retransmit)
				h.send(c, req)
				h.waitMetric(h.metrics.duplicates.WithLabelValues(dupDroppedInFlight), 1)
			}
			clock.Advance(start.Add(tt.decided).Sub(clock.Now()))
			close(proceed)
			if resp := h.answer(c, req, testSecret); resp.Code != radius.CodeAccessAccept {
				t.Fatalf("got %v, want the Access-Accept all the same", resp.Code)
			}
			logs := h.waitLog(`"message":"radius request"`, 1)
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs)), &line); err != nil {
				t.Fatalf("log %q: %v", logs, err)
			}
			got := testutil.ToFloat64(h.metrics.nasGaveUp.WithLabelValues("pam"))
			if tt.wantLate == 0 {
				if _, ok := line["nas_gave_up"]; ok || got != 0 || line["level"] != "info" {
					t.Errorf("got nas_gave_up %v, level %v, metric %v; want none at info", line["nas_gave_up"], line["level"], got)
				}
				return
			}
			want := map[string]any{
				"level": "warn", "nas_gave_up": true, "nas_timeout": "5s", "nas_retries": float64(2),
				"since_last_copy_ms": float64(tt.wantLate.Milliseconds()), "decision": "accept", "reason": "push_approved",
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s: got %v, want %v", k, line[k], v)
				}
			}
			if got != 1 {
				t.Errorf("twostep_radius_nas_gave_up_total{client=pam}: got %v, want 1", got)
			}
		})
	}
}

// TestRejectHoldIsNoNASGaveUp: a Reject held back by reject_delay as long
// as the NAS's timeout is not "the NAS gave up": the hold is ours, and
// copies that come meanwhile get the held answer.
func TestRejectHoldIsNoNASGaveUp(t *testing.T) {
	clock := newFakeClock()
	held := make(chan func(), 1)
	h := newHarness(t, newFakeAuth(acceptAlice), func(o *Options) {
		o.Now = clock.Now
		o.RejectDelay = 5 * time.Second
		o.afterFunc = func(_ time.Duration, f func()) { held <- f }
		ct, err := NewClientTable([]Client{{
			Name: "pam", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Secret: testSecret,
			Login: challenge.ClientLogin{NASTimeout: 4 * time.Second, NASRetries: 2},
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Clients = ct
	})
	c := h.dial()
	h.send(c, request(t, testSecret, "alice", "wrong", nil))
	release := <-held
	clock.Advance(5 * time.Second)
	release()
	h.waitLog(`"message":"radius request"`, 1)
	if got := testutil.ToFloat64(h.metrics.nasGaveUp.WithLabelValues("pam")); got != 0 || strings.Contains(h.logs.String(), "nas_gave_up") {
		t.Errorf("a held Reject counted as the NAS giving up (%v):\n%s", got, h.logs.String())
	}
}
