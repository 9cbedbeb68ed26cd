package radiusd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"twostep/challenge"
)

func TestDecisionMapping(t *testing.T) {
	long := strings.Repeat("0123456789", 60) // 600 bytes: three Reply-Messages
	tests := []struct {
		name      string
		decision  challenge.Decision
		wantCode  radius.Code
		wantMsgs  int
		wantState []byte
		wantLabel string
	}{
		{"accept", challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, Message: "Welcome"}, radius.CodeAccessAccept, 1, nil, "accept"},
		{"reject without message", challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword}, radius.CodeAccessReject, 0, nil, "reject"},
		{"reject with message", challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonDisabled, Message: "disabled"}, radius.CodeAccessReject, 1, nil, "reject"},
		{"challenge with state", challenge.Decision{Outcome: challenge.Ask, Reason: "need_passcode", Message: "Passcode:", State: []byte("st-123")}, radius.CodeAccessChallenge, 1, []byte("st-123"), "challenge"},
		{"state ignored unless challenge", challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, State: []byte("x")}, radius.CodeAccessAccept, 0, nil, "accept"},
		{"long message split", challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword, Message: long}, radius.CodeAccessReject, 3, nil, "reject"},
		{"unknown outcome is a reject", challenge.Decision{Outcome: 42, Reason: challenge.ReasonOK}, radius.CodeAccessReject, 0, nil, "reject"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auth := newFakeAuth(func(context.Context, *challenge.Request) (challenge.Decision, error) { return tt.decision, nil })
			h := newHarness(t, auth, nil)
			req := request(t, testSecret, "alice", testPassword, func(p *radius.Packet) {
				rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
				rfc2865.CallingStationID_SetString(p, "203.0.113.9")
			})
			resp := h.exchange(req, testSecret)
			if resp.Code != tt.wantCode {
				t.Errorf("got code %v, want %v", resp.Code, tt.wantCode)
			}
			var msgs int
			for _, a := range resp.Attributes {
				if a.Type == rfc2865.ReplyMessage_Type {
					msgs++
				}
			}
			if msgs != tt.wantMsgs {
				t.Errorf("got %d Reply-Message, want %d", msgs, tt.wantMsgs)
			}
			if got := replyMessage(resp); tt.wantCode == responseCode(tt.decision.Outcome) && got != tt.decision.Message {
				t.Errorf("got Reply-Message %q, want %q", got, tt.decision.Message)
			}
			if got := resp.Get(rfc2865.State_Type); !bytes.Equal(got, tt.wantState) {
				t.Errorf("got State %q, want %q", got, tt.wantState)
			}
			got := auth.last()
			if got.User != "alice" || got.Password != testPassword || got.Client != "nas1" ||
				got.NASIdentifier != "vpn-gw-1" || got.CallingStationID != "203.0.113.9" ||
				got.Source.Addr() != netip.MustParseAddr("127.0.0.1") || got.Source.Port() == 0 || got.State != nil {
				t.Errorf("got request %+v", got)
			}
			reason := reasonLabel(tt.decision.Reason)
			h.waitMetric(h.metrics.requests.WithLabelValues("nas1", tt.wantLabel, reason), 1)
		})
	}
}

func TestStateReachesAuthenticator(t *testing.T) {
	h := newHarness(t, nil, nil)
	req := request(t, testSecret, "alice", "123456", func(p *radius.Packet) {
		rfc2865.State_Set(p, []byte("state-from-challenge"))
	})
	h.exchange(req, testSecret)
	if got := h.auth.last(); string(got.State) != "state-from-challenge" || got.Password != "123456" {
		t.Errorf("got State %q password %q", got.State, got.Password)
	}
}

// TestEmptyAnswerToChallenge: the empty answer to an Access-Challenge
// ("approve on your phone, then press Enter") reaches the Authenticator as
// an empty password with its State, whether the NAS hides it as 16 NULs
// (FreeRADIUS, pam_radius) or sends a User-Password of length 0 (radcli
// before 1.5, so ocserv). Without State a zero-length one is malformed.
func TestEmptyAnswerToChallenge(t *testing.T) {
	zeroLength := func(p *radius.Packet) {
		p.Del(rfc2865.UserPassword_Type)
		p.Add(rfc2865.UserPassword_Type, radius.Attribute{})
	}
	withState := func(p *radius.Packet) { rfc2865.State_Set(p, []byte("waiting-login")) }
	tests := []struct {
		name  string
		edit  func(p *radius.Packet)
		cause string // "" means it reaches the Authenticator
	}{
		{"zero-length with State", func(p *radius.Packet) { zeroLength(p); withState(p) }, ""},
		{"16 NULs with State", withState, ""},
		{"zero-length without State", zeroLength, causeBadPassword},
		{"zero-length twice with State", func(p *radius.Packet) {
			zeroLength(p)
			p.Add(rfc2865.UserPassword_Type, radius.Attribute{})
			withState(p)
		}, causeBadPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			req := request(t, testSecret, "alice", "", tt.edit)
			if tt.cause != "" {
				h.expectDrop(req, tt.cause)
				if n := h.auth.count(); n != 0 {
					t.Errorf("got %d Authenticator calls, want 0", n)
				}
				return
			}
			if resp := h.exchange(req, testSecret); resp.Code != radius.CodeAccessReject {
				t.Errorf("got code %v, want the fake's Access-Reject", resp.Code)
			}
			if got := h.auth.last(); got.Password != "" || string(got.State) != "waiting-login" {
				t.Errorf("got password %q State %q, want an empty password with State %q", got.Password, got.State, "waiting-login")
			}
			h.waitLog(`"method":"pap"`, 1)
		})
	}
}

