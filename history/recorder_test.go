package history_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/history"
	"twostep/internal/fakeclock"
	"twostep/internal/leakcheck"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// spyStore is the recorder's store: the cluster's History on the memory
// store, a gate that holds writes until the test opens it, and what it
// was asked, in order.
type spyStore struct {
	inner   history.Store
	gate    chan struct{} // writes wait until it is closed
	entered chan int      // a write's batch size, as it starts
	done    chan string   // "write N" or "trim USER", once finished
}

func newSpy(t *testing.T, store cluster.Store) *spyStore {
	t.Helper()
	keyFile, err := cluster.NewKeyFile(rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	close(gate)
	return &spyStore{inner: cluster.NewHistory(store, keys, 0), gate: gate,
		entered: make(chan int, 1000), done: make(chan string, 1000)}
}

func (s *spyStore) Write(ctx context.Context, recs []cluster.LoginRecord) error {
	s.entered <- len(recs)
	<-s.gate
	err := s.inner.Write(ctx, recs)
	s.done <- fmt.Sprint("write ", len(recs))
	return err
}

func (s *spyStore) Trim(ctx context.Context, user string, keep int) (int, error) {
	n, err := s.inner.Trim(ctx, user, keep)
	s.done <- "trim " + user
	return n, err
}

// await returns the next thing the store finished.
func (s *spyStore) await(t *testing.T) string {
	t.Helper()
	select {
	case e := <-s.done:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("the recorder did nothing for 10s")
	}
	return ""
}

// run starts the recorder's writer; it is shut down at the end.
func run(t *testing.T, r *history.Recorder) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func rec(user string, i int) cluster.LoginRecord {
	return cluster.LoginRecord{Time: t0.Add(time.Duration(i) * time.Second), ID: fmt.Sprintf("%012x", i), User: user,
		Client: "vpn", NASAddr: "192.0.2.10", Decision: "reject", Reason: "bad_password", Factor: "password"}
}

// value reads the series name (with the label value label, when not
// empty) from reg; -1 when it is not there.
func value(reg *prometheus.Registry, name, label string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return -1
}

func dropped(reg *prometheus.Registry, cause string) float64 {
	return value(reg, "twostep_history_records_dropped_total", cause)
}

func written(reg *prometheus.Registry) float64 {
	return value(reg, "twostep_history_records_written_total", "")
}

func newRecorder(t *testing.T, spy *spyStore, queue int, now func() time.Time) (*history.Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return history.New(history.Options{Config: history.Config{PerUser: 1000}, Store: spy, Node: "node1",
		Metrics: history.NewMetrics(reg), QueueSize: queue, Now: now}), reg
}

func TestRecorderBatches(t *testing.T) {
	leakcheck.Check(t)
	m := memstore.New()
	spy := newSpy(t, m)
	spy.gate = make(chan struct{})
	r, reg := newRecorder(t, spy, 0, nil)
	run(t, r)

	r.Record(rec("alice", 0))
	if n := <-spy.entered; n != 1 {
		t.Fatalf("first batch of %d, want 1", n)
	}
	// While that write waits on etcd, 300 more answers are sent.
	for i := 1; i <= 300; i++ {
		r.Record(rec(fmt.Sprint("user", i%7), i))
	}
	if got := value(reg, "twostep_history_queue_length", ""); got != 300 {
		t.Errorf("queue length %v, want 300", got)
	}
	close(spy.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for len(spy.entered) > 0 {
		sizes = append(sizes, <-spy.entered)
	}
	if want := []int{cluster.MaxTxnOps, cluster.MaxTxnOps, 300 - 2*cluster.MaxTxnOps}; !slices.Equal(sizes, want) {
		t.Errorf("then batches of %v, want %v (one transaction each, at most %d records)", sizes, want, cluster.MaxTxnOps)
	}
	if got := written(reg); got != 301 {
		t.Errorf("written %v, want 301", got)
	}
	entries, _ := m.List(context.Background(), "history/")
	if len(entries) != 301 {
		t.Errorf("%d records in the store, want 301", len(entries))
	}
	recs, err := cluster.NewHistory(m, nil, 0).List(context.Background(), cluster.LoginFilter{User: "alice"})
	if err != nil || len(recs) != 1 || recs[0].Node != "node1" {
		t.Errorf("alice's record: %+v, %v; want one, by node1", recs, err)
	}
	t.Run("after shutdown records are dropped", func(t *testing.T) {
		r.Record(rec("alice", 999))
		if got := dropped(reg, history.CauseShutdown); got != 1 {
			t.Errorf("dropped for shutdown: %v, want 1", got)
		}
	})
}

func TestRecorderQueueFull(t *testing.T) {
	leakcheck.Check(t)
	spy := newSpy(t, memstore.New())
	spy.gate = make(chan struct{})
	r, reg := newRecorder(t, spy, 4, nil)
	run(t, r)
	r.Record(rec("alice", 0))
	<-spy.entered // the writer holds one, waiting on etcd
	for i := 1; i <= 10; i++ {
		r.Record(rec("alice", i)) // never waits
	}
	if got := dropped(reg, history.CauseQueueFull); got != 6 {
		t.Errorf("dropped as queue_full: %v, want 6 (a queue of 4)", got)
	}
	close(spy.gate)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := written(reg); got != 5 {
		t.Errorf("written %v, want 5", got)
	}
}

// failingStore is a cluster store whose writes fail with err: etcd down,
// or refusing.
type failingStore struct {
	cluster.Store
	err error
}

func (f failingStore) Commit(context.Context, cluster.Txn) (int64, error) { return 0, f.err }

func TestRecorderStoreDown(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		cause string
	}{
		{"unreachable", fmt.Errorf("cluster: write: %w: context deadline exceeded", cluster.ErrUnavailable), history.CauseStoreUnavailable},
		{"refusing", errors.New("etcdserver: mvcc: database space exceeded"), history.CauseStoreError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			spy := newSpy(t, failingStore{Store: memstore.New(), err: tt.err})
			r, reg := newRecorder(t, spy, 0, nil)
			run(t, r)
			for i := range 5 {
				r.Record(rec("alice", i))
			}
			if err := r.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := dropped(reg, tt.cause); got != 5 {
				t.Errorf("dropped as %s: %v, want 5", tt.cause, got)
			}
			if got := written(reg); got != 0 {
				t.Errorf("written %v, want 0", got)
			}
		})
	}
}

