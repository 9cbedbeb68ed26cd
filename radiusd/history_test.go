package radiusd

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
	"twostep/cluster"
)

// chanRecorder hands the records to the test; hold, when not nil, makes
// Record wait until it is closed (a recorder that broke its promise).
type chanRecorder struct {
	recs chan cluster.LoginRecord
	hold chan struct{}
}

func newChanRecorder() *chanRecorder { return &chanRecorder{recs: make(chan cluster.LoginRecord, 100)} }

func (r *chanRecorder) Record(rec cluster.LoginRecord) {
	if r.hold != nil {
		<-r.hold
	}
	r.recs <- rec
}

func (r *chanRecorder) next(t *testing.T) cluster.LoginRecord {
	t.Helper()
	select {
	case rec := <-r.recs:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no history record within 5s")
	}
	return cluster.LoginRecord{}
}

// TestLoginIDOfCopies: a copy of a request, from another source port to
// another server (a NAS failing over), has the first one's id.
func TestLoginIDOfCopies(t *testing.T) {
	a, b := newFakeAuth(acceptAlice), newFakeAuth(acceptAlice)
	ha, hb := newHarness(t, a, nil), newHarness(t, b, nil)
	req := request(t, testSecret, "alice", testPassword, nil)
	ha.exchange(req, testSecret)
	hb.exchange(req, testSecret)
	idA, idB := a.last().ID, b.last().ID
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(idA) || idA != idB {
		t.Fatalf("ids %q and %q, want the same 12 hex digits", idA, idB)
	}
	ha.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
	if id := a.last().ID; id == idA {
		t.Errorf("another request got the same id %q", id)
	}
}