func TestDisplayNameReachesAuthenticator(t *testing.T) {
	h := newHarness(t, nil, func(o *Options) {
		ct, err := NewClientTable([]Client{{Name: "nas1", DisplayName: "Staff VPN",
			Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Secret: testSecret}})
		if err != nil {
			t.Fatal(err)
		}
		o.Clients = ct
	})
	h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	if got := h.auth.last(); got.Client != "nas1" || got.Service != "Staff VPN" {
		t.Errorf("got client %q service %q, want nas1 (for logs) and Staff VPN (for the device)", got.Client, got.Service)
	}
}

func TestAuthenticatorFailure(t *testing.T) {
	tests := []struct {
		name string
		fn   func(context.Context, *challenge.Request) (challenge.Decision, error)
	}{
		{"error", func(context.Context, *challenge.Request) (challenge.Decision, error) {
			return challenge.Decision{}, errors.New("ldap: connection refused")
		}},
		{"error with an accept beside it", func(context.Context, *challenge.Request) (challenge.Decision, error) {
			return challenge.Decision{Outcome: challenge.Accept}, errors.New("ldap: connection refused")
		}},
		{"panic", func(context.Context, *challenge.Request) (challenge.Decision, error) {
			panic("boom")
		}},
		{"state too long to encode", func(context.Context, *challenge.Request) (challenge.Decision, error) {
			return challenge.Decision{Outcome: challenge.Ask, State: make([]byte, 300)}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newFakeAuth(tt.fn), nil)
			req := request(t, testSecret, "alice", testPassword, nil)
			resp := h.exchange(req, testSecret)
			if resp.Code != radius.CodeAccessReject {
				t.Errorf("got code %v, want Access-Reject", resp.Code)
			}
			if got := replyMessage(resp); got != msgUnavailable {
				t.Errorf("got Reply-Message %q, want %q", got, msgUnavailable)
			}
			h.waitMetric(h.metrics.requests.WithLabelValues("nas1", "reject", "error"), 1)
			h.waitLog(`"level":"error"`, 1)
		})
	}
}

func TestDecideDeadline(t *testing.T) {
	deadlines := make(chan time.Time, 1)
	auth := newFakeAuth(func(ctx context.Context, _ *challenge.Request) (challenge.Decision, error) {
		d, _ := ctx.Deadline()
		deadlines <- d
		return challenge.Decision{}, nil
	})
	h := newHarness(t, auth, nil)
	h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	if left := time.Until(<-deadlines); left <= 0 || left > decideTimeout {
		t.Errorf("got deadline in %v, want within %v", left, decideTimeout)
	}
}

func TestUnknownClient(t *testing.T) {
	other, err := NewClientTable([]Client{{Name: "far", Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Secret: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil, func(o *Options) { o.Clients = other })
	h.expectDrop(request(t, testSecret, "alice", testPassword, nil), causeUnknownClient)
	if n := h.auth.count(); n != 0 {
		t.Errorf("got %d Authenticator calls, want 0", n)
	}
}

func TestMessageAuthenticator(t *testing.T) {
	signed := func(t *testing.T) []byte { return request(t, testSecret, "alice", testPassword, nil) }
	tests := []struct {
		name    string
		require bool
		build   func(t *testing.T) []byte
		cause   string // "" means answered
	}{
		{"valid, required", true, signed, ""},
		{"valid, optional", false, signed, ""},
		{"missing, required", true, func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			return unsigned(t, p)
		}, causeMissingMA},
		{"missing, optional", false, func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			return unsigned(t, p)
		}, ""},
		{"tampered, optional", false, func(t *testing.T) []byte {
			b := signed(t)
			b[len(b)-1] ^= 1 // the last byte of User-Password
			return b
		}, causeBadMA},
		{"wrong secret, required", true, func(t *testing.T) []byte {
			return request(t, []byte("not-the-secret"), "alice", testPassword, nil)
		}, causeBadMA},
		{"wrong secret, optional", false, func(t *testing.T) []byte {
			return request(t, []byte("not-the-secret"), "alice", testPassword, nil)
		}, causeBadMA},
		{"short, optional", false, func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 10))
			return unsigned(t, p)
		}, causeBadMA},
		{"twice, optional", false, func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
			p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
			return unsigned(t, p)
		}, causeBadMA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, func(o *Options) { o.Clients = testClients(t, tt.require) })
			req := tt.build(t)
			if tt.cause != "" {
				h.expectDrop(req, tt.cause)
				if n := h.auth.count(); n != 0 {
					t.Errorf("got %d Authenticator calls, want 0", n)
				}
				return
			}
			if resp := h.exchange(req, testSecret); resp.Code != radius.CodeAccessAccept {
				t.Errorf("got code %v, want Access-Accept", resp.Code)
			}
		})
	}
}

