package challenge

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// compare fails t unless reg's series of the named families are want
// (the exposition format's sample lines).
func compare(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestPushMetrics(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	reg := prometheus.NewRegistry()
	WithMetrics(NewMetrics(reg))(w.nodes[0])
	pending := func() float64 { return testutil.ToFloat64(w.nodes[0].metrics.pending) }

	for _, answer := range []cluster.PushState{cluster.PushApproved, cluster.PushDenied} {
		done := w.phone(0, answer, "")
		w.login(0, w.request(ModeAppend, "pw,push", nil))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Unanswered: the login waits, counted as pending, until the NAS
	// would give up (2 s).
	ended := make(chan Decision, 1)
	go func() { ended <- w.login(0, w.request(ModeAppend, "pw,push", nil)) }()
	<-w.notifier.ch
	for deadline := time.Now().Add(10 * time.Second); pending() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("pending logins while one waits: got %v, want 1", pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
	expect(t, <-ended, Reject, ReasonPushTimeout)
	if got := pending(); got != 0 {
		t.Errorf("pending logins once none waits: got %v, want 0", got)
	}
	// "This wasn't me": the account is locked (fraud), and the next
	// login is refused for it.
	done := w.phone(0, cluster.PushFraud, "")
	w.login(0, w.request(ModeAppend, "pw,push", nil))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonLockedOut)

	compare(t, reg, `
# HELP twostep_push_answers_total Pushes that a login or a portal sign-in on this node waited on, by how they ended: approve, deny (a wrong number too), fraud ("This wasn't me") or timeout.
# TYPE twostep_push_answers_total counter
twostep_push_answers_total{decision="approve"} 1
twostep_push_answers_total{decision="deny"} 1
twostep_push_answers_total{decision="fraud"} 1
twostep_push_answers_total{decision="timeout"} 1
# HELP twostep_locks_total Accounts this node locked, by cause: failures (the lockout's count of wrong second factors reached) or fraud (a push answered "This wasn't me"); admin locks are twostepctl's.
# TYPE twostep_locks_total counter
twostep_locks_total{cause="failures"} 0
twostep_locks_total{cause="fraud"} 1
# HELP twostep_lockouts_total Logins and portal sign-ins refused because the account is locked, by the lock's cause (failures, fraud, admin).
# TYPE twostep_lockouts_total counter
twostep_lockouts_total{cause="admin"} 0
twostep_lockouts_total{cause="failures"} 0
twostep_lockouts_total{cause="fraud"} 1
`, "twostep_push_answers_total", "twostep_locks_total", "twostep_lockouts_total")
}

func TestLockoutMetrics(t *testing.T) {
	cfg := defaultPasscodes()
	cfg.Lockout = cluster.LockoutPolicy{Attempts: 3, Duration: time.Hour}
	w := newSFWorld(t, cfg, Policy{}, memstore.New())
	dev := w.enroll("phone")
	reg := prometheus.NewRegistry()
	WithMetrics(NewMetrics(reg))(w.engine)

	expect(t, w.login(ModeAppend, "pw,000001", nil), Reject, ReasonBadPasscode)
	expect(t, w.login(ModeAppend, "pw,000002", nil), Reject, ReasonBadPasscode)
	expect(t, w.login(ModeAppend, "pw,000003", nil), Reject, ReasonLockedOut) // this one locks
	expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Reject, ReasonLockedOut)
	if _, err := w.engine.PortalPasscode(context.Background(), "alice", w.code(dev, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.accounts.Lock(context.Background(), "alice", cluster.LockAdmin, w.now()); err != nil {
		t.Fatal(err)
	}
	expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Reject, ReasonLockedOut)

	compare(t, reg, `
# HELP twostep_locks_total Accounts this node locked, by cause: failures (the lockout's count of wrong second factors reached) or fraud (a push answered "This wasn't me"); admin locks are twostepctl's.
# TYPE twostep_locks_total counter
twostep_locks_total{cause="failures"} 1
twostep_locks_total{cause="fraud"} 0
# HELP twostep_lockouts_total Logins and portal sign-ins refused because the account is locked, by the lock's cause (failures, fraud, admin).
# TYPE twostep_lockouts_total counter
twostep_lockouts_total{cause="admin"} 1
twostep_lockouts_total{cause="failures"} 3
twostep_lockouts_total{cause="fraud"} 0
`, "twostep_locks_total", "twostep_lockouts_total")
}
