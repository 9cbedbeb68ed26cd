// Package storetest is the conformance suite of cluster.Store: every
// implementation (the memory twin, etcd) runs it, so code tested against
// one behaves the same on the other.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
)

// Run runs the suite against the stores open returns. open must return a
// fresh, empty store (or one under a prefix no other call shares) and
// register its cleanup with t. The subtests run in parallel, so open is
// called concurrently.
func Run(t *testing.T, open func(t *testing.T) cluster.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cluster.Store)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"ListRawPrefix", testListRawPrefix},
		{"CreateIfAbsent", testCreateIfAbsent},
		{"StaleCompareWritesNothing", testStaleCompareWritesNothing},
		{"DeleteWithCompare", testDeleteWithCompare},
		{"DeleteAbsent", testDeleteAbsent},
		{"CompareOnly", testCompareOnly},
		{"RevisionsIncrease", testRevisionsIncrease},
		{"ConcurrentIncrement", testConcurrentIncrement},
		{"ValuesCopied", testValuesCopied},
		{"OddKeys", testOddKeys},
		{"InvalidTxn", testInvalidTxn},
		{"TTL", testTTL},
		{"CanceledContext", testCanceledContext},
		{"Watch", testWatch},
		{"WatchEndsWithContext", testWatchEndsWithContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ctx bounds a call, so a store that hangs fails its subtest instead of
// stalling the whole run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustCommit(t *testing.T, s cluster.Store, txn cluster.Txn) int64 {
	t.Helper()
	rev, err := s.Commit(ctx(t), txn)
	if err != nil {
		t.Fatalf("Commit(%+v): %v", txn, err)
	}
	return rev
}

func mustGet(t *testing.T, s cluster.Store, key string) cluster.Entry {
	t.Helper()
	e, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return e
}

func wantAbsent(t *testing.T, s cluster.Store, key string) {
	t.Helper()
	if e, err := s.Get(ctx(t), key); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("Get(%q): got %q, %v; want ErrNotFound", key, e.Value, err)
	}
}

func wantValue(t *testing.T, s cluster.Store, key, value string) cluster.Entry {
	t.Helper()
	e := mustGet(t, s, key)
	if string(e.Value) != value {
		t.Fatalf("Get(%q): got %q, want %q", key, e.Value, value)
	}
	return e
}

func keys(es []cluster.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func testGetMissing(t *testing.T, s cluster.Store) {
	if _, err := s.Get(ctx(t), "users/nobody"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("Get of a missing key: got %v, want ErrNotFound", err)
	}
	es, err := s.List(ctx(t), "users/")
	if err != nil || len(es) != 0 {
		t.Fatalf("List of an empty store: got %q, %v; want nothing", keys(es), err)
	}
}

func testPutGet(t *testing.T, s cluster.Store) {
	rev := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("users/alice/profile", []byte("v1"))}})
	e := wantValue(t, s, "users/alice/profile", "v1")
	if e.Key != "users/alice/profile" {
		t.Errorf("Key: got %q, want %q", e.Key, "users/alice/profile")
	}
	if e.ModRevision <= 0 || e.ModRevision != rev {
		t.Errorf("ModRevision: got %d, want the commit's revision %d (> 0)", e.ModRevision, rev)
	}
	// An empty value is a value, not an absent key.
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("users/alice/empty", nil)}})
	wantValue(t, s, "users/alice/empty", "")
}

func testListRawPrefix(t *testing.T, s cluster.Store) {
	all := []string{"other", "users/a", "users/a/x", "users/a/y", "users/ab", "users/b"}
	var ops []cluster.Op
	for _, k := range slices.Backward(all) { // written out of order on purpose
		ops = append(ops, cluster.Put(k, []byte("v:"+k)))
	}
	mustCommit(t, s, cluster.Txn{Then: ops})

	tests := []struct {
		prefix string
		want   []string
	}{
		// The prefix is raw bytes, not a path: "users/a" matches
		// "users/ab" too. Callers end directory prefixes with "/".
		{"users/a", []string{"users/a", "users/a/x", "users/a/y", "users/ab"}},
		{"users/a/", []string{"users/a/x", "users/a/y"}},
		{"users/", []string{"users/a", "users/a/x", "users/a/y", "users/ab", "users/b"}},
		{"", all},
		{"users/c", nil},
	}
	for _, tt := range tests {
		es, err := s.List(ctx(t), tt.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tt.prefix, err)
		}
		if got := keys(es); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q): got %q, want %q", tt.prefix, got, tt.want)
		}
		for _, e := range es {
			if string(e.Value) != "v:"+e.Key || e.ModRevision <= 0 {
				t.Errorf("List(%q): entry %q = %q at %d", tt.prefix, e.Key, e.Value, e.ModRevision)
			}
		}
	}
}