func TestProxyStateEcho(t *testing.T) {
	states := []string{"first", "second-proxy", "3"}
	withProxyState := func(p *radius.Packet) {
		for i, s := range states {
			p.Add(rfc2865.ProxyState_Type, radius.Attribute(s))
			if i == 0 {
				rfc2865.NASIdentifier_SetString(p, "between") // interleaved on purpose
			}
		}
	}
	tests := []struct {
		name  string
		build func(t *testing.T) []byte
	}{
		{"access-request", func(t *testing.T) []byte { return request(t, testSecret, "alice", testPassword, withProxyState) }},
		{"status-server", func(t *testing.T) []byte {
			p := radius.New(radius.CodeStatusServer, testSecret)
			withProxyState(p)
			b, err := SignRequest(p)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			resp := h.exchange(tt.build(t), testSecret)
			var got []string
			for _, a := range resp.Attributes {
				if a.Type == rfc2865.ProxyState_Type {
					got = append(got, string(a.Attribute))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(states) {
				t.Errorf("got Proxy-State %q, want %q", got, states)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	t.Run("retransmission answered from the cache", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		c := h.dial()
		req := request(t, testSecret, "alice", testPassword, nil)
		h.send(c, req)
		first := h.recv(c, 5*time.Second)
		h.send(c, req)
		second := h.recv(c, 5*time.Second)
		if first == nil || !bytes.Equal(first, second) {
			t.Fatalf("got answers %x and %x, want the same bytes twice", first, second)
		}
		if n := h.auth.count(); n != 1 {
			t.Errorf("got %d Authenticator calls, want 1", n)
		}
		h.waitMetric(h.metrics.duplicates.WithLabelValues(dupResent), 1)
	})
	t.Run("in flight dropped", func(t *testing.T) {
		release := make(chan struct{})
		auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
			<-release
			return acceptAlice(ctx, req)
		})
		h := newHarness(t, auth, nil)
		c := h.dial()
		req := request(t, testSecret, "alice", testPassword, nil)
		h.send(c, req)
		auth.waitCalls(t, 1)
		h.send(c, req)
		h.waitMetric(h.metrics.duplicates.WithLabelValues(dupDroppedInFlight), 1)
		close(release)
		h.answer(c, req, testSecret)
		if resp := h.recv(c, 50*time.Millisecond); resp != nil {
			t.Error("got a second answer")
		}
		if n := auth.count(); n != 1 {
			t.Errorf("got %d Authenticator calls, want 1", n)
		}
	})
	t.Run("new authenticator purges", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		c := h.dial()
		withID := func(p *radius.Packet) { p.Identifier = 7 }
		a := request(t, testSecret, "alice", testPassword, withID)
		b := request(t, testSecret, "alice", testPassword, withID)
		h.send(c, a)
		h.answer(c, a, testSecret)
		h.send(c, b)
		h.answer(c, b, testSecret)
		if n := h.auth.count(); n != 2 {
			t.Errorf("got %d Authenticator calls, want 2", n)
		}
		if n := h.srv.cache.len(); n != 1 {
			t.Errorf("got %d cache entries, want 1", n)
		}
	})
	t.Run("expires after DuplicateTTL", func(t *testing.T) {
		clock := newFakeClock()
		h := newHarness(t, nil, func(o *Options) { o.Now = clock.Now; o.DuplicateTTL = 5 * time.Second })
		c := h.dial()
		req := request(t, testSecret, "alice", testPassword, nil)
		h.send(c, req)
		h.answer(c, req, testSecret)
		clock.Advance(4 * time.Second)
		h.send(c, req)
		h.answer(c, req, testSecret)
		if n := h.auth.count(); n != 1 {
			t.Errorf("before expiry: got %d Authenticator calls, want 1", n)
		}
		clock.Advance(time.Second)
		h.send(c, req)
		h.answer(c, req, testSecret)
		if n := h.auth.count(); n != 2 {
			t.Errorf("after expiry: got %d Authenticator calls, want 2", n)
		}
	})
	t.Run("other source port is another request", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		req := request(t, testSecret, "alice", testPassword, nil)
		h.exchange(req, testSecret)
		h.exchange(req, testSecret)
		if n := h.auth.count(); n != 2 {
			t.Errorf("got %d Authenticator calls, want 2", n)
		}
	})
	t.Run("bad Message-Authenticator never touches the cache", func(t *testing.T) {
		h := newHarness(t, nil, func(o *Options) { o.Clients = testClients(t, false) })
		c := h.dial()
		withID := func(p *radius.Packet) { p.Identifier = 9 }
		req := request(t, testSecret, "alice", testPassword, withID)
		h.send(c, req)
		h.answer(c, req, testSecret)
		// Same slot, new authenticator, forged: must not purge the entry.
		forged := request(t, []byte("attacker"), "alice", "x", withID)
		h.send(c, forged)
		h.waitMetric(h.metrics.dropped.WithLabelValues(causeBadMA), 1)
		h.send(c, req)
		h.answer(c, req, testSecret)
		if n := h.auth.count(); n != 1 {
			t.Errorf("got %d Authenticator calls, want 1", n)
		}
		h.waitMetric(h.metrics.duplicates.WithLabelValues(dupResent), 1)
	})
}

func TestStatusServer(t *testing.T) {
	statusServer := func(t *testing.T, sign bool) []byte {
		p := radius.New(radius.CodeStatusServer, testSecret)
		if !sign {
			return unsigned(t, p)
		}
		b, err := SignRequest(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		ready   bool
		sign    bool
		require bool
		cause   string
	}{
		{"ready", true, true, true, ""},
		{"not ready", false, true, true, causeNotReady},
		{"unsigned, required", true, false, true, causeMissingMA},
		{"unsigned, optional", true, false, false, causeMissingMA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, func(o *Options) {
				o.Ready = func() bool { return tt.ready }
				o.Clients = testClients(t, tt.require)
			})
			req := statusServer(t, tt.sign)
			if tt.cause != "" {
				h.expectDrop(req, tt.cause)
			} else if resp := h.exchange(req, testSecret); resp.Code != radius.CodeAccessAccept {
				t.Errorf("got code %v, want Access-Accept", resp.Code)
			}
			if n := h.auth.count(); n != 0 {
				t.Errorf("got %d Authenticator calls, want 0", n)
			}
		})
	}
}

