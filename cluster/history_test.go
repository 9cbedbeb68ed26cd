package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// historyWorld is a History over the memory store, with a clock the test
// moves (leases expire by it).
type historyWorld struct {
	store *memstore.Store
	keys  *cluster.Keyring
	h     *cluster.History
	now   time.Time
}

func newHistoryWorld(t *testing.T, retention time.Duration) *historyWorld {
	t.Helper()
	a, _ := testAccounts(t)
	w := &historyWorld{keys: a.Keyring(), now: t0}
	w.store = memstore.New(memstore.WithClock(func() time.Time { return w.now }))
	w.h = cluster.NewHistory(w.store, w.keys, retention)
	return w
}

// record is a login record of user at t0 plus minutes.
func record(id, user, typed, decision string, minutes int) cluster.LoginRecord {
	return cluster.LoginRecord{Time: t0.Add(time.Duration(minutes) * time.Minute), ID: id, User: user, TypedUser: typed,
		Client: "vpn", NASID: "gw-1", NASAddr: "192.0.2.10", From: "198.51.100.7", Factor: "totp",
		Device: &cluster.LoginDevice{ID: "d1", Name: "phone"}, Decision: decision, Reason: "ok", Node: "node1"}
}

func ids(recs []cluster.LoginRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestHistoryWriteAndList(t *testing.T) {
	ctx := context.Background()
	w := newHistoryWorld(t, time.Hour)
	recs := []cluster.LoginRecord{
		record("aaaa00000001", "alice", "", "challenge", 0),
		record("aaaa00000001", "alice", "ALICE", "accept", 1),
		record("bbbb00000002", "bob", "", "reject", 2),
		record("cccc00000003", "", "mallory", "reject", 3),
		record("dddd00000004", "alice", "alice@example.edu", "reject", 4),
	}
	recs[3].Factor, recs[3].Device = "", nil
	if err := w.h.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}

	entries, _ := w.store.List(ctx, "history/")
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key[:strings.LastIndexByte(e.Key, '/')+1])
	}
	if want := []string{"history/unattributed/", "history/users/alice/", "history/users/alice/", "history/users/alice/", "history/users/bob/"}; !slices.Equal(keys, want) {
		t.Errorf("buckets %v, want %v", keys, want)
	}

	tests := []struct {
		name string
		f    cluster.LoginFilter
		want []string
	}{
		{"everything, newest first", cluster.LoginFilter{}, []string{"dddd00000004", "cccc00000003", "bbbb00000002", "aaaa00000001", "aaaa00000001"}},
		{"a user without case", cluster.LoginFilter{User: "Alice"}, []string{"dddd00000004", "aaaa00000001", "aaaa00000001"}},
		{"a name as typed, kept under another", cluster.LoginFilter{User: "ALICE@example.EDU"}, []string{"dddd00000004"}},
		{"an unknown name", cluster.LoginFilter{User: "mallory"}, []string{"cccc00000003"}},
		{"since", cluster.LoginFilter{Since: t0.Add(2 * time.Minute)}, []string{"dddd00000004", "cccc00000003", "bbbb00000002"}},
		{"decision", cluster.LoginFilter{Decision: "reject"}, []string{"dddd00000004", "cccc00000003", "bbbb00000002"}},
		{"a reference", cluster.LoginFilter{ID: "aaaa0000"}, []string{"aaaa00000001", "aaaa00000001"}},
		{"a user and a decision", cluster.LoginFilter{User: "alice", Decision: "accept"}, []string{"aaaa00000001"}},
		{"nothing", cluster.LoginFilter{User: "nobody"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := w.h.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("got %v, want %v", ids(got), tt.want)
			}
		})
	}
	t.Run("every field read back", func(t *testing.T) {
		got, err := w.h.List(ctx, cluster.LoginFilter{User: "alice", Decision: "accept"})
		if err != nil || len(got) != 1 {
			t.Fatalf("%v, %v", got, err)
		}
		want := recs[1]
		if g, _ := json.Marshal(got[0]); !bytes.Equal(g, mustJSON(t, want)) {
			t.Errorf("got %s\nwant %s", g, mustJSON(t, want))
		}
	})
	t.Run("the retention is a lease", func(t *testing.T) {
		w.now = t0.Add(time.Hour + time.Minute)
		if got, err := w.h.List(ctx, cluster.LoginFilter{}); err != nil || len(got) != 0 {
			t.Errorf("after the retention: %v, %v; want none", ids(got), err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHistoryJSONNames(t *testing.T) {
	b := mustJSON(t, record("aaaa00000001", "alice", "ALICE", "accept", 0))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"client", "decision", "device", "factor", "from", "id", "nas_addr", "nas_id", "node", "reason", "time", "typed_user", "user"}
	if !slices.Equal(names, want) {
		t.Errorf("JSON names %v, want %v", names, want)
	}
}

func TestHistoryTrim(t *testing.T) {
	ctx := context.Background()
	w := newHistoryWorld(t, 0)
	var recs []cluster.LoginRecord
	for i := range 140 { // more than one transaction of deletes
		recs = append(recs, record(fmt.Sprintf("%012x", i), "alice", "", "reject", i))
	}
	recs = append(recs, record("bbbbbbbbbbbb", "bob", "", "reject", 0))
	for i := 0; i < len(recs); i += cluster.MaxTxnOps {
		if err := w.h.Write(ctx, recs[i:min(i+cluster.MaxTxnOps, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.h.Trim(ctx, "ALICE", 5)
	if err != nil || n != 135 {
		t.Fatalf("Trim: %d, %v; want 135 removed", n, err)
	}
	got, err := w.h.List(ctx, cluster.LoginFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"00000000008b", "00000000008a", "000000000089", "000000000088", "000000000087", "bbbbbbbbbbbb"}
	if !slices.Equal(ids(got), want) {
		t.Errorf("after trimming alice to 5: %v, want her newest 5 and bob's", ids(got))
	}
	if n, err := w.h.Trim(ctx, "alice", 5); err != nil || n != 0 {
		t.Errorf("trim again: %d, %v; want nothing to do", n, err)
	}
	t.Run("a batch larger than a transaction is refused whole", func(t *testing.T) {
		big := make([]cluster.LoginRecord, cluster.MaxTxnOps+1)
		for i := range big {
			big[i] = record(fmt.Sprintf("ffff%08x", i), "carol", "", "accept", i)
		}
		if err := w.h.Write(ctx, big); !errors.Is(err, cluster.ErrMalformed) {
			t.Errorf("got %v, want ErrMalformed", err)
		}
	})
}

func TestHistoryTampered(t *testing.T) {
	ctx := context.Background()
	w := newHistoryWorld(t, 0)
	if err := w.h.Write(ctx, []cluster.LoginRecord{record("aaaa00000001", "alice", "", "reject", 0), record("bbbb00000002", "alice", "", "reject", 1)}); err != nil {
		t.Fatal(err)
	}
	entries, _ := w.store.List(ctx, "history/")
	forged := bytes.Replace(entries[0].Value, []byte(`"decision":"reject"`), []byte(`"decision":"accept"`), 1)
	planted := strings.Replace(entries[0].Key, "aaaa00000001", "cccc00000003", 1)
	if _, err := w.store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(entries[0].Key, forged), cluster.Put(planted, entries[1].Value)}}); err != nil {
		t.Fatal(err)
	}
	before := w.keys.TamperedCounts()[cluster.KindHistory]
	got, err := w.h.List(ctx, cluster.LoginFilter{})
	if !errors.Is(err, cluster.ErrTampered) || !strings.Contains(err.Error(), planted) {
		t.Errorf("List: %v; want ErrTampered naming %s", err, planted)
	}
	if !slices.Equal(ids(got), []string{"bbbb00000002"}) {
		t.Errorf("records %v, want only the intact one", ids(got))
	}
	if n := w.keys.TamperedCounts()[cluster.KindHistory] - before; n != 2 {
		t.Errorf("%d counted as tampered, want 2", n)
	}
	t.Run("without the key file nothing is checked", func(t *testing.T) {
		got, err := cluster.NewHistory(w.store, nil, 0).List(ctx, cluster.LoginFilter{})
		if err != nil || len(got) != 3 {
			t.Errorf("got %v, %v; want all three, unchecked", ids(got), err)
		}
	})
}