func testCreateIfAbsent(t *testing.T, s cluster.Store) {
	create := func(v string) error {
		_, err := s.Commit(ctx(t), cluster.Txn{
			If:   []cluster.Compare{{Key: "users/bob/profile", ModRevision: 0}},
			Then: []cluster.Op{cluster.Put("users/bob/profile", []byte(v)), cluster.Put("users/bob/log/"+v, []byte(v))},
		})
		return err
	}
	if err := create("first"); err != nil {
		t.Fatalf("first create: %v", err)
	}
	if err := create("second"); !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("second create: got %v, want ErrConflict", err)
	}
	wantValue(t, s, "users/bob/profile", "first")
	wantAbsent(t, s, "users/bob/log/second")
}

// testStaleCompareWritesNothing checks atomicity across keys: a Txn with
// one stale Compare applies none of its ops.
func testStaleCompareWritesNothing(t *testing.T, s cluster.Store) {
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("a", []byte("a1")), cluster.Put("b", []byte("b1"))}})
	a1, b1 := mustGet(t, s, "a"), mustGet(t, s, "b")
	mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: "a", ModRevision: a1.ModRevision}}, Then: []cluster.Op{cluster.Put("a", []byte("a2"))}})

	_, err := s.Commit(ctx(t), cluster.Txn{
		If: []cluster.Compare{
			{Key: "b", ModRevision: b1.ModRevision}, // holds
			{Key: "a", ModRevision: a1.ModRevision}, // stale
		},
		Then: []cluster.Op{
			cluster.Put("a", []byte("a3")),
			cluster.Delete("b"),
			cluster.Put("c", []byte("c1")),
			{Key: "d", Value: []byte("d1"), TTL: time.Hour},
		},
	})
	if !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("Commit with a stale compare: got %v, want ErrConflict", err)
	}
	wantValue(t, s, "a", "a2")
	if b := wantValue(t, s, "b", "b1"); b.ModRevision != b1.ModRevision {
		t.Errorf("b ModRevision: got %d, want %d", b.ModRevision, b1.ModRevision)
	}
	wantAbsent(t, s, "c")
	wantAbsent(t, s, "d")
}

func testDeleteWithCompare(t *testing.T, s cluster.Store) {
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v1"))}})
	e1 := mustGet(t, s, "k")
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v2"))}})

	_, err := s.Commit(ctx(t), cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: e1.ModRevision}}, Then: []cluster.Op{cluster.Delete("k")}})
	if !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("delete on a stale revision: got %v, want ErrConflict", err)
	}
	e2 := wantValue(t, s, "k", "v2")
	mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: e2.ModRevision}}, Then: []cluster.Op{cluster.Delete("k")}})
	wantAbsent(t, s, "k")
	// Absent now: the last revision no longer holds, 0 does.
	if _, err := s.Commit(ctx(t), cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: e2.ModRevision}}}); !errors.Is(err, cluster.ErrConflict) {
		t.Errorf("compare on a deleted key's revision: got %v, want ErrConflict", err)
	}
	mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: 0}}, Then: []cluster.Op{cluster.Put("k", []byte("v3"))}})
	wantValue(t, s, "k", "v3")
}

func testDeleteAbsent(t *testing.T, s cluster.Store) {
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Delete("never")}})
	wantAbsent(t, s, "never")
}

// testCompareOnly: a Txn without ops checks revisions consistently.
func testCompareOnly(t *testing.T, s cluster.Store) {
	rev := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v"))}})
	got := mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: rev}, {Key: "absent", ModRevision: 0}}})
	if got < rev {
		t.Errorf("compare-only Commit: got revision %d, want at least %d", got, rev)
	}
	if _, err := s.Commit(ctx(t), cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: rev + 1000}}}); !errors.Is(err, cluster.ErrConflict) {
		t.Errorf("failing compare-only Commit: got %v, want ErrConflict", err)
	}
}

