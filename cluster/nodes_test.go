package cluster_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// TestNodesClockOffset runs three nodes on one store, one clock 3 s
// ahead and one 1.5 s behind: each measures the others' offsets, with
// the sign of "ahead", and drops a node that leaves. synctest's clock
// makes the store's round trips zero, so the offsets are exact.
func TestNodesClockOffset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		skews := map[string]time.Duration{"a": 0, "b": 3 * time.Second, "c": -1500 * time.Millisecond}
		regs := map[string]*prometheus.Registry{}
		nodes := map[string]*cluster.Nodes{}
		stops := map[string]context.CancelFunc{}
		var wg sync.WaitGroup
		for _, name := range []string{"a", "b", "c"} {
			skew := skews[name]
			regs[name] = prometheus.NewRegistry()
			n := cluster.NewNodes(store, name, "v1.2.3", cluster.NewMetrics(regs[name]), func() time.Time { return time.Now().Add(skew) })
			nodes[name] = n
			ctx, stop := context.WithCancel(t.Context())
			stops[name] = stop
			wg.Go(func() { n.Run(ctx) })
		}
		// Every node has written twice, and seen the others' writes.
		time.Sleep(cluster.NodeInterval + time.Second)
		synctest.Wait()

		for self, n := range nodes {
			got := n.Offsets()
			for other, skew := range skews {
				if other == self {
					if _, ok := got[self]; ok {
						t.Errorf("%s measured itself", self)
					}
					continue
				}
				want := skew - skews[self]
				if got[other] != want {
					t.Errorf("%s's offset to %s: got %v, want %v", self, other, got[other], want)
				}
				gauge := seriesValue(t, regs[self], "twostep_cluster_clock_offset_seconds", map[string]string{"node": other})
				if gauge != want.Seconds() {
					t.Errorf("%s's twostep_cluster_clock_offset_seconds{node=%q}: got %v, want %v", self, other, gauge, want.Seconds())
				}
			}
		}
		e, err := store.Get(t.Context(), cluster.NodeKey("b"))
		if err != nil {
			t.Fatal(err)
		}
		var rec cluster.NodeRecord
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Name != "b" || rec.Version != "v1.2.3" || rec.Instance == "" || rec.Clock.IsZero() || rec.Started.IsZero() {
			t.Errorf("b's record: got %+v, want its name, version, instance, clock and start", rec)
		}

		// b leaves: its record goes, and the others drop it at once.
		stops["b"]()
		synctest.Wait()
		if _, err := store.Get(t.Context(), cluster.NodeKey("b")); err == nil {
			t.Error("b's record still there after it stopped")
		}
		for _, self := range []string{"a", "c"} {
			if _, ok := nodes[self].Offsets()["b"]; ok {
				t.Errorf("%s still has an offset to b after b left", self)
			}
			if _, ok := lookupSeries(t, regs[self], "twostep_cluster_clock_offset_seconds", map[string]string{"node": "b"}); ok {
				t.Errorf("%s still exports an offset to b after b left", self)
			}
		}
		stops["a"]()
		stops["c"]()
		wg.Wait()
		if es, err := store.List(t.Context(), "nodes/"); err != nil || len(es) != 0 {
			t.Errorf("records left after every node stopped: %v, %v", es, err)
		}
	})
}

// TestNodesForgetSilentNode: a node that stops writing without a delete
// (kill -9; a store whose TTLs report nothing) is dropped once it has
// been silent for three intervals.
func TestNodesForgetSilentNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := memstore.New()
		a := cluster.NewNodes(store, "a", "v1", nil, nil)
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		var wg sync.WaitGroup
		wg.Go(func() { a.Run(ctx) })
		synctest.Wait() // a's watch is in place
		rec, _ := json.Marshal(cluster.NodeRecord{Name: "ghost", Version: "v0", Clock: time.Now(), Instance: "x"})
		if _, err := store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(cluster.NodeKey("ghost"), rec)}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if _, ok := a.Offsets()["ghost"]; !ok {
			t.Fatal("a did not see ghost's record")
		}
		time.Sleep(4 * cluster.NodeInterval)
		synctest.Wait()
		if _, ok := a.Offsets()["ghost"]; ok {
			t.Error("a still has an offset to a node silent for four intervals")
		}
		stop()
		wg.Wait()
	})
}
