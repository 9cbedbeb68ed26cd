package challenge

import (
	"context"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/directory"
)

// One correlation id per login: a later round, and a push completed from
// another request, report the id of the login's first request, which the
// round's and the push's records carry.

func TestLoginIDAcrossChallengeRounds(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
	dev := w.enroll("phone")
	ask := func(id, password string, state []byte) Decision {
		t.Helper()
		d, err := authenticate(context.Background(), w.engine, &Request{ID: id, User: "alice", Password: password, State: state,
			Client: "vpn", Source: nas, Login: ClientLogin{Mode: ModeChallenge}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := ask("aaaaaaaaaaaa", "pw", nil)
	expect(t, first, Ask, ReasonPasscodeRequested)
	if first.LoginID != "" || first.Factor != FactorPassword {
		t.Errorf("first round: login id %q, factor %q; want its own id (empty) and password", first.LoginID, first.Factor)
	}
	wrong := ask("bbbbbbbbbbbb", "000000", first.State)
	expect(t, wrong, Ask, ReasonBadPasscode)
	if wrong.LoginID != "aaaaaaaaaaaa" {
		t.Errorf("second round: login id %q, want the first request's", wrong.LoginID)
	}
	ok := ask("cccccccccccc", w.code(dev, 0), first.State)
	expect(t, ok, Accept, ReasonOK)
	if ok.LoginID != "aaaaaaaaaaaa" || ok.Factor != FactorTOTP || ok.Device != "phone" || ok.DeviceID == "" {
		t.Errorf("third round: login id %q, factor %q, device %q (%q); want the first request's id, totp, phone and its id",
			ok.LoginID, ok.Factor, ok.Device, ok.DeviceID)
	}
	// A State nobody issued is no login's: the request keeps its own id.
	if d := ask("dddddddddddd", "123456", make([]byte, 16)); d.LoginID != "" {
		t.Errorf("unknown State: login id %q, want none", d.LoginID)
	}
}

func TestLoginIDOfAPushStartedInARound(t *testing.T) {
	w := newPushWorld(t, 2, cluster.PushLimit{})
	w.addPhone("phone")
	req := w.request(ModeChallenge, "pw", nil)
	req.ID = "aaaaaaaaaaaa"
	menu := w.login(0, req)
	expect(t, menu, Ask, ReasonPushMenu)

	var rec *cluster.Push
	done := make(chan error, 1)
	go func() {
		m := <-w.notifier.ch
		var err error
		if rec, err = w.nodes[0].push.pushes.Get(context.Background(), m.Tx); err == nil {
			err = w.answer(0, m, cluster.PushApproved, "")
		}
		done <- err
	}()
	// The menu's answer reaches the other node.
	choice := w.request(ModeChallenge, "1", menu.State)
	choice.ID = "bbbbbbbbbbbb"
	d := w.login(1, choice)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect(t, d, Accept, ReasonPushApproved)
	if d.LoginID != "aaaaaaaaaaaa" || d.Factor != FactorPush || d.Device != "phone" || d.DeviceID != w.ids[0] {
		t.Errorf("got login id %q, factor %q, device %q (%q); want the first request's id, push, phone (%s)", d.LoginID, d.Factor, d.Device, d.DeviceID, w.ids[0])
	}
	if rec.Login != "aaaaaaaaaaaa" {
		t.Errorf("the push record names login %q, want the first request's", rec.Login)
	}
}

func TestLoginIDOfAJoinedPush(t *testing.T) {
	w := newPushWorld(t, 2, cluster.PushLimit{})
	w.addPhone("phone")
	req := w.request(ModeAppend, "pw,push", nil)
	req.ID = "aaaaaaaaaaaa"
	results := make(chan Decision, 2)
	go func() { results <- w.login(0, req) }()
	m := <-w.notifier.ch
	// A copy on another node, before or after the answer: the RADIUS
	// layer derives the same id from the same packet; a different one
	// here shows that the push's record carries it.
	copyReq := *req
	copyReq.ID = "bbbbbbbbbbbb"
	joined := make(chan Decision, 1)
	go func() { joined <- w.login(1, &copyReq) }()
	if err := w.answer(1, m, cluster.PushApproved, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, <-results, Accept, ReasonPushApproved)
	d := <-joined
	expect(t, d, Accept, ReasonPushApproved)
	if d.LoginID != "aaaaaaaaaaaa" || d.Factor != FactorPush {
		t.Errorf("joined copy: login id %q, factor %q; want the first request's id and push", d.LoginID, d.Factor)
	}
}

func TestDecisionFactors(t *testing.T) {
	exempt := Policy{Groups: []GroupRule{{Group: "staff", Action: Exempt}}}
	tests := []struct {
		name   string
		policy Policy
		status directory.Status
		second bool
		want   Factor
		reason Reason
	}{
		{"a policy exemption", exempt, directory.OK, true, FactorExempt, ReasonExempt},
		{"no second factor configured", staffPolicy, directory.OK, false, FactorPassword, ReasonOK},
		{"a wrong password", staffPolicy, directory.BadPassword, true, FactorPassword, ReasonBadPassword},
		{"an expired password", staffPolicy, directory.PasswordExpired, true, FactorPassword, ReasonPasswordExpired},
		{"a policy that denies", Policy{Groups: []GroupRule{{Group: "staff", Action: Deny}}}, directory.OK, true, FactorNone, ReasonDeniedByPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSFWorld(t, defaultPasscodes(), tt.policy, nil)
			if !tt.second {
				w.engine = NewEngine(w.dir, tt.policy, WithClock(w.now))
			}
			w.dir.res.Status = tt.status
			d := w.login(ModeAppend, "pw", nil)
			if d.Reason != tt.reason || d.Factor != tt.want {
				t.Errorf("got %s, factor %q; want %s, factor %q", d.Reason, d.Factor, tt.reason, tt.want)
			}
		})
	}
	t.Run("a bypass code", func(t *testing.T) {
		w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
		code, b, err := w.accounts.IssueBypass(context.Background(), "alice", cluster.BypassSpec{Profile: "short", MaxUses: 1, TTL: time.Hour, Digits: 9}, w.now())
		if err != nil {
			t.Fatal(err)
		}
		d := w.login(ModeAppend, "pw,"+code, nil)
		expect(t, d, Accept, ReasonBypass)
		if d.Factor != FactorBypass || d.DeviceID != b.ID {
			t.Errorf("factor %q, device id %q; want bypass, %s", d.Factor, d.DeviceID, b.ID)
		}
		d = w.login(ModeAppend, "pw,"+code, nil)
		expect(t, d, Reject, ReasonBypassUsedUp)
		if d.Factor != FactorBypass {
			t.Errorf("used up: factor %q, want bypass", d.Factor)
		}
	})
}