func testRevisionsIncrease(t *testing.T, s cluster.Store) {
	var last int64
	for i := range 5 {
		y := fmt.Sprintf("y/%d", i)
		rev := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{
			cluster.Put("x", fmt.Appendf(nil, "x%d", i)),
			cluster.Put(y, []byte("y")),
		}})
		if rev <= last {
			t.Fatalf("commit %d: revision %d after %d, want strictly increasing", i, rev, last)
		}
		last = rev
		// Every key of one commit carries the commit's revision.
		for _, k := range []string{"x", y} {
			if e := mustGet(t, s, k); e.ModRevision != rev {
				t.Errorf("commit %d: %q ModRevision %d, want %d", i, k, e.ModRevision, rev)
			}
		}
	}
}

// testConcurrentIncrement races read-compare-write increments of one
// counter: every success counts exactly once, at its own revision.
func testConcurrentIncrement(t *testing.T, s cluster.Store) {
	const workers, rounds = 50, 20
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("counter", []byte("0"))}})

	var (
		mu        sync.Mutex
		successes = map[int64]int{} // revision -> value written
		wg        sync.WaitGroup
		errs      = make(chan error, workers*rounds)
		c         = ctx(t)
	)
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				e, err := s.Get(c, "counter")
				if err != nil {
					errs <- fmt.Errorf("worker %d: Get: %w", w, err)
					return
				}
				var n int
				if _, err := fmt.Sscan(string(e.Value), &n); err != nil {
					errs <- fmt.Errorf("worker %d: counter %q: %w", w, e.Value, err)
					return
				}
				runtime.Gosched() // let others race between read and write
				rev, err := s.Commit(c, cluster.Txn{
					If:   []cluster.Compare{{Key: "counter", ModRevision: e.ModRevision}},
					Then: []cluster.Op{cluster.Put("counter", fmt.Appendf(nil, "%d", n+1))},
				})
				switch {
				case errors.Is(err, cluster.ErrConflict):
				case err != nil:
					errs <- fmt.Errorf("worker %d: Commit: %w", w, err)
					return
				default:
					mu.Lock()
					if prev, dup := successes[rev]; dup {
						errs <- fmt.Errorf("worker %d: revision %d returned twice (values %d and %d)", w, rev, prev, n+1)
					}
					successes[rev] = n + 1
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(successes) == 0 {
		t.Fatal("no increment succeeded")
	}
	final := wantValue(t, s, "counter", fmt.Sprint(len(successes)))
	if successes[final.ModRevision] != len(successes) {
		t.Errorf("final value %q at revision %d, but that commit wrote %d", final.Value, final.ModRevision, successes[final.ModRevision])
	}
	t.Logf("%d of %d increments succeeded", len(successes), workers*rounds)
}

func testValuesCopied(t *testing.T, s cluster.Store) {
	in := []byte("secret")
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("k", in)}})
	in[0] = 'X'
	got := wantValue(t, s, "k", "secret")
	got.Value[0] = 'Y'
	wantValue(t, s, "k", "secret")
	es, err := s.List(ctx(t), "k")
	if err != nil || len(es) != 1 {
		t.Fatalf("List(k): got %q, %v; want one entry", keys(es), err)
	}
	es[0].Value[0] = 'Z'
	wantValue(t, s, "k", "secret")
}

func testOddKeys(t *testing.T, s cluster.Store) {
	odd := []string{
		"users/al ice/profile",
		"users/100%/profile",
		"users/%2F/profile",
		"users/jürgen/profile",
		"users/名前/profile",
		"users/a//b",
		"users/tab\there",
	}
	for _, k := range odd {
		mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: k}}, Then: []cluster.Op{cluster.Put(k, []byte(k))}})
		wantValue(t, s, k, k)
	}
	es, err := s.List(ctx(t), "users/")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(odd)
	slices.Sort(want) // byte order, as etcd sorts
	if got := keys(es); !slices.Equal(got, want) {
		t.Errorf("List(users/): got %q, want %q", got, want)
	}
}

// testInvalidTxn: what etcd refuses, every store refuses, writing nothing.
func testInvalidTxn(t *testing.T, s cluster.Store) {
	tests := []struct {
		name string
		txn  cluster.Txn
	}{
		{"same key twice", cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("1")), cluster.Put("k", []byte("2"))}}},
		{"put and delete one key", cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("1")), cluster.Delete("k")}}},
		{"empty key", cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("1")), cluster.Put("", []byte("2"))}}},
		{"empty compare key", cluster.Txn{If: []cluster.Compare{{Key: ""}}, Then: []cluster.Op{cluster.Put("k", []byte("1"))}}},
	}
	for _, tt := range tests {
		_, err := s.Commit(ctx(t), tt.txn)
		if err == nil || errors.Is(err, cluster.ErrConflict) || errors.Is(err, cluster.ErrUnavailable) {
			t.Errorf("%s: got %v, want an invalid-txn error", tt.name, err)
		}
		wantAbsent(t, s, "k")
	}
}

