package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/internal/fakeclock"
	"twostep/internal/leakcheck"
)

func TestAuditExportClaim(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	store := memstore.New()
	a := cluster.NewAuditExport(store, "node-a", clock.Now)
	b := cluster.NewAuditExport(store, "node-b", clock.Now)

	held, cursor, err := a.Claim(ctx)
	if err != nil || !held || cursor == 0 {
		t.Fatalf("A's first claim: %v, %d, %v; want held, from the revision it was taken at", held, cursor, err)
	}
	if held, _, err := b.Claim(ctx); err != nil || held {
		t.Fatalf("B's claim while A holds it: %v, %v; want not held", held, err)
	}
	if !a.HeldUntil().Equal(clock.Now().Add(cluster.AuditExportTerm)) || !b.HeldUntil().IsZero() {
		t.Errorf("held until: A %v, B %v; want a term from now, and zero", a.HeldUntil(), b.HeldUntil())
	}

	t.Run("A's cursor is B's after A's term", func(t *testing.T) {
		clock.Advance(cluster.AuditExportRenew)
		if held, err := a.Advance(ctx, cursor+5); err != nil || !held {
			t.Fatalf("A renews: %v, %v", held, err)
		}
		clock.Advance(cluster.AuditExportTerm - time.Nanosecond)
		if held, _, _ := b.Claim(ctx); held {
			t.Fatal("B took the claim before A's term ended")
		}
		clock.Advance(time.Nanosecond)
		held, got, err := b.Claim(ctx)
		if err != nil || !held || got != cursor+5 {
			t.Fatalf("B after A's term: %v, %d, %v; want held from A's cursor %d", held, got, err, cursor+5)
		}
		// A, back from a stall, cannot move the cursor: it learns it lost.
		if held, err := a.Advance(ctx, cursor+9); err != nil || held {
			t.Fatalf("A renews after B took over: %v, %v; want lost", held, err)
		}
		if held, _, _ := a.Claim(ctx); held {
			t.Fatal("A took B's claim back")
		}
	})
	t.Run("released, at once with its cursor", func(t *testing.T) {
		if err := b.Release(ctx, cursor+7); err != nil {
			t.Fatal(err)
		}
		held, got, err := a.Claim(ctx)
		if err != nil || !held || got != cursor+7 {
			t.Fatalf("A after B released: %v, %d, %v; want held from %d", held, got, err, cursor+7)
		}
		if held, err := b.Advance(ctx, cursor+8); held || err != nil {
			t.Errorf("B renews what it released: %v, %v", held, err)
		}
	})
	t.Run("a restarted holder takes its own claim back", func(t *testing.T) {
		again := cluster.NewAuditExport(store, "node-a", clock.Now)
		held, got, err := again.Claim(ctx)
		if err != nil || !held || got != cursor+7 {
			t.Fatalf("node-a restarted: %v, %d, %v; want held from %d", held, got, err, cursor+7)
		}
	})
}

// TestAuditExportFirstHolderDies: a first holder that dies before it
// writes a cursor leaves its successor the revision it took the claim
// at, not the start of the trail.
func TestAuditExportFirstHolderDies(t *testing.T) {
	ctx := context.Background()
	clock := fakeclock.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	store := memstore.New()
	audit := cluster.NewAudit(store, 0)
	if err := audit.Record(ctx, cluster.Event{Time: clock.Now(), Action: "user.lock", Actor: "twostepctl root@h", User: "old"}); err != nil {
		t.Fatal(err)
	}
	_, first, err := cluster.NewAuditExport(store, "node-a", clock.Now).Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(cluster.AuditExportTerm)
	held, got, err := cluster.NewAuditExport(store, "node-b", clock.Now).Claim(ctx)
	if err != nil || !held || got != first {
		t.Fatalf("B: %v, %d, %v; want held from A's %d", held, got, err, first)
	}
}

// lossyStore is a store whose watches the test can end, as etcd does when
// a member loses its leader, and whose next watch waits until the test
// lets it start.
type lossyStore struct {
	cluster.Store
	mu   sync.Mutex
	lose chan struct{} // closing it ends the current watch
	gate chan struct{} // a watch starts once it is closed
}

func (s *lossyStore) Watch(ctx context.Context, prefix string) <-chan cluster.WatchEvent {
	s.mu.Lock()
	lose, gate := s.lose, s.gate
	s.mu.Unlock()
	out := make(chan cluster.WatchEvent)
	go func() {
		defer close(out)
		select {
		case <-gate:
		case <-ctx.Done():
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		in := s.Store.Watch(wctx, prefix)
		for {
			select {
			case <-lose:
				return
			case ev, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- ev:
				case <-lose:
					return
				}
			}
		}
	}()
	return out
}

// loseWatch ends the current watch; the next one waits for openWatch.
func (s *lossyStore) loseWatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.lose)
	s.lose, s.gate = make(chan struct{}), make(chan struct{})
}

