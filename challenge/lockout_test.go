package challenge

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// TestLockoutHoldsUnderBursts sends 150 distinct wrong codes of one user
// at once, in each mode a guesser can use, with the right code among
// them: at most the lockout's attempts of them are answered as wrong (the
// others see the lock), the account ends locked, and the right code
// after the burst is refused.
func TestLockoutHoldsUnderBursts(t *testing.T) {
	const attempts, burst = 10, 150
	cfg := defaultPasscodes()
	cfg.Lockout = cluster.LockoutPolicy{Attempts: attempts, Duration: time.Hour}
	modes := map[string]func(w *sfWorld, code string) (Decision, error){
		"append": func(w *sfWorld, code string) (Decision, error) {
			return authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "pw," + code, Client: "vpn", Source: nas, Login: ClientLogin{Mode: ModeAppend}})
		},
		"challenge answer": func(w *sfWorld, code string) (Decision, error) {
			first, err := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "pw", Client: "vpn", Source: nas, Login: ClientLogin{Mode: ModeChallenge}})
			if err != nil || first.Outcome != Ask {
				return first, err
			}
			return authenticate(context.Background(), w.engine, &Request{User: "alice", Password: code, State: first.State, Client: "vpn", Source: nas, Login: ClientLogin{Mode: ModeChallenge}})
		},
		"portal passcode": func(w *sfWorld, code string) (Decision, error) {
			return w.engine.PortalPasscode(context.Background(), "alice", code)
		},
		"portal recovery": func(w *sfWorld, code string) (Decision, error) {
			return w.engine.PortalRecovery(context.Background(), "alice", code+"000")
		},
	}
	for name, try := range modes {
		t.Run(name, func(t *testing.T) {
			w := newSFWorld(t, cfg, Policy{}, slowStore{memstore.New()})
			dev := w.enroll("phone")
			good := w.code(dev, 0)
			if name == "portal recovery" {
				if _, _, err := w.accounts.IssueRecovery(context.Background(), "alice", time.Hour, 9, "desk", w.now()); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			count := map[Reason]int{}
			var wg sync.WaitGroup
			for i := range burst {
				code := fmt.Sprintf("%06d", 100000+i*13)
				if code == good || code == w.code(dev, -1) {
					continue
				}
				wg.Go(func() {
					d, err := try(w, code)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						count["error"]++ // answered as a plain Reject, never "wrong"
						return
					}
					if d.Outcome == Accept {
						t.Errorf("a wrong code was accepted: %+v", d)
					}
					count[d.Reason]++
				})
			}
			wg.Wait()
			if wrong := count[ReasonBadPasscode]; wrong > attempts || wrong == 0 {
				t.Errorf("%d wrong codes were answered as wrong (%v), want 1 to %d", wrong, count, attempts)
			}
			acct, err := w.accounts.Load(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if !acct.Lockout.Locked(w.now()) || acct.Lockout.Failures != attempts {
				t.Errorf("lockout %+v after the burst (%v), want locked at %d failures", acct.Lockout, count, attempts)
			}
			d, err := modes["append"](w, good)
			if err != nil || d.Reason != ReasonLockedOut {
				t.Errorf("the right code after the burst: %+v %v, want locked_out", d, err)
			}
		})
	}
}

// slowStore is the memory store with a network's round trip on every
// call, as etcd has: the windows between a read and its compare-and-swap
// are as wide as in a cluster.
type slowStore struct{ cluster.Store }

const roundTrip = 300 * time.Microsecond

func (s slowStore) Get(ctx context.Context, key string) (cluster.Entry, error) {
	time.Sleep(roundTrip)
	return s.Store.Get(ctx, key)
}

func (s slowStore) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	time.Sleep(roundTrip)
	return s.Store.List(ctx, prefix)
}

func (s slowStore) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	time.Sleep(roundTrip)
	return s.Store.Commit(ctx, txn)
}