// testTTL: a TTL op goes away by itself; a later put without a TTL keeps
// its key. etcd rounds TTLs up to whole seconds, raises them to its
// minimum (2 s by default) and expires leases on a 500 ms tick, hence the
// polling.
func testTTL(t *testing.T, s cluster.Store) {
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{
		{Key: "ttl/gone", Value: []byte("v"), TTL: time.Second},
		{Key: "ttl/kept", Value: []byte("v"), TTL: time.Second},
		cluster.Put("ttl/plain", []byte("v")),
	}})
	wantValue(t, s, "ttl/gone", "v")
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("ttl/kept", []byte("v2"))}})

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get(ctx(t), "ttl/gone")
		if errors.Is(err, cluster.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("ttl/gone still there 10s after its 1s TTL")
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantValue(t, s, "ttl/kept", "v2")
	wantValue(t, s, "ttl/plain", "v")
	// An expired key compares as absent.
	mustCommit(t, s, cluster.Txn{If: []cluster.Compare{{Key: "ttl/gone"}}, Then: []cluster.Op{cluster.Put("ttl/gone", []byte("again"))}})
	wantValue(t, s, "ttl/gone", "again")
}

func testCanceledContext(t *testing.T, s cluster.Store) {
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	check := func(op string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s with a canceled context: got success, want an error", op)
		case !errors.Is(err, cluster.ErrUnavailable) || !errors.Is(err, context.Canceled):
			t.Errorf("%s with a canceled context: got %v, want ErrUnavailable and context.Canceled", op, err)
		}
	}
	_, err := s.Get(c, "k")
	check("Get", err)
	_, err = s.List(c, "")
	check("List", err)
	_, err = s.Commit(c, cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v"))}})
	check("Commit", err)
	wantAbsent(t, s, "k")
}

// nextEvent reads one event from ch or fails after 10 s.
func nextEvent(t *testing.T, ch <-chan cluster.WatchEvent) cluster.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	panic("unreachable")
}

func testWatch(t *testing.T, s cluster.Store) {
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("w/before", []byte("old"))}})
	ch := s.Watch(c, "w/")
	if ev := nextEvent(t, ch); !ev.Created {
		t.Fatalf("first event %+v, want Created", ev)
	}
	r1 := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("w/a", []byte("1"))}})
	mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("other", []byte("x"))}}) // outside the prefix
	r2 := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("w/a", []byte("2")), cluster.Put("w/b", []byte("3"))}})
	r3 := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Delete("w/before")}})
	want := []struct {
		key, value string
		rev        int64
		deleted    bool
	}{{"w/a", "1", r1, false}, {"w/a", "2", r2, false}, {"w/b", "3", r2, false}, {"w/before", "", r3, true}}
	for _, w := range want {
		ev := nextEvent(t, ch)
		if ev.Created || ev.Entry.Key != w.key || string(ev.Entry.Value) != w.value || ev.Entry.ModRevision != w.rev || ev.Deleted != w.deleted {
			t.Fatalf("got event %+v (value %q), want %s=%q at %d deleted=%v", ev, ev.Entry.Value, w.key, w.value, w.rev, w.deleted)
		}
	}
	// A compare that fails reports nothing.
	if _, err := s.Commit(ctx(t), cluster.Txn{If: []cluster.Compare{{Key: "w/a", ModRevision: 1}}, Then: []cluster.Op{cluster.Put("w/a", []byte("no"))}}); !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("stale compare: %v", err)
	}
	r4 := mustCommit(t, s, cluster.Txn{Then: []cluster.Op{cluster.Put("w/c", []byte("4"))}})
	if ev := nextEvent(t, ch); ev.Entry.Key != "w/c" || ev.Entry.ModRevision != r4 {
		t.Fatalf("got %+v after a failed compare, want w/c at %d", ev, r4)
	}
}

func testWatchEndsWithContext(t *testing.T, s cluster.Store) {
	c, cancel := context.WithCancel(ctx(t))
	ch := s.Watch(c, "w/")
	nextEvent(t, ch)
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch channel still open 10s after its context ended")
		}
	}
}