func TestHistoryRecords(t *testing.T) {
	rec := newChanRecorder()
	long := strings.Repeat("x", 245)
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		switch {
		case req.User == "ALICE" && req.Password == testPassword:
			return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, User: "alice",
				Factor: challenge.FactorTOTP, Device: "phone", DeviceID: "7f3c"}, nil
		case req.User == "alice" && req.State != nil:
			return challenge.Decision{Outcome: challenge.Reject, Reason: "challenge_expired", Message: "Your login timed out. Log in again.",
				User: "alice", LoginID: "3f9ac21b5d7e"}, nil
		case req.User == "alice":
			return challenge.Decision{Outcome: challenge.Ask, Reason: "passcode_requested", Message: "Passcode:", State: []byte("st"),
				User: "alice", Factor: challenge.FactorPassword}, nil
		case req.User == "broken":
			return challenge.Decision{LoginID: "aaaabbbbcccc"}, errors.New("challenge: pending login: a record that does not decode")
		case req.User == "long":
			return challenge.Decision{Outcome: challenge.Reject, Reason: "disabled", Message: long}, nil
		}
		return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonUnknownUser, Factor: challenge.FactorPassword}, nil
	})
	h := newHarness(t, auth, func(o *Options) {
		o.History, o.ReferenceInReply = rec, true
		o.RejectDelay = 0
	})
	nasAttrs := func(p *radius.Packet) {
		rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
		rfc2865.NASIPAddress_Set(p, net.IPv4(192, 0, 2, 10))
		rfc2865.CallingStationID_SetString(p, "198.51.100.23")
	}

	t.Run("an accept", func(t *testing.T) {
		resp := h.exchange(request(t, testSecret, "ALICE", testPassword, nasAttrs), testSecret)
		if resp.Code != radius.CodeAccessAccept || replyMessage(resp) != "" {
			t.Fatalf("got %v %q, want Access-Accept without a reference", resp.Code, replyMessage(resp))
		}
		got := rec.next(t)
		want := cluster.LoginRecord{ID: auth.last().ID, User: "alice", TypedUser: "ALICE", Client: "nas1", NASID: "vpn-gw-1",
			NASAddr: "192.0.2.10", From: "198.51.100.23", Factor: "totp", Device: &cluster.LoginDevice{ID: "7f3c", Name: "phone"},
			Decision: "accept", Reason: "ok"}
		got.Time = time.Time{}
		if got.Device == nil || *got.Device != *want.Device {
			t.Errorf("device %+v, want %+v", got.Device, want.Device)
		}
		got.Device, want.Device = nil, nil
		if got != want {
			t.Errorf("record\n%+v\nwant\n%+v", got, want)
		}
		h.waitLog(`"id":"`+want.ID+`"`, 1)
	})
	t.Run("a challenge, then a reject with the login's reference", func(t *testing.T) {
		resp := h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret)
		if resp.Code != radius.CodeAccessChallenge || replyMessage(resp) != "Passcode:" {
			t.Fatalf("got %v %q, want Access-Challenge without a reference", resp.Code, replyMessage(resp))
		}
		first := rec.next(t)
		if first.Decision != "challenge" || first.Factor != "password" || first.TypedUser != "" || first.NASAddr != "127.0.0.1" {
			t.Errorf("challenge record %+v: want decision challenge, factor password, no typed name, the source as NAS address", first)
		}
		resp = h.exchange(request(t, testSecret, "alice", "123456", func(p *radius.Packet) { rfc2865.State_Set(p, []byte("st")) }), testSecret)
		if msg := replyMessage(resp); resp.Code != radius.CodeAccessReject || msg != "Your login timed out. Log in again. Ref 3f9a-c21b" {
			t.Fatalf("got %v %q, want the message ending with the login's reference", resp.Code, msg)
		}
		second := rec.next(t)
		if second.ID != "3f9ac21b5d7e" || second.Decision != "reject" || second.Reason != "challenge_expired" {
			t.Errorf("reject record %+v: want the login's id 3f9ac21b5d7e", second)
		}
		h.waitLog(`"id":"3f9ac21b5d7e"`, 1)
	})
	t.Run("a reject without a message gets the reference alone", func(t *testing.T) {
		resp := h.exchange(request(t, testSecret, "mallory", testPassword, nil), testSecret)
		r := rec.next(t)
		if msg := replyMessage(resp); msg != cluster.LoginReference(r.ID) {
			t.Errorf("Reply-Message %q, want %q", msg, cluster.LoginReference(r.ID))
		}
		if r.User != "" || r.TypedUser != "mallory" || r.Device != nil {
			t.Errorf("record %+v: want no directory user, mallory as typed, no device", r)
		}
	})
	t.Run("a round that failed keeps its login's id", func(t *testing.T) {
		resp := h.exchange(request(t, testSecret, "broken", testPassword, nil), testSecret)
		if msg := replyMessage(resp); resp.Code != radius.CodeAccessReject || msg != msgUnavailable+" Ref aaaa-bbbb" {
			t.Errorf("got %v %q, want the generic reject with the login's reference", resp.Code, msg)
		}
		if r := rec.next(t); r.ID != "aaaabbbbcccc" || r.Reason != "error" || r.Decision != "reject" {
			t.Errorf("record %+v, want the login's id, reason error", r)
		}
	})
	t.Run("a reference that does not fit is left out", func(t *testing.T) {
		resp := h.exchange(request(t, testSecret, "long", testPassword, nil), testSecret)
		if msg := replyMessage(resp); msg != long {
			t.Errorf("Reply-Message of %d bytes, want the message alone (%d)", len(msg), len(long))
		}
		rec.next(t)
	})
}

// TestHistoryNeverHoldsTheAnswer: a recorder that blocks (it must not)
// holds its goroutine, not the answer, which has left already.
func TestHistoryNeverHoldsTheAnswer(t *testing.T) {
	rec := newChanRecorder()
	rec.hold = make(chan struct{})
	h := newHarness(t, newFakeAuth(acceptAlice), func(o *Options) { o.History = rec })
	if resp := h.exchange(request(t, testSecret, "alice", testPassword, nil), testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want Access-Accept", resp.Code)
	}
	close(rec.hold)
	rec.next(t)
}

func TestNoReferenceWithoutHistory(t *testing.T) {
	h := newHarness(t, newFakeAuth(acceptAlice), func(o *Options) {
		o.ReferenceInReply = true
		o.RejectDelay = 0
	})
	if resp := h.exchange(request(t, testSecret, "bob", testPassword, nil), testSecret); replyMessage(resp) != "" {
		t.Errorf("Reply-Message %q without a history to look it up in, want none", replyMessage(resp))
	}
}