// TestLockMessages: a locked user is told why the account is locked and
// what to do, whichever way the login comes.
func TestLockMessages(t *testing.T) {
	ctx := context.Background()
	lockFor := func(cause cluster.LockCause) func(*sfWorld, cluster.LockoutPolicy) {
		return func(w *sfWorld, _ cluster.LockoutPolicy) {
			if err := w.accounts.Lock(ctx, "alice", cause, w.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	failures := func(w *sfWorld, p cluster.LockoutPolicy) {
		acct, err := w.accounts.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Attempts {
			if _, err := w.accounts.Fail(ctx, acct, fmt.Sprint(i), p, w.now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		duration time.Duration
		lock     func(*sfWorld, cluster.LockoutPolicy)
		want     string
	}{
		{"wrong codes, for a while: until when", 15 * time.Minute, failures,
			"Too many wrong passcodes: your account is locked until 2026-11-23 10:15 UTC. Contact the help desk to unlock it sooner."},
		{"wrong codes, until unlocked", 0, failures, msgLockedOut},
		{"a fraud report", 15 * time.Minute, lockFor(cluster.LockFraud), msgLockedFraud},
		{"the help desk", 15 * time.Minute, lockFor(cluster.LockAdmin), msgLockedAdmin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultPasscodes()
			cfg.Lockout.Duration = tt.duration
			w := newSFWorld(t, cfg, Policy{}, nil)
			dev := w.enroll("phone")
			c := w.login(ModeChallenge, "pw", nil)
			tt.lock(w, cfg.Lockout)
			for name, d := range map[string]Decision{
				"append":           w.login(ModeAppend, "pw,"+w.code(dev, 0), nil),
				"challenge":        w.login(ModeChallenge, "pw", nil),
				"challenge answer": w.login(ModeChallenge, w.code(dev, 0), c.State),
			} {
				if d.Reason != ReasonLockedOut || d.Message != tt.want {
					t.Errorf("%s: got %s %q, want locked_out %q", name, d.Reason, d.Message, tt.want)
				}
			}
			d, err := w.engine.PortalPasscode(ctx, "alice", w.code(dev, 0))
			if err != nil || d.Message != tt.want {
				t.Errorf("portal: got %q %v, want %q", d.Message, err, tt.want)
			}
		})
	}
}

func TestLockout(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	dev := w.enroll("phone")
	wrong := func(i int) string {
		c := []byte("100000")
		c[5] = byte('0' + i)
		if string(c) == w.code(dev, 0) || string(c) == w.code(dev, -1) {
			c[4] = '9'
		}
		return string(c)
	}
	for i := range 4 {
		expect(t, w.login(ModeAppend, "pw,"+wrong(i), nil), Reject, ReasonBadPasscode)
	}
	t.Run("the same wrong code counts once", func(t *testing.T) {
		for range 5 {
			expect(t, w.login(ModeAppend, "pw,"+wrong(3), nil), Reject, ReasonBadPasscode)
		}
	})
	d := w.login(ModeAppend, "pw,"+wrong(4), nil)
	expect(t, d, Reject, ReasonLockedOut)
	if d.Message == "" {
		t.Error("a locked user is told so")
	}
	expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Reject, ReasonLockedOut)
	expect(t, w.login(ModeChallenge, "pw", nil), Reject, ReasonLockedOut)

	t.Run("the lock ends after its duration", func(t *testing.T) {
		w.advance(15*time.Minute + time.Second)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
	})
	t.Run("a success resets the count", func(t *testing.T) {
		for i := range 4 {
			expect(t, w.login(ModeAppend, "pw,"+wrong(i), nil), Reject, ReasonBadPasscode)
		}
		w.advance(30 * time.Second)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
		for i := range 4 {
			expect(t, w.login(ModeAppend, "pw,"+wrong(i), nil), Reject, ReasonBadPasscode)
		}
	})
	t.Run("an admin unlocks", func(t *testing.T) {
		expect(t, w.login(ModeAppend, "pw,"+wrong(5), nil), Reject, ReasonLockedOut)
		if ok, err := w.accounts.Unlock(context.Background(), "alice"); err != nil || !ok {
			t.Fatalf("Unlock: %v %v", ok, err)
		}
		w.advance(30 * time.Second)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
	})
}

// TestLockoutAudited: the wrong code that locks an account writes one
// audit event, as the node, with the cause and the end of the lock; the
// wrong codes before it write none.
func TestLockoutAudited(t *testing.T) {
	ctx := context.Background()
	cfg := defaultPasscodes()
	w := newSFWorld(t, cfg, Policy{}, nil)
	audit := cluster.NewAudit(w.store, 0)
	w.engine = NewEngine(w.dir, Policy{}, WithPasscodes(cfg, w.accounts, cluster.NewChallenges(w.store, w.keys)),
		WithAudit(audit, cluster.NodeActor("vpn3")), WithClock(w.now))
	dev := w.enroll("phone")
	wrong := "000000"
	if w.code(dev, 0) == wrong || w.code(dev, -1) == wrong || w.code(dev, 1) == wrong {
		wrong = "111111"
	}
	for i := range cfg.Lockout.Attempts {
		w.advance(time.Minute) // each in its own step: the same wrong code counts again
		d := w.login(ModeAppend, "pw,"+wrong, nil)
		events, err := audit.List(ctx, time.Time{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if i < cfg.Lockout.Attempts-1 {
			expect(t, d, Reject, ReasonBadPasscode)
			if len(events) != 0 {
				t.Fatalf("after %d wrong codes: got %+v, want no event", i+1, events)
			}
			continue
		}
		expect(t, d, Reject, ReasonLockedOut)
		until := w.now().Add(cfg.Lockout.Duration).UTC().Format(time.RFC3339)
		want := cluster.Event{Time: w.now(), Action: cluster.ActionUserLock, Actor: "node vpn3", User: "alice",
			Detail: fmt.Sprintf("cause failures (%d in a row), until %s", cfg.Lockout.Attempts, until)}
		if len(events) != 1 || events[0].Action != want.Action || events[0].Actor != want.Actor || events[0].User != want.User ||
			events[0].Detail != want.Detail || !events[0].Time.Equal(want.Time) {
			t.Fatalf("got %+v, want %+v", events, want)
		}
		if strings.Contains(events[0].Detail, wrong) {
			t.Errorf("the event shows the code: %+v", events[0])
		}
	}
}
