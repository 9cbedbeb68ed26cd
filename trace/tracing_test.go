package trace_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/trace"
)

// countingStore counts the calls made to the Store it wraps, and can be
// made to fail commits as an etcd that does not answer.
type countingStore struct {
	cluster.Store
	gets, lists, commits, watches atomic.Int64
	down                          atomic.Bool
}

func (s *countingStore) Get(ctx context.Context, key string) (cluster.Entry, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, key)
}

func (s *countingStore) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	s.lists.Add(1)
	return s.Store.List(ctx, prefix)
}

func (s *countingStore) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	s.commits.Add(1)
	if s.down.Load() {
		return 0, cluster.ErrUnavailable
	}
	return s.Store.Commit(ctx, txn)
}

func (s *countingStore) Watch(ctx context.Context, prefix string) <-chan cluster.WatchEvent {
	s.watches.Add(1)
	return s.Store.Watch(ctx, prefix)
}

// calls is every call made so far.
func (s *countingStore) calls() int64 {
	return s.gets.Load() + s.lists.Load() + s.commits.Load() + s.watches.Load()
}

// node is a Tracing running on a store, as a twostepd runs it.
type node struct {
	t     *trace.Tracing
	store *countingStore
	mem   *memstore.Store
	reg   *prometheus.Registry
	stop  func()
}

