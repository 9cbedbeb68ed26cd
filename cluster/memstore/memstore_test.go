package memstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/cluster/storetest"
	"twostep/internal/fakeclock"
	"twostep/internal/leakcheck"
)

func TestMemoryConformance(t *testing.T) {
	leakcheck.Check(t)
	storetest.Run(t, func(t *testing.T) cluster.Store { return memstore.New() })
}

func TestMemoryTTLExact(t *testing.T) {
	clock := fakeclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	m := memstore.New(memstore.WithClock(clock.Now))
	ctx := t.Context()
	if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{{Key: "k", Value: []byte("v"), TTL: 30 * time.Second}}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30*time.Second - time.Nanosecond)
	if _, err := m.Get(ctx, "k"); err != nil {
		t.Fatalf("1ns before the TTL: got %v, want the key", err)
	}
	if es, _ := m.List(ctx, ""); len(es) != 1 {
		t.Fatalf("1ns before the TTL: List got %d entries, want 1", len(es))
	}
	clock.Advance(time.Nanosecond)
	if _, err := m.Get(ctx, "k"); !errors.Is(err, cluster.ErrNotFound) {
		t.Fatalf("at the TTL: got %v, want ErrNotFound", err)
	}
	if es, _ := m.List(ctx, ""); len(es) != 0 {
		t.Fatalf("at the TTL: List got %d entries, want 0", len(es))
	}
}

// TestMemoryRevisions pins the etcd-like counter: a fresh store is at 1,
// each Commit that changes something adds exactly one, others add none.
func TestMemoryRevisions(t *testing.T) {
	m := memstore.New()
	tests := []struct {
		name string
		txn  cluster.Txn
		want int64
	}{
		{"no ops", cluster.Txn{}, 1},
		{"two puts", cluster.Txn{Then: []cluster.Op{cluster.Put("a", nil), cluster.Put("b", nil)}}, 2},
		{"delete absent", cluster.Txn{Then: []cluster.Op{cluster.Delete("zzz")}}, 2},
		{"delete present", cluster.Txn{Then: []cluster.Op{cluster.Delete("a")}}, 3},
		{"rewrite same bytes", cluster.Txn{Then: []cluster.Op{cluster.Put("b", nil)}}, 4},
	}
	for _, tt := range tests {
		got, err := m.Commit(t.Context(), tt.txn)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: got revision %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestMemoryConcurrentUse is for -race: readers and writers on
// overlapping keys.
func TestMemoryConcurrentUse(t *testing.T) {
	m := memstore.New()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				k := []string{"a", "b", "c"}[(i+j)%3]
				if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(k, []byte{byte(j)})}}); err != nil {
					t.Error(err)
				}
				if _, err := m.List(ctx, ""); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