// TestRecorderShutdownBound: a flush that etcd holds up past Shutdown's
// deadline gives up; ending Run's context drops what is left.
func TestRecorderShutdownBound(t *testing.T) {
	leakcheck.Check(t)
	spy := newSpy(t, memstore.New())
	spy.gate = make(chan struct{})
	r, reg := newRecorder(t, spy, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	r.Record(rec("alice", 0))
	<-spy.entered
	r.Record(rec("alice", 1))
	r.Record(rec("alice", 2))
	sctx, scancel := context.WithCancel(context.Background())
	scancel() // the grace period is spent
	if err := r.Shutdown(sctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want its context's error", err)
	}
	cancel()
	close(spy.gate)
	<-done
	if got := dropped(reg, history.CauseShutdown); got != 3 {
		t.Errorf("dropped at shutdown: %v, want 3", got)
	}
}

// dice is a rand source whose draws the test sets: IntN(n) gives 0 (a
// trim) while win is true, n-1 (none) otherwise.
type dice struct{ win atomic.Bool }

func (d *dice) Uint64() uint64 {
	if d.win.Load() {
		return 0
	}
	return math.MaxUint64
}

// TestRecorderTrims: a record trims its user when the dice say so, a
// user at most once a second per node.
func TestRecorderTrims(t *testing.T) {
	leakcheck.Check(t)
	m := memstore.New()
	spy := newSpy(t, m)
	clock := fakeclock.New(t0)
	d := &dice{}
	r := history.New(history.Options{Config: history.Config{PerUser: 8}, Store: spy, Node: "node1", Now: clock.Now, Rand: mrand.New(d)})
	run(t, r)
	count := func() int {
		recs, err := cluster.NewHistory(m, nil, 0).List(context.Background(), cluster.LoginFilter{User: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	write := func(i int, want ...string) {
		t.Helper()
		r.Record(rec("alice", i))
		<-spy.entered
		for _, w := range want {
			if e := spy.await(t); e != w {
				t.Fatalf("record %d: got %q, want %q", i, e, w)
			}
		}
	}
	for i := range 10 {
		write(i, "write 1") // the dice say no
	}
	if n := count(); n != 10 {
		t.Fatalf("%d records, want 10 (not trimmed)", n)
	}
	d.win.Store(true)
	write(10, "write 1", "trim alice")
	if n := count(); n != 8 {
		t.Errorf("%d records after the trim, want 8 (per_user)", n)
	}
	write(11, "write 1") // within the second: not again
	clock.Advance(time.Second)
	write(12, "write 1", "trim alice")
	if n := count(); n != 8 {
		t.Errorf("%d records after the second trim, want 8", n)
	}
}

// TestRecorderTrimOdds: with the real dice, a user written one record at
// a time is trimmed about once per per_user/4 of its records, and never
// holds many more than per_user.
func TestRecorderTrimOdds(t *testing.T) {
	leakcheck.Check(t)
	m := memstore.New()
	spy := newSpy(t, m)
	clock := fakeclock.New(t0)
	const perUser, records = 40, 2000 // 1 in 10
	r := history.New(history.Options{Config: history.Config{PerUser: perUser}, Store: spy, Node: "node1", Now: clock.Now,
		Rand: mrand.New(mrand.NewPCG(1, 2))})
	run(t, r)
	trims, most := 0, 0
	// Run takes the next record once the last one's write and trim are
	// done: when a record is seen entering, what came before is in done.
	drain := func() {
		for len(spy.done) > 0 {
			if <-spy.done == "trim alice" {
				trims++
			}
		}
	}
	for i := range records {
		clock.Advance(time.Second)
		r.Record(rec("alice", i))
		<-spy.entered
		drain()
		entries, _ := m.List(context.Background(), "history/users/alice/")
		most = max(most, len(entries))
	}
	r.Record(rec("bob", 0))
	<-spy.entered
	drain()
	if trims < records/10/2 || trims > records/10*2 {
		t.Errorf("%d trims for %d records, want about %d (1 in per_user/4)", trims, records, records/10)
	}
	if most > perUser+8*10 {
		t.Errorf("alice held %d records at most, want about %d and hardly beyond %d", most, perUser+10, perUser+8*10)
	}
}