func TestUnsupportedMethods(t *testing.T) {
	msChallenge := make([]byte, 16)
	tests := []struct {
		name   string
		build  func(p *radius.Packet)
		method string
		msg    string
		reason string
	}{
		{"CHAP", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
			rfc2865.CHAPPassword_Set(p, make([]byte, 17))
			rfc2865.CHAPChallenge_Set(p, make([]byte, 16))
		}, "chap", "CHAP is not supported: configure this client for PAP.", "unsupported_auth"},
		{"MS-CHAPv1", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
			addMS(p, 11, msChallenge)
			addMS(p, 1, make([]byte, 50))
		}, "mschap", "MS-CHAP is not supported: configure this client for PAP.", "unsupported_auth"},
		{"MS-CHAPv2", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
			addMS(p, 11, msChallenge)
			addMS(p, 25, make([]byte, 50))
		}, "mschap", "MS-CHAP is not supported: configure this client for PAP.", "unsupported_auth"},
		{"EAP", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
			rfc2869.EAPMessage_Set(p, []byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'})
		}, "eap", "EAP is not supported: configure this client for PAP.", "unsupported_auth"},
		{"CHAP beside a User-Password", func(p *radius.Packet) {
			rfc2865.CHAPPassword_Set(p, make([]byte, 17))
		}, "chap", "CHAP is not supported: configure this client for PAP.", "unsupported_auth"},
		{"no credentials", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
		}, "none", msgNoPassword, "no_password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			resp := h.exchange(request(t, testSecret, "alice", testPassword, tt.build), testSecret)
			if resp.Code != radius.CodeAccessReject {
				t.Errorf("got code %v, want Access-Reject", resp.Code)
			}
			if got := replyMessage(resp); got != tt.msg {
				t.Errorf("got Reply-Message %q, want %q", got, tt.msg)
			}
			if n := h.auth.count(); n != 0 {
				t.Errorf("got %d Authenticator calls, want 0", n)
			}
			h.waitMetric(h.metrics.requests.WithLabelValues("nas1", "reject", tt.reason), 1)
			h.waitLog(`"method":"`+tt.method+`"`, 1)
		})
	}
	t.Run("EAP without Message-Authenticator", func(t *testing.T) {
		h := newHarness(t, nil, func(o *Options) { o.Clients = testClients(t, false) })
		p, _ := NewAccessRequest(testSecret, "alice", testPassword)
		p.Del(rfc2865.UserPassword_Type)
		rfc2869.EAPMessage_Set(p, []byte{2, 1, 0, 5, 1})
		h.expectDrop(unsigned(t, p), causeMissingMA)
	})
	t.Run("State alone reaches the Authenticator", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		req := request(t, testSecret, "alice", "", func(p *radius.Packet) {
			p.Del(rfc2865.UserPassword_Type)
			rfc2865.State_Set(p, []byte("s"))
		})
		h.exchange(req, testSecret)
		if got := h.auth.last(); got.Password != "" || string(got.State) != "s" {
			t.Errorf("got password %q state %q", got.Password, got.State)
		}
	})
}