// startNode runs a Tracing named node-1 on a fresh memory store until
// the test ends.
func startNode(t *testing.T) *node {
	t.Helper()
	mem := memstore.New()
	store := &countingStore{Store: mem}
	reg := prometheus.NewRegistry()
	tr := trace.New(trace.Options{Store: store, Node: "node-1", Metrics: trace.NewMetrics(reg)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	n := &node{t: tr, store: store, mem: mem, reg: reg}
	n.stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
	t.Cleanup(n.stop)
	return n
}

// ask writes a trace request for user as twostepctl does, lasting d.
func (n *node) ask(t *testing.T, user, typed string, d time.Duration) *cluster.TraceRequest {
	t.Helper()
	r := &cluster.TraceRequest{User: user, Typed: typed, Since: time.Now(), Until: time.Now().Add(d), By: "test"}
	if err := cluster.NewTraces(n.mem).Ask(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// records returns the trace records written for user.
func (n *node) records(t *testing.T, user string) []cluster.TraceRecord {
	t.Helper()
	entries, err := n.mem.List(context.Background(), cluster.TraceEventsPrefix(user))
	if err != nil {
		t.Fatal(err)
	}
	var recs []cluster.TraceRecord
	for _, e := range entries {
		r, err := cluster.DecodeTraceRecord(e)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestTracedSetFollowsRequests: the users traced follow the requests in
// the store: asked, taken back, asked by the name users type.
func TestTracedSetFollowsRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		synctest.Wait()
		if r := n.t.Begin("id1", "alice"); r != nil || n.t.Traced() != 0 {
			t.Fatalf("no request: Begin %v, %d traced; want nil and 0", r, n.t.Traced())
		}

		n.ask(t, "Alice", "alice@corp.example", 10*time.Minute)
		synctest.Wait()
		if got := n.t.Traced(); got != 1 {
			t.Fatalf("asked: %d traced, want 1", got)
		}
		if v := testutil.ToFloat64(gauge(t, n.reg, "twostep_trace_active_users")); v != 1 {
			t.Errorf("twostep_trace_active_users %v, want 1", v)
		}
		for _, name := range []string{"alice", "ALICE", " alice ", "Alice@Corp.Example"} {
			r := n.t.Begin("id1", name)
			r.Step("policy", "require", "a step")
			r.End("", "")
		}
		if r := n.t.Begin("id2", "bob"); r == nil {
			t.Error("while a trace is active every request gets a tracer (bob's may turn out to be alice's)")
		} else {
			r.Step("policy", "require", "a step")
			r.End("", "bob")
		}
		n.stop()
		recs := n.records(t, "alice")
		if len(recs) != 4 {
			t.Fatalf("%d records of alice, want one per name she may type (4): %+v", len(recs), recs)
		}
		for _, r := range recs {
			if r.User != "alice" || r.Node != "node-1" || !r.Final || len(r.Events) != 1 {
				t.Errorf("record %+v: want alice's one final step on node-1", r)
			}
		}
		if recs := n.records(t, "bob"); len(recs) != 0 {
			t.Errorf("bob, whom nobody traces, has records: %+v", recs)
		}

		n = startNode(t)
		req := n.ask(t, "alice", "", 10*time.Minute)
		synctest.Wait()
		if err := cluster.NewTraces(n.mem).Stop(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if r := n.t.Begin("id3", "alice"); r != nil || n.t.Traced() != 0 {
			t.Errorf("taken back: Begin %v, %d traced; want nil and 0", r, n.t.Traced())
		}
	})
}

// TestTraceEndsAtItsEnd: a request whose end passed traces nobody, though
// its key is still there (a lease only cleans up).
func TestTraceEndsAtItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		n.ask(t, "alice", "", 30*time.Second)
		synctest.Wait()
		if n.t.Begin("id", "alice") == nil {
			t.Fatal("not traced while asked")
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if _, err := n.mem.Get(context.Background(), cluster.TraceRequestKey("alice")); err != nil {
			t.Fatalf("the request's key: %v; the test wants it still there (lease of %s)", err, cluster.TraceRequestTTL)
		}
		if r := n.t.Begin("id", "alice"); r != nil || n.t.Traced() != 0 {
			t.Errorf("past its end: Begin %v, %d traced; want nil and 0", r, n.t.Traced())
		}
		if v := testutil.ToFloat64(gauge(t, n.reg, "twostep_trace_active_users")); v != 0 {
			t.Errorf("twostep_trace_active_users %v, want 0", v)
		}
	})
}

// TestNoStoreCallsWithoutTrace: with no trace active, requests cost the
// store nothing: Begin returns nil, and the tracer's watch is the only
// call the node made. With a trace active, another user's requests cost
// nothing either, and the traced user's cost one write.
func TestNoStoreCallsWithoutTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		synctest.Wait()
		before := n.store.calls()
		for i := range 1000 {
			if r := n.t.Begin("id", "user"+string(rune('a'+i%26))); r != nil {
				t.Fatalf("request %d got a tracer with no trace active", i)
			}
		}
		synctest.Wait()
		if got := n.store.calls() - before; got != 0 {
			t.Fatalf("%d store calls for 1000 requests with no trace active, want 0", got)
		}

		n.ask(t, "alice", "", time.Minute)
		synctest.Wait()
		commits := n.store.commits.Load()
		before = n.store.calls()
		for range 100 {
			r := n.t.Begin("id", "bob")
			ctx := r.Context(context.Background())
			cluster.NewMeteredStore(n.store, nil).Get(ctx, "users/bob/lockout")
			r.Step("policy", "require", "")
			r.Flush()
			r.End("id", "bob")
		}
		synctest.Wait()
		// Each of bob's requests made its own Get, and nothing more.
		if got := n.store.calls() - before; got != 100 {
			t.Fatalf("%d store calls for bob's 100 requests (each with one Get of its own), want 100", got)
		}
		r := n.t.Begin("id", "alice")
		r.Step("policy", "require", "")
		r.End("id", "alice")
		synctest.Wait()
		if got := n.store.commits.Load() - commits; got != 1 {
			t.Errorf("%d commits for alice's one traced request, want 1", got)
		}
		if recs := n.records(t, "bob"); len(recs) != 0 {
			t.Errorf("bob's requests written: %+v", recs)
		}
	})
}

// TestCanonicalName: a request whose User-Name is not the traced name is
// traced when the directory names the traced user, with every step it
// kept meanwhile; store calls observed through its context are steps.
func TestCanonicalName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		n.ask(t, "alice", "", time.Minute)
		synctest.Wait()
		r := n.t.Begin("3f9ac21b5d7e", "ALICE@CORP")
		r.Packet("request", "Access-Request", func() []cluster.TraceAttribute {
			return []cluster.TraceAttribute{{Name: "User-Name", Value: `"ALICE@CORP"`}}
		})
		ctx := r.Context(context.Background())
		ms := cluster.NewMeteredStore(n.store, nil)
		ms.Get(ctx, "users/alice/lockout")
		ms.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "users/alice/used/d1"}}, Then: []cluster.Op{cluster.Put("users/alice/used/d1", []byte("1"))}})
		r.Continues("aaaabbbbcccc")
		r.End("", "alice")
		n.stop()
		recs := n.records(t, "alice")
		if len(recs) != 1 {
			t.Fatalf("%d records, want 1", len(recs))
		}
		rec := recs[0]
		if rec.ID != "aaaabbbbcccc" || rec.TypedUser != "ALICE@CORP" || len(rec.Events) != 3 {
			t.Fatalf("record %+v: want the login it continues, the name as typed, 3 steps", rec)
		}
		if e := rec.Events[0]; e.Kind != "request" || len(e.Attributes) != 1 {
			t.Errorf("first step %+v, want the request with its attribute", e)
		}
		if e := rec.Events[1]; e.Kind != "store" || e.Op != "get" || e.Result != "not_found" || e.Keys[0] != "users/alice/lockout" {
			t.Errorf("second step %+v, want the get of the lockout, not found", e)
		}
		if e := rec.Events[2]; e.Op != "commit" || e.Result != "ok" || !strings.Contains(e.Detail, "put users/alice/used/d1") || !strings.Contains(e.Detail, "if 1 revision") {
			t.Errorf("third step %+v, want the commit with its key and compare", e)
		}
	})
}

