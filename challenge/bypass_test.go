package challenge

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostep/cluster"
)

func TestBypassCodes(t *testing.T) {
	ctx := context.Background()
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	audit := cluster.NewAudit(w.store, 0)
	w.engine = NewEngine(w.dir, Policy{}, WithPasscodes(defaultPasscodes(), w.accounts, cluster.NewChallenges(w.store, w.keys)),
		WithAudit(audit, "twostepd test"), WithClock(w.now))
	issue := func(uses int, ttl time.Duration) string {
		code, _, err := w.accounts.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "short", MaxUses: uses, TTL: ttl, Digits: 9}, w.now())
		if err != nil {
			t.Fatal(err)
		}
		return code
	}

	t.Run("a user without a device logs in with a bypass code, five times", func(t *testing.T) {
		code := issue(5, 24*time.Hour)
		for i := range 5 {
			d := w.login(ModeAppend, "pw,"+code, nil)
			expect(t, d, Accept, ReasonBypass)
			if i == 0 && !strings.HasPrefix(d.Device, "bypass ") {
				t.Errorf("got device %q, want the code's id for the log", d.Device)
			}
		}
		expect(t, w.login(ModeAppend, "pw,"+code, nil), Reject, ReasonBypassUsedUp)
		events, err := audit.List(ctx, time.Time{}, "alice")
		if err != nil || len(events) != 5 || events[0].Action != "bypass.use" || strings.Contains(events[0].Detail, code) {
			t.Errorf("audit: got %d events %+v (%v), want 5 bypass.use without the code", len(events), events, err)
		}
	})
	t.Run("answering a challenge", func(t *testing.T) {
		code := issue(0, time.Hour)
		c := w.login(ModeChallenge, "pw", nil)
		expect(t, c, Ask, ReasonPasscodeRequested)
		expect(t, w.login(ModeChallenge, code, c.State), Accept, ReasonBypass)
	})
	t.Run("typed as printed, with spaces or dashes", func(t *testing.T) {
		code := issue(0, time.Hour)
		printed := code[:3] + " " + code[3:6] + " " + code[6:]
		c := w.login(ModeChallenge, "pw", nil)
		expect(t, w.login(ModeChallenge, printed, c.State), Accept, ReasonBypass)
		expect(t, w.login(ModeAppend, "pw,"+printed, nil), Accept, ReasonBypass)
		expect(t, w.login(ModeAuto, "pw,"+strings.ReplaceAll(printed, " ", "-"), nil), Accept, ReasonBypass)
		d, err := w.engine.PortalPasscode(ctx, "alice", printed)
		if err != nil {
			t.Fatal(err)
		}
		expect(t, d, Accept, ReasonBypass)
	})
	t.Run("expired", func(t *testing.T) {
		code := issue(0, time.Hour)
		w.advance(time.Hour)
		expect(t, w.login(ModeAppend, "pw,"+code, nil), Reject, ReasonBypassExpired)
	})
	t.Run("revoked", func(t *testing.T) {
		code := issue(0, time.Hour)
		if _, err := w.accounts.RevokeBypass(ctx, "alice", ""); err != nil {
			t.Fatal(err)
		}
		expect(t, w.login(ModeAppend, "pw,"+code, nil), Reject, ReasonNotEnrolled)
	})
	t.Run("beside a device, and a wrong code counts toward lockout", func(t *testing.T) {
		dev := w.enroll("phone")
		code := issue(1, time.Hour)
		expect(t, w.login(ModeAppend, "pw,123456789", nil), Reject, ReasonBadPasscode)
		acct, _ := w.accounts.Load(ctx, "alice")
		if acct.Lockout.Failures != 1 {
			t.Errorf("got %d failures, want 1", acct.Lockout.Failures)
		}
		expect(t, w.login(ModeAppend, "pw,"+code, nil), Accept, ReasonBypass)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
	})
}

// TestBypassUsesUnderConcurrency tries a 5-use code 100 times at once.
func TestBypassUsesUnderConcurrency(t *testing.T) {
	w := newSFWorld(t, Passcodes{}, Policy{}, nil)
	code, _, err := w.accounts.IssueBypass(context.Background(), "alice", cluster.BypassSpec{MaxUses: 5, TTL: time.Hour, Digits: 9}, w.now())
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if w.login(ModeAppend, "pw,"+code, nil).Outcome == Accept {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 5 {
		t.Fatalf("got %d accepts of a 5-use code, want 5", n)
	}
}