// addMS adds a Microsoft vendor attribute (RFC 2548) of type typ.
func addMS(p *radius.Packet, typ byte, value []byte) {
	vsa := append([]byte{0, 0, 1, 55, typ, byte(2 + len(value))}, value...) // vendor 311
	p.Add(rfc2865.VendorSpecific_Type, vsa)
}

// TestMalformed walks the malformed-packet list of RFC 6613 §2 (and RFC
// 2865 §3) over a real socket: each is dropped and counted by cause.
func TestMalformed(t *testing.T) {
	valid := func(t *testing.T) []byte { return request(t, testSecret, "alice", testPassword, nil) }
	setLen := func(b []byte, n int) []byte { b[2], b[3] = byte(n>>8), byte(n); return b }
	tests := []struct {
		name  string
		build func(t *testing.T) []byte
		cause string
	}{
		{"shorter than a header", func(t *testing.T) []byte { return valid(t)[:19] }, causeShort},
		{"length under 20", func(t *testing.T) []byte { return setLen(valid(t), 19) }, causeBadLength},
		{"length past the datagram", func(t *testing.T) []byte { b := valid(t); return setLen(b, len(b)+1) }, causeBadLength},
		{"length over 4096", func(t *testing.T) []byte { return setLen(valid(t), 4097) }, causeBadLength},
		{"datagram over 4096", func(t *testing.T) []byte { return append(valid(t), make([]byte, 4097)...) }, causeOversized},
		{"attribute length 0", func(t *testing.T) []byte { b := append(valid(t), 18, 0); return setLen(b, len(b)) }, causeBadAttribute},
		{"attribute length 1", func(t *testing.T) []byte { b := append(valid(t), 18, 1); return setLen(b, len(b)) }, causeBadAttribute},
		{"attribute past the packet", func(t *testing.T) []byte { b := append(valid(t), 18, 10, 'x'); return setLen(b, len(b)) }, causeBadAttribute},
		{"lone attribute byte", func(t *testing.T) []byte { b := append(valid(t), 18); return setLen(b, len(b)) }, causeBadAttribute},
		{"Accounting-Request", func(t *testing.T) []byte { b := valid(t); b[0] = byte(radius.CodeAccountingRequest); return b }, causeUnsupportedCode},
		{"Access-Accept", func(t *testing.T) []byte { b := valid(t); b[0] = byte(radius.CodeAccessAccept); return b }, causeUnsupportedCode},
		{"code 0", func(t *testing.T) []byte { b := valid(t); b[0] = 0; return b }, causeUnsupportedCode},
		{"User-Password of 15 bytes", func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", "")
			rfc2865.UserPassword_Set(p, make([]byte, 15)) // hidden as 16; replace raw below
			p.Attributes[1].Attribute = make([]byte, 15)
			b, _ := SignRequest(p)
			return b
		}, causeBadPassword},
		{"User-Password of 144 bytes", func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", "")
			p.Attributes[1].Attribute = make([]byte, 144)
			b, _ := SignRequest(p)
			return b
		}, causeBadPassword},
		{"User-Password twice", func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			p.Add(rfc2865.UserPassword_Type, make([]byte, 16))
			b, _ := SignRequest(p)
			return b
		}, causeBadPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil, nil)
			h.expectDrop(tt.build(t), tt.cause)
			if n := h.auth.count(); n != 0 {
				t.Errorf("got %d Authenticator calls, want 0", n)
			}
		})
	}
	t.Run("bytes past Length are ignored", func(t *testing.T) {
		h := newHarness(t, nil, nil)
		req := request(t, testSecret, "alice", testPassword, nil)
		padded := append(bytes.Clone(req), 0xde, 0xad, 0xbe, 0xef)
		c := h.dial()
		h.send(c, padded)
		if resp := h.answer(c, req, testSecret); resp.Code != radius.CodeAccessAccept {
			t.Errorf("got code %v, want Access-Accept", resp.Code)
		}
	})
}

