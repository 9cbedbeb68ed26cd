package challenge

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/directory"
	"twostep/notify"
)

func signPending(key *ecdsa.PrivateKey, user, device string, at time.Time) []byte {
	sum := sha256.Sum256(cluster.PendingSigned(user, device, at))
	r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

func TestPortalSignIn(t *testing.T) {
	ctx := context.Background()
	w := newPushWorld(t, 1, cluster.PushLimit{Count: 10, Window: 5 * time.Minute})
	e := w.nodes[0]

	t.Run("password", func(t *testing.T) {
		u, d, err := e.PortalPassword(ctx, "alice", "pw")
		if err != nil || d.Outcome != Accept || u.Name != "alice" || u.MayEnroll {
			t.Fatalf("got %+v %+v %v, want accept without enrollment (deny unenrolled is the default)", u, d, err)
		}
		w.dir.res = directory.Result{Status: directory.BadPassword}
		_, d, _ = e.PortalPassword(ctx, "alice", "wrong")
		expect(t, d, Reject, ReasonBadPassword)
		w.dir.res = directory.Result{Status: directory.OK, User: directory.User{Name: "alice"}}
		_, d, _ = e.PortalPassword(ctx, "alice", "")
		expect(t, d, Reject, ReasonEmptyPassword)
	})

	t.Run("recovery passcode once, wrong ones count", func(t *testing.T) {
		code, _, err := w.accounts.IssueRecovery(ctx, "alice", time.Hour, 9, "help desk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.PortalRecovery(ctx, "alice", "000000000")
		if err != nil || d.Outcome != Reject || d.Message != msgRecoveryWrong {
			t.Fatalf("wrong code: %+v %v", d, err)
		}
		d, _ = e.PortalRecovery(ctx, "alice", code)
		expect(t, d, Accept, ReasonRecovery)
		if acct, _ := w.accounts.Load(ctx, "alice"); acct.Lockout.Failures != 0 {
			t.Fatalf("failures %d after the right code, want 0 (a success clears them)", acct.Lockout.Failures)
		}
		d, _ = e.PortalRecovery(ctx, "alice", code)
		expect(t, d, Reject, ReasonBadPasscode)
		acct, _ := w.accounts.Load(ctx, "alice")
		if acct.Lockout.Failures != 1 {
			t.Fatalf("failures %d, want 1 (the spent code)", acct.Lockout.Failures)
		}
		if _, err := w.accounts.Unlock(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	})

	phone := w.addPhone("phone")
	tablet := w.addPhone("tablet")

	t.Run("push to the default device, approved with the number", func(t *testing.T) {
		acct, _ := w.accounts.Load(ctx, "alice")
		if err := w.accounts.SetDefaultPush(ctx, acct.Name, tablet); err != nil {
			t.Fatal(err)
		}
		pp, d, err := e.PortalPush(ctx, "alice", "", "198.51.100.7", "Sign in")
		if err != nil || d.Outcome != Ask || pp.Device != "tablet" || len(pp.Number) != 2 {
			t.Fatalf("PortalPush: %+v %+v %v", pp, d, err)
		}
		m := <-w.notifier.ch
		if m.Service != PortalService || m.NAS != "Sign in" || m.Purpose != "Sign in" || m.From != "198.51.100.7" || !m.Number || m.Device != tablet {
			t.Fatalf("message %+v, want the portal's service and the purpose", m)
		}
		if d, _ := e.PortalPushResult(ctx, "alice", pp.ID); d.Outcome != Ask {
			t.Fatalf("before the answer: %+v, want waiting", d)
		}
		// The device lists it while it waits.
		at := time.Now()
		name, open, err := e.DevicePushes(ctx, "alice", tablet, at, signPending(w.devices[tablet], "alice", tablet, at))
		if err != nil || len(open) != 1 || open[0].ID != pp.ID || PushPurpose(open[0]) != "Sign in" {
			t.Fatalf("DevicePushes: %d, %v", len(open), err)
		}
		if name != "tablet" {
			t.Errorf("DevicePushes: device name %q, want tablet", name)
		}
		if err := w.answer(0, m, cluster.PushApproved, pp.Number); err != nil {
			t.Fatal(err)
		}
		if d, err = e.PortalPushResult(ctx, "alice", pp.ID); err != nil {
			t.Fatal(err)
		}
		expect(t, d, Accept, ReasonPushApproved)
		if acct, _ := w.accounts.Load(ctx, "alice"); acct.Used[tablet].At.IsZero() {
			t.Error("an approval did not record the device's last use")
		}
		// Another user's session cannot use it.
		d, _ = e.PortalPushResult(ctx, "bob", pp.ID)
		expect(t, d, Reject, ReasonPushBadSignature)
	})

	t.Run("a RADIUS login's push is no portal push", func(t *testing.T) {
		done := w.phone(0, cluster.PushApproved, "")
		d := w.login(0, w.request(ModeAppend, "pw,push", nil))
		expect(t, d, Accept, ReasonPushApproved)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		acct, _ := w.accounts.Load(ctx, "alice")
		var radiusPush string
		for _, r := range acct.PushLog.Open {
			if p, err := w.nodes[0].push.pushes.Get(ctx, r.ID); err == nil && p.Client != PortalService {
				radiusPush = p.ID
			}
		}
		if radiusPush == "" {
			t.Fatal("no RADIUS push in the log")
		}
		d, _ = e.PortalPushResult(ctx, "alice", radiusPush)
		expect(t, d, Reject, ReasonPushBadSignature)
	})

	t.Run("a push gone from the store timed out, in the portal's words", func(t *testing.T) {
		d, err := e.PortalPushResult(ctx, "alice", "no-such-push")
		if err != nil || d.Reason != ReasonPushTimeout || d.Message != msgPortalPushTimeout {
			t.Fatalf("got %+v %v", d, err)
		}
	})

	t.Run("a device lists only with its own fresh signature", func(t *testing.T) {
		at := time.Now()
		cases := []struct {
			name   string
			device string
			at     time.Time
			sig    []byte
		}{
			{"another device's key", phone, at, signPending(w.devices[tablet], "alice", phone, at)},
			{"old request", phone, at.Add(-time.Hour), signPending(w.devices[phone], "alice", phone, at.Add(-time.Hour))},
			{"unknown device", "nope", at, signPending(w.devices[phone], "alice", "nope", at)},
			{"no signature", phone, at, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if _, _, err := e.DevicePushes(ctx, "alice", c.device, c.at, c.sig); !errors.Is(err, ErrAnswerRefused) {
					t.Fatalf("got %v, want ErrAnswerRefused", err)
				}
			})
		}
	})

	t.Run("passcode", func(t *testing.T) {
		code, _, err := w.accounts.IssueBypass(ctx, "alice", cluster.BypassSpec{MaxUses: 1, TTL: time.Hour, Digits: 9}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		d, _ := e.PortalPasscode(ctx, "alice", code)
		expect(t, d, Accept, ReasonBypass)
		d, _ = e.PortalPasscode(ctx, "alice", "not a code")
		expect(t, d, Reject, ReasonBadPasscode)
	})

	t.Run("the notifier refusing ends the push", func(t *testing.T) {
		w.notifier.mu.Lock()
		w.notifier.err = notify.ErrGone
		w.notifier.mu.Unlock()
		defer func() { w.notifier.mu.Lock(); w.notifier.err = nil; w.notifier.mu.Unlock() }()
		_, d, err := e.PortalPush(ctx, "alice", phone, "", "Sign in")
		if err != nil {
			t.Fatal(err)
		}
		expect(t, d, Reject, ReasonPushUndelivered)
	})
}
