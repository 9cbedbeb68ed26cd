package cluster_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/cluster/storetest"
	"twostep/internal/leakcheck"
)

// TestMeteredStoreConformance holds the decorator to the Store contract:
// counting changes nothing a caller sees.
func TestMeteredStoreConformance(t *testing.T) {
	leakcheck.Check(t)
	m := cluster.NewMetrics(prometheus.NewRegistry())
	storetest.Run(t, func(t *testing.T) cluster.Store { return cluster.NewMeteredStore(memstore.New(), m) })
}

func TestMeteredStoreCounts(t *testing.T) {
	leakcheck.Check(t)
	reg := prometheus.NewRegistry()
	m := cluster.NewMetrics(reg)
	s := cluster.NewMeteredStore(memstore.New(), m)
	ctx := t.Context()
	ops := func(op, result string) float64 {
		return seriesValue(t, reg, "twostep_cluster_operations_total", map[string]string{"operation": op, "result": result})
	}

	if _, err := s.Get(ctx, "missing"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	rev, err := s.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "k"}}, Then: []cluster.Op{cluster.Put("k", []byte("1"))}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "k"}}, Then: []cluster.Op{cluster.Put("k", []byte("2"))}}); !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("stale commit: got %v, want ErrConflict", err)
	}
	if _, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("", nil)}}); !errors.Is(err, cluster.ErrMalformed) {
		t.Fatalf("malformed commit: got %v, want ErrMalformed", err)
	}
	if _, err := s.List(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Get(done, "k"); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("ended context: got %v, want ErrUnavailable", err)
	}
	wctx, stop := context.WithCancel(ctx)
	w := s.Watch(wctx, "k")
	if ev := <-w; !ev.Created {
		t.Fatalf("first watch event %+v, want Created", ev)
	}
	if _, err := s.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: rev}}, Then: []cluster.Op{cluster.Delete("k")}}); err != nil {
		t.Fatal(err)
	}
	if ev := <-w; !ev.Deleted || ev.Entry.Key != "k" {
		t.Errorf("watch event %+v, want the delete of k", ev)
	}
	stop()
	for range w {
	}

	for _, c := range []struct {
		op, result string
		want       float64
	}{
		{"get", "not_found", 1}, {"get", "unavailable", 1}, {"get", "ok", 0},
		{"commit", "ok", 2}, {"commit", "conflict", 1}, {"commit", "error", 1},
		{"list", "ok", 1}, {"watch", "ok", 1}, {"watch", "unavailable", 0},
	} {
		if got := ops(c.op, c.result); got != c.want {
			t.Errorf("%s %s: got %v, want %v", c.op, c.result, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "twostep_cluster_operation_duration_seconds"); n != 4 {
		t.Errorf("latency histograms: got %d, want one per operation (4)", n)
	}
}

// TestRetryCountsConflicts: every conflict that Retry reads again after
// is counted, and only those; conflicts of an unmetered store are not.
func TestRetryCountsConflicts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := cluster.NewMetrics(reg)
	conflicts := func() float64 { return seriesValue(t, reg, "twostep_cluster_conflicts_retried_total", nil) }
	mem := memstore.New()
	s := cluster.NewMeteredStore(mem, m)
	ctx := t.Context()
	if _, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("n", []byte("0"))}}); err != nil {
		t.Fatal(err)
	}
	// Another writer changes n under the first three reads.
	interfere := 3
	_, err := cluster.Update(ctx, s, "bump n", func(ctx context.Context) (cluster.Txn, error) {
		e, err := s.Get(ctx, "n")
		if err != nil {
			return cluster.Txn{}, err
		}
		if interfere > 0 {
			interfere--
			if _, err := mem.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("n", []byte("other"))}}); err != nil {
				return cluster.Txn{}, err
			}
		}
		return cluster.Txn{If: []cluster.Compare{{Key: "n", ModRevision: e.ModRevision}}, Then: []cluster.Op{cluster.Put("n", []byte("mine"))}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := conflicts(); got != 3 {
		t.Errorf("conflicts retried: got %v, want 3", got)
	}

	// A conflict the deadline ends is not retried, so not counted.
	done, cancel := context.WithCancel(ctx)
	err = cluster.Retry(done, "give up", func(ctx context.Context) error {
		cancel()
		_, err := s.Commit(context.Background(), cluster.Txn{If: []cluster.Compare{{Key: "n"}}, Then: []cluster.Op{cluster.Put("n", []byte("x"))}})
		return err
	})
	if !errors.Is(err, cluster.ErrContended) {
		t.Fatalf("got %v, want ErrContended", err)
	}
	// Nor are the conflicts of a store that is not metered.
	n := 0
	_ = cluster.Retry(ctx, "bare", func(ctx context.Context) error {
		if n++; n < 3 {
			return cluster.ErrConflict
		}
		return nil
	})
	if got := conflicts(); got != 3 {
		t.Errorf("conflicts retried after a given-up and an unmetered run: got %v, want still 3", got)
	}
}

func TestSetUnavailable(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := cluster.NewMetrics(reg)
	for _, down := range []bool{true, false} {
		m.SetUnavailable(down)
		want := map[bool]float64{true: 1, false: 0}[down]
		if got := seriesValue(t, reg, "twostep_cluster_unavailable", nil); got != want {
			t.Errorf("SetUnavailable(%v): got %v, want %v", down, got, want)
		}
	}
	var none *cluster.Metrics
	none.SetUnavailable(true) // a nil Metrics counts nothing, and does not panic
}

// seriesValue is the value of the counter or gauge name with labels in
// reg; it fails t when there is none.
func seriesValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := lookupSeries(t, reg, name, labels)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

// lookupSeries is seriesValue reporting whether the series exists.
func lookupSeries(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}