func TestOverload(t *testing.T) {
	release := make(chan struct{})
	auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
		<-release
		return acceptAlice(ctx, req)
	})
	// 8 workers: 7 for new conversations, 1 kept for State-carrying ones.
	h := newHarness(t, auth, func(o *Options) { o.Workers = 8 })
	c := h.dial()
	var sent [][]byte
	for i := range 7 {
		req := request(t, testSecret, "alice", testPassword, func(p *radius.Packet) { p.Identifier = byte(i) })
		h.send(c, req)
		sent = append(sent, req)
	}
	auth.waitCalls(t, 7)

	shed := request(t, testSecret, "alice", testPassword, func(p *radius.Packet) { p.Identifier = 100 })
	h.send(c, shed)
	h.waitMetric(h.metrics.dropped.WithLabelValues(causeOverload), 1)

	withState := func(id byte) []byte {
		return request(t, testSecret, "alice", testPassword, func(p *radius.Packet) {
			p.Identifier = id
			rfc2865.State_Set(p, []byte("s"))
		})
	}
	kept := withState(101)
	h.send(c, kept)
	auth.waitCalls(t, 8)
	sent = append(sent, kept)

	h.send(c, withState(102)) // all 8 busy now: even State is shed
	h.waitMetric(h.metrics.dropped.WithLabelValues(causeOverload), 2)

	// The read loop still serves while every worker is blocked.
	ss := radius.New(radius.CodeStatusServer, testSecret)
	ssb, _ := SignRequest(ss)
	h.exchange(ssb, testSecret)

	close(release)
	got := map[byte]bool{}
	for range sent {
		resp := h.recv(c, 5*time.Second)
		if resp == nil {
			t.Fatal("missing answer")
		}
		got[resp[1]] = true
	}
	for _, req := range sent {
		if !got[req[1]] {
			t.Errorf("no answer for identifier %d", req[1])
		}
	}
	// A shed request left no trace in the cache: its retransmission is
	// decided, once the workers have given their slots back (an answer
	// leaves before its worker's slot is freed).
	h.waitMetric(h.metrics.inFlight, 0)
	h.send(c, shed)
	h.answer(c, shed, testSecret)
	if n := auth.count(); n != 9 {
		t.Errorf("got %d Authenticator calls, want 9", n)
	}
}

func TestShutdown(t *testing.T) {
	t.Run("drains and answers", func(t *testing.T) {
		release := make(chan struct{})
		auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
			<-release
			return acceptAlice(ctx, req)
		})
		h := newHarness(t, auth, nil)
		h.stopped = true // this test shuts down itself
		c := h.dial()
		var reqs [][]byte
		for i := range 3 {
			req := request(t, testSecret, "alice", testPassword, func(p *radius.Packet) { p.Identifier = byte(i) })
			h.send(c, req)
			reqs = append(reqs, req)
		}
		auth.waitCalls(t, 3)
		shut := make(chan error, 1)
		go func() { shut <- h.srv.Shutdown(context.Background()) }()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v before the requests were answered", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		for range reqs {
			resp := h.recv(c, 5*time.Second)
			if resp == nil {
				t.Fatal("an in-flight request got no answer")
			}
			checkAnswer(t, resp, reqs[resp[1]], testSecret)
		}
		if err := <-shut; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-h.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.srv.Serve(conn); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve after Shutdown returned %v, want ErrServerClosed", err)
		}
	})
	t.Run("deadline cancels the requests", func(t *testing.T) {
		canceled := make(chan struct{})
		auth := newFakeAuth(func(ctx context.Context, _ *challenge.Request) (challenge.Decision, error) {
			<-ctx.Done()
			close(canceled)
			return challenge.Decision{}, ctx.Err()
		})
		h := newHarness(t, auth, nil)
		h.stopped = true
		h.send(h.dial(), request(t, testSecret, "alice", testPassword, nil))
		auth.waitCalls(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := h.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown returned %v, want DeadlineExceeded", err)
		}
		<-canceled
		if err := <-h.done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
}

func TestSetClients(t *testing.T) {
	oldSecret, newSecret := []byte("old-secret-0123456789"), []byte("new-secret-0123456789")
	table := func(name string, secret []byte) *ClientTable {
		ct, err := NewClientTable([]Client{{Name: name, Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Secret: secret}})
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	release := make(chan struct{})
	auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
		if req.User == "slow" {
			<-release
		}
		return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK}, nil
	})
	h := newHarness(t, auth, func(o *Options) { o.Clients = table("old", oldSecret) })

	slowConn := h.dial()
	slow := request(t, oldSecret, "slow", "pw", nil)
	h.send(slowConn, slow)
	auth.waitCalls(t, 1)

	h.srv.SetClients(table("new", newSecret))

	h.exchange(request(t, newSecret, "bob", "pw", nil), newSecret)
	if got := auth.last().Client; got != "new" {
		t.Errorf("got client %q after the swap, want new", got)
	}
	h.expectDrop(request(t, oldSecret, "bob", "pw", nil), causeBadMA)

	close(release)
	h.answer(slowConn, slow, oldSecret) // in flight: keeps its old secret
	h.waitMetric(h.metrics.requests.WithLabelValues("old", "accept", "ok"), 1)
}