// TestFlushThenEnd: a request that waits hands over what came before the
// wait, then the rest with its answer; nothing is recorded after.
func TestFlushThenEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		n.ask(t, "alice", "", time.Minute)
		synctest.Wait()
		r := n.t.Begin("id", "alice")
		r.Step("push", "started", "push 1 to phone")
		r.Step("push", "waiting", "up to 9s")
		r.Flush()
		synctest.Wait()
		if recs := n.records(t, "alice"); len(recs) != 1 || recs[0].Final || recs[0].Part != 0 || len(recs[0].Events) != 2 {
			t.Fatalf("after the flush: %+v, want one part 0, not final, of 2 steps", recs)
		}
		r.Step("push", "approved", "phone answered")
		r.End("id", "alice")
		r.Step("push", "late", "after the end")
		n.stop()
		recs := n.records(t, "alice")
		if len(recs) != 2 || !recs[1].Final || recs[1].Part != 1 || len(recs[1].Events) != 1 || recs[1].Events[0].Result != "approved" {
			t.Fatalf("records %+v, want part 1, final, with the answer's one step", recs)
		}
	})
}

// TestDropsCounted: a store that does not answer drops the batch, and a
// request's steps beyond MaxEvents are dropped, each counted by cause;
// the request is never held.
func TestDropsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		n.ask(t, "alice", "", time.Minute)
		synctest.Wait()
		n.store.down.Store(true)
		r := n.t.Begin("id", "alice")
		for range trace.MaxEvents + 5 {
			r.Step("store", "ok", "")
		}
		r.End("id", "alice")
		synctest.Wait()
		dropped := func(cause string) float64 {
			return testutil.ToFloat64(counter(t, n.reg, "twostep_trace_events_dropped_total", cause))
		}
		if got := dropped(trace.CauseStoreUnavailable); got != trace.MaxEvents {
			t.Errorf("store_unavailable: %v, want %d", got, trace.MaxEvents)
		}
		if got := dropped(trace.CauseRequestFull); got != 5 {
			t.Errorf("request_full: %v, want 5", got)
		}
	})
}

// gauge finds the gauge name on reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collector(t, reg, name, "")
}

// counter finds name{cause} on reg.
func counter(t *testing.T, reg *prometheus.Registry, name, cause string) prometheus.Collector {
	t.Helper()
	return collector(t, reg, name, cause)
}

// collector returns a collector of the one series name (with cause, when
// given) as reg gathers it now.
func collector(t *testing.T, reg *prometheus.Registry, name, cause string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if cause != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != cause) {
				continue
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "copy"})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("no series %s{%s}", name, cause)
	return nil
}

// TestRecordsRateLimited: a flood of requests in a traced user's name
// writes at most a burst of records, then 20 a second; the rest is
// counted.
func TestRecordsRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := startNode(t)
		n.ask(t, "alice", "", time.Hour)
		synctest.Wait()
		login := func() {
			r := n.t.Begin("id", "alice")
			r.Step("first_factor", "bad_password", "")
			r.End("id", "alice")
			synctest.Wait() // written before the next, within the queue
		}
		for range 250 {
			login()
		}
		if got := len(n.records(t, "alice")); got != 200 {
			t.Errorf("%d records of a flood of 250, want the burst of 200", got)
		}
		if got := testutil.ToFloat64(counter(t, n.reg, "twostep_trace_events_dropped_total", trace.CauseRateLimited)); got != 50 {
			t.Errorf("rate_limited: %v events, want 50", got)
		}
		time.Sleep(time.Second)
		for range 30 {
			login()
		}
		if got := len(n.records(t, "alice")); got != 220 {
			t.Errorf("%d records a second later, want 20 more", got)
		}
	})
}