func (s *lossyStore) openWatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.gate)
}

func TestAuditFollow(t *testing.T) {
	leakcheck.Check(t)
	ctx := context.Background()
	gate := make(chan struct{})
	close(gate)
	store := &lossyStore{Store: memstore.New(), lose: make(chan struct{}), gate: gate}
	audit := cluster.NewAudit(store, 0)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	record := func(user string) {
		t.Helper()
		// Recorded out of time order: the trail follows revisions.
		at = at.Add(-time.Second)
		if err := audit.Record(ctx, cluster.Event{Time: at, Action: "user.lock", Actor: "twostepctl root@h", User: user}); err != nil {
			t.Fatal(err)
		}
	}
	record("before")
	_, after, err := cluster.NewAuditExport(store, "n", nil).Claim(ctx)
	if err != nil {
		t.Fatal(err)
	}
	record("u1")
	record("u2")
	if _, err := store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("audit/garbage", []byte("{"))}}); err != nil {
		t.Fatal(err)
	}

	// follow runs Follow from after; next takes what it sent.
	follow := func(ctx context.Context, after int64) (chan cluster.AuditEntry, chan error) {
		out := make(chan cluster.AuditEntry, 100)
		done := make(chan error, 1)
		go func() { done <- audit.Follow(ctx, after, out) }()
		return out, done
	}
	next := func(out chan cluster.AuditEntry) string {
		t.Helper()
		select {
		case e := <-out:
			if e.Revision <= after {
				t.Errorf("entry at revision %d, after %d", e.Revision, after)
			}
			after = e.Revision
			if e.Err != nil {
				return "malformed"
			}
			return e.Event.User
		case <-time.After(10 * time.Second):
			t.Fatal("Follow sent nothing for 10s")
		}
		return ""
	}
	until := func(done chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Follow did not return for 10s")
		}
		return nil
	}

	out, done := follow(ctx, after)
	var got []string
	for range 3 {
		got = append(got, next(out))
	}
	record("u3") // written while it follows
	got = append(got, next(out))
	if fmt.Sprint(got) != "[u1 u2 malformed u3]" {
		t.Errorf("followed %v, want [u1 u2 malformed u3]: after the claim, in revision order", got)
	}
	store.loseWatch()
	if err := until(done); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Follow after a lost watch: %v; want the loss", err)
	}

	// While nobody follows, two more are written; following again from
	// the last revision taken sends those and nothing twice.
	record("u4")
	record("u5")
	cctx, cancel := context.WithCancel(ctx)
	out, done = follow(cctx, after)
	store.openWatch()
	got = []string{next(out), next(out)}
	record("u6")
	got = append(got, next(out))
	cancel()
	if err := until(done); !errors.Is(err, context.Canceled) || !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Follow after its ctx ended: %v", err)
	}
	if fmt.Sprint(got) != "[u4 u5 u6]" || len(out) != 0 {
		t.Errorf("followed again %v (and %d more), want [u4 u5 u6]", got, len(out))
	}
}

// TestAuditFollowOneTransaction: the events one transaction writes (a
// revoke of every code of a user) share its revision, and Follow sends
// every one of them, from its List and from its watch.
func TestAuditFollowOneTransaction(t *testing.T) {
	leakcheck.Check(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memstore.New()
	audit := cluster.NewAudit(store, 0)
	put := func(users ...string) {
		t.Helper()
		var txn cluster.Txn
		for i, u := range users {
			v := fmt.Sprintf(`{"time":"2026-12-01T10:00:0%dZ","action":"bypass.revoke","actor":"twostepctl root@h","user":%q,"nonce":"n%d"}`, i, u, i)
			txn.Then = append(txn.Then, cluster.Put(fmt.Sprintf("audit/20261201T10000%dZ-%s", i, u), []byte(v)))
		}
		if _, err := store.Commit(ctx, txn); err != nil {
			t.Fatal(err)
		}
	}
	put("a1", "a2", "a3") // before Follow: its List
	out := make(chan cluster.AuditEntry, 100)
	done := make(chan error, 1)
	go func() { done <- audit.Follow(ctx, 0, out) }()
	var got []string
	take := func(n int) {
		t.Helper()
		for range n {
			select {
			case e := <-out:
				got = append(got, e.Event.User)
			case <-time.After(10 * time.Second):
				t.Fatalf("Follow sent %v, then nothing for 10s", got)
			}
		}
	}
	take(3)
	put("b1", "b2", "b3") // while it follows: its watch
	take(3)
	cancel()
	<-done
	slices.Sort(got)
	if fmt.Sprint(got) != "[a1 a2 a3 b1 b2 b3]" {
		t.Errorf("followed %v, want every event of both transactions once", got)
	}
	select {
	case e := <-out:
		t.Errorf("an event sent twice: %+v", e)
	default:
	}
}