func TestListenAndServe(t *testing.T) {
	addrs := []string{"127.0.0.1:0"}
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		c.Close()
		addrs = append(addrs, "[::1]:0")
	}
	ct, err := NewClientTable([]Client{{Name: "local", Secret: testSecret, Networks: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{Authenticator: newFakeAuth(nil), Clients: ct})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(context.Background(), addrs) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Addrs()) < len(addrs) {
		if time.Now().After(deadline) {
			t.Fatalf("got %d sockets, want %d", len(srv.Addrs()), len(addrs))
		}
		time.Sleep(time.Millisecond)
	}
	for _, a := range srv.Addrs() {
		t.Run(a.String(), func(t *testing.T) {
			c, err := net.DialUDP("udp", nil, a.(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := request(t, testSecret, "alice", testPassword, nil)
			c.Write(req)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, buf[:n], req, testSecret)
			if radius.Code(buf[0]) != radius.CodeAccessAccept {
				t.Errorf("got code %v, want Access-Accept", radius.Code(buf[0]))
			}
		})
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("ListenAndServe returned %v, want ErrServerClosed", err)
	}
	t.Run("bad address", func(t *testing.T) {
		srv, _ := NewServer(Options{Authenticator: newFakeAuth(nil), Clients: ct})
		if err := srv.ListenAndServe(context.Background(), []string{"127.0.0.1:0", "256.0.0.1:1812"}); err == nil {
			t.Error("got nil, want an error")
		}
	})
}

func TestNewServer(t *testing.T) {
	ct := testClients(t, true)
	auth := newFakeAuth(nil)
	tests := []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{"defaults", Options{Authenticator: auth, Clients: ct}, false},
		{"no authenticator", Options{Clients: ct}, true},
		{"no clients", Options{Authenticator: auth}, true},
		{"negative workers", Options{Authenticator: auth, Clients: ct, Config: Config{Workers: -1}}, true},
		{"too many workers", Options{Authenticator: auth, Clients: ct, Config: Config{Workers: 65537}}, true},
		{"ttl too short", Options{Authenticator: auth, Clients: ct, Config: Config{DuplicateTTL: 4 * time.Second}}, true},
		{"ttl too long", Options{Authenticator: auth, Clients: ct, Config: Config{DuplicateTTL: 31 * time.Second}}, true},
		{"ttl at the bounds", Options{Authenticator: auth, Clients: ct, Config: Config{DuplicateTTL: 30 * time.Second}}, false},
		{"reject delay at the bound", Options{Authenticator: auth, Clients: ct, Config: Config{RejectDelay: 5 * time.Second}}, false},
		{"reject delay too long", Options{Authenticator: auth, Clients: ct, Config: Config{RejectDelay: 6 * time.Second}}, true},
		{"missing dictionary", Options{Authenticator: auth, Clients: ct, Config: Config{Dictionaries: []string{"testdata/no-such-dictionary"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewServer(tt.o)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if err == nil && tt.o.Workers == 0 && s.limit.max != defaultWorkers {
				t.Errorf("got %d workers, want %d", s.limit.max, defaultWorkers)
			}
		})
	}
}

// TestOversizedAnswer fills a request with Proxy-State, which every answer
// must echo, so that the answer cannot fit in 4096 bytes.
func TestOversizedAnswer(t *testing.T) {
	longMsg := func(context.Context, *challenge.Request) (challenge.Decision, error) {
		return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, Message: strings.Repeat("m", 300)}, nil
	}
	fill := func(total int) func(p *radius.Packet) {
		return func(p *radius.Packet) {
			b, _ := SignRequest(p)
			for need := total - len(b); need > 0; {
				n := min(255, need)
				if need-n == 1 {
					n--
				}
				p.Add(rfc2865.ProxyState_Type, make(radius.Attribute, n-2))
				need -= n
			}
		}
	}
	// The generic Reject adds 54 bytes of Reply-Message; the request
	// spends 79 bytes besides Proxy-State (header, Message-Authenticator,
	// User-Name, User-Password), the answer 38 (header and
	// Message-Authenticator): it fits up to a 4083-byte request.
	t.Run("falls back to the generic reject", func(t *testing.T) {
		h := newHarness(t, newFakeAuth(longMsg), nil)
		req := request(t, testSecret, "alice", testPassword, fill(4083))
		if len(req) != 4083 {
			t.Fatalf("request of %d bytes, want 4083", len(req))
		}
		resp := h.exchange(req, testSecret)
		if resp.Code != radius.CodeAccessReject || replyMessage(resp) != msgUnavailable {
			t.Errorf("got %v %q, want the generic Access-Reject", resp.Code, replyMessage(resp))
		}
	})
	t.Run("dropped when nothing fits", func(t *testing.T) {
		h := newHarness(t, newFakeAuth(longMsg), nil)
		h.expectDrop(request(t, testSecret, "alice", testPassword, fill(4096)), causeEncode)
	})
}

// wrappedConn hides the *net.UDPConn so that the generic path is used.
type wrappedConn struct{ net.PacketConn }

func TestServeGenericPacketConn(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{Authenticator: newFakeAuth(nil), Clients: testClients(t, true)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(wrappedConn{conn}) }()
	c, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := request(t, testSecret, "alice", testPassword, nil)
	c.Write(req)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, buf[:n], req, testSecret)
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

func TestUDPNetwork(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"0.0.0.0:1812", "udp4"},
		{"192.0.2.1:1812", "udp4"},
		{"[::]:1812", "udp6"},
		{"[2001:db8::1]:1812", "udp6"},
		{"[fe80::1%eth0]:1812", "udp6"},
		{"[::ffff:192.0.2.1]:1812", "udp"},
		{"localhost:1812", "udp"},
		{":1812", "udp"},
		{"garbage", "udp"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := udpNetwork(tt.addr); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRejectDelay: an Access-Reject is held back (without holding a
// worker) and retransmissions meanwhile get nothing; an Accept is not.
func TestRejectDelay(t *testing.T) {
	held := make(chan func(), 4)
	var delays []time.Duration
	var mu sync.Mutex
	clock := newFakeClock() // still: the decision takes no time
	h := newHarness(t, newFakeAuth(acceptAlice), func(o *Options) {
		o.RejectDelay = time.Second
		o.Now = clock.Now
		o.afterFunc = func(d time.Duration, f func()) {
			mu.Lock()
			delays = append(delays, d)
			mu.Unlock()
			held <- f
		}
	})
	c := h.dial()
	reject := request(t, testSecret, "alice", "wrong", nil)
	h.send(c, reject)
	release := <-held
	h.send(c, reject) // a retransmission while the answer is held
	if got := h.recv(c, 200*time.Millisecond); got != nil {
		t.Fatalf("got an answer while the reject was held: %x", got)
	}
	release()
	resp := h.recv(c, 3*time.Second)
	if resp == nil || resp[0] != byte(radius.CodeAccessReject) {
		t.Fatalf("got %x, want the held Access-Reject", resp)
	}
	mu.Lock()
	if len(delays) != 1 || delays[0] != time.Second {
		t.Errorf("got delays %v, want one of 1s", delays)
	}
	mu.Unlock()
	if p := h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret); p.Code != radius.CodeAccessAccept {
		t.Errorf("accept: got %v", p.Code)
	}
	if len(held) != 0 {
		t.Error("an Accept was held back")
	}
}

// TestRejectPadding: every Access-Reject leaves RejectDelay after its
// request arrived, however long its decision took, so that an unknown
// user and a wrong password cannot be told apart by the time of the
// answer. A decision slower than the delay is answered at once.
func TestRejectPadding(t *testing.T) {
	const delay = time.Second
	tests := []struct {
		name     string
		user     string
		decision time.Duration // what the decision costs on the server's clock
		want     time.Duration // the hold after the decision; 0: sent at once
	}{
		{"unknown user, fast", "nobody", 3 * time.Millisecond, delay - 3*time.Millisecond},
		{"wrong password, slower", "alice", 40 * time.Millisecond, delay - 40*time.Millisecond},
		{"decision slower than the delay", "alice", 1500 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			auth := newFakeAuth(func(ctx context.Context, req *challenge.Request) (challenge.Decision, error) {
				clock.Advance(tt.decision)
				reason := challenge.ReasonBadPassword
				if req.User == "nobody" {
					reason = challenge.ReasonUnknownUser
				}
				return challenge.Decision{Outcome: challenge.Reject, Reason: reason}, nil
			})
			holds := make(chan time.Duration, 1)
			h := newHarness(t, auth, func(o *Options) {
				o.RejectDelay = delay
				o.Now = clock.Now
				o.afterFunc = func(d time.Duration, f func()) {
					holds <- d
					f()
				}
			})
			if resp := h.exchange(request(t, testSecret, tt.user, "wrong", nil), testSecret); resp.Code != radius.CodeAccessReject {
				t.Fatalf("got %v, want Access-Reject", resp.Code)
			}
			var got time.Duration
			select {
			case got = <-holds:
			default:
			}
			if got != tt.want {
				t.Errorf("held %v after a %v decision, want %v (the answer %v after arrival)", got, tt.decision, tt.want, max(delay, tt.decision))
			}
		})
	}
}
