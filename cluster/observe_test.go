package cluster_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// callRecorder is an Observer that keeps what it is told.
type callRecorder struct{ calls []cluster.StoreCall }

func (r *callRecorder) ObserveStore(c cluster.StoreCall) { r.calls = append(r.calls, c) }

// TestMeteredStoreObserver: calls made with a context that carries an
// Observer are told to it, keys and results, never values; calls
// without one tell nobody.
func TestMeteredStoreObserver(t *testing.T) {
	s := cluster.NewMeteredStore(memstore.New(), nil)
	rec := &callRecorder{}
	ctx := cluster.WithObserver(context.Background(), rec)

	s.Get(ctx, "users/alice/lockout")
	rev, err := s.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "users/alice/used/d1"}}, Then: []cluster.Op{
		cluster.Put("users/alice/used/d1", []byte("secret-value")), cluster.Delete("challenges/abc")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "users/alice/used/d1", ModRevision: rev - 1}}, Then: []cluster.Op{cluster.Put("users/alice/used/d1", nil)}}); !errors.Is(err, cluster.ErrConflict) {
		t.Fatalf("stale commit: %v", err)
	}
	s.List(ctx, "users/alice/")
	s.Get(context.Background(), "users/bob/lockout") // not observed

	if len(rec.calls) != 4 {
		t.Fatalf("observed %+v, want 4 calls", rec.calls)
	}
	get, commit, conflict, list := rec.calls[0], rec.calls[1], rec.calls[2], rec.calls[3]
	if get.Operation != "get" || get.Key != "users/alice/lockout" || get.Result != "not_found" || get.Duration < 0 {
		t.Errorf("get %+v", get)
	}
	if commit.Operation != "commit" || commit.Result != "ok" || commit.Compares != 1 ||
		!slices.Equal(commit.Puts, []string{"users/alice/used/d1"}) || !slices.Equal(commit.Deletes, []string{"challenges/abc"}) {
		t.Errorf("commit %+v", commit)
	}
	if conflict.Result != "conflict" {
		t.Errorf("stale commit %+v, want result conflict", conflict)
	}
	if list.Operation != "list" || list.Key != "users/alice/" || list.Entries != 1 || list.Result != "ok" {
		t.Errorf("list %+v", list)
	}
}

// TestTraceRequests: a trace request is written with a lease and taken
// back, unless another admin renewed it since; its end is capped.
func TestTraceRequests(t *testing.T) {
	mem := memstore.New()
	traces := cluster.NewTraces(mem)
	ctx := context.Background()
	now := time.Now()
	mine := &cluster.TraceRequest{User: "Alice", Typed: "ALICE@corp", Since: now, Until: now.Add(time.Hour), By: "twostepctl admin@host"}
	if err := traces.Ask(ctx, mine); err != nil {
		t.Fatal(err)
	}
	e, err := mem.Get(ctx, "trace/requests/alice")
	if err != nil {
		t.Fatalf("trace/requests/alice: %v", err)
	}
	got, err := cluster.DecodeTraceRequest(e)
	if err != nil || got.User != "alice" || got.Typed != "ALICE@corp" || !got.Until.Equal(mine.Until) || got.By != mine.By {
		t.Fatalf("stored %+v, %v", got, err)
	}
	theirs := &cluster.TraceRequest{User: "alice", Since: now, Until: now.Add(time.Minute), By: "twostepctl other@host"}
	if err := traces.Ask(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if err := traces.Stop(ctx, mine); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Get(ctx, "trace/requests/alice"); err != nil {
		t.Errorf("the other admin's request was taken back: %v", err)
	}
	if err := traces.Stop(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Get(ctx, "trace/requests/alice"); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("after the last Stop: %v, want not found", err)
	}

	long := cluster.TraceRequest{Since: now, Until: now.Add(48 * time.Hour)}
	if got := long.Ends(); !got.Equal(now.Add(cluster.MaxTraceFor)) {
		t.Errorf("a request of 48h ends %v, want %v", got, now.Add(cluster.MaxTraceFor))
	}
}

// TestTraceRecords: records are written under their user's prefix, in
// one transaction, and read back whole.
func TestTraceRecords(t *testing.T) {
	mem := memstore.New()
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 2, 14, 0, time.UTC)
	recs := []cluster.TraceRecord{
		{ID: "3f9ac21b5d7e", User: "alice", Node: "node/1", Written: at, Seq: 1, Final: true,
			Events: []cluster.TraceEvent{{Time: at, Kind: "request", Attributes: []cluster.TraceAttribute{{Name: "User-Name", Value: `"alice"`}}}}},
		{ID: "3f9ac21b5d7e", User: "alice", Node: "node-2", Written: at, Seq: 1, Part: 1},
	}
	if err := cluster.NewTraces(mem).WriteTraces(ctx, recs); err != nil {
		t.Fatal(err)
	}
	entries, err := mem.List(ctx, cluster.TraceEventsPrefix("ALICE"))
	if err != nil || len(entries) != 2 {
		t.Fatalf("listed %v, %v; want 2 records", entries, err)
	}
	if want := "trace/events/alice/20261201T100214.000000000Z-node%2F1-1"; entries[0].Key != want {
		t.Errorf("key %q, want %q", entries[0].Key, want)
	}
	got, err := cluster.DecodeTraceRecord(entries[0])
	if err != nil || got.ID != recs[0].ID || !got.Final || len(got.Events) != 1 || got.Events[0].Attributes[0].Value != `"alice"` {
		t.Errorf("read back %+v, %v", got, err)
	}
}
