package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// rangedStore gives the memory store the KeyRanger capability etcd has,
// built on its List, and counts the Lists its callers make, so a test
// can tell that History used the capability.
type rangedStore struct {
	*memstore.Store
	lists int
}

func (r *rangedStore) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	r.lists++
	return r.Store.List(ctx, prefix)
}

func (r *rangedStore) NextKey(ctx context.Context, prefix, from string) (string, error) {
	es, err := r.Store.List(ctx, prefix)
	if err != nil {
		return "", err
	}
	for _, e := range es {
		if e.Key >= from {
			return e.Key, nil
		}
	}
	return "", cluster.ErrNotFound
}

func (r *rangedStore) Last(ctx context.Context, prefix, before string) (cluster.Entry, error) {
	es, err := r.Store.List(ctx, prefix)
	if err != nil {
		return cluster.Entry{}, err
	}
	for i := len(es) - 1; i >= 0; i-- {
		if before == "" || es[i].Key < before {
			return es[i], nil
		}
	}
	return cluster.Entry{}, cluster.ErrNotFound
}

func TestHistoryLatest(t *testing.T) {
	ctx := context.Background()
	w := newHistoryWorld(t, 0)
	recs := []cluster.LoginRecord{
		record("aaaa00000001", "alice", "", "challenge", 0),
		record("aaaa00000001", "alice", "", "accept", 1),
		record("aaaa00000002", "alice", "", "reject", 5),
		record("bbbb00000001", "alice-b", "", "accept", 7),
		record("cccc00000001", "alice0", "", "reject", 2),
		record("dddd00000001", "Bob", "", "accept", 3),
		record("eeee00000001", "b/c", "", "reject", 4),
		record("ffff00000001", "", "mallory", "reject", 9),
	}
	if err := w.h.Write(ctx, recs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": "aaaa00000002", "alice-b": "bbbb00000001", "alice0": "cccc00000001", "bob": "dddd00000001", "b%2Fc": "eeee00000001"}

	stores := []struct {
		name  string
		store func() (cluster.Store, *int)
	}{
		{"list", func() (cluster.Store, *int) { return w.store, nil }},
		{"ranged", func() (cluster.Store, *int) { r := &rangedStore{Store: w.store}; return r, &r.lists }},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			store, lists := s.store()
			h := cluster.NewHistory(store, w.keys, 0)
			for _, tc := range []struct {
				prefix string
				want   []string
			}{
				{"", []string{"alice", "alice-b", "alice0", "b%2Fc", "bob"}},
				{"al", []string{"alice", "alice-b", "alice0"}},
				{"alice", []string{"alice", "alice-b", "alice0"}},
				{"b", []string{"b%2Fc", "bob"}},
				{"zz", nil},
			} {
				progress := 0
				got, err := h.Latest(ctx, tc.prefix, func(n int) { progress = n })
				if err != nil {
					t.Fatalf("Latest(%q): %v", tc.prefix, err)
				}
				if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, tc.want) {
					t.Errorf("Latest(%q): users %v, want %v", tc.prefix, keys, tc.want)
				}
				for user, r := range got {
					if r.ID != want[user] {
						t.Errorf("Latest(%q): %s's newest is %s (%s), want %s", tc.prefix, user, r.ID, r.Decision, want[user])
					}
				}
				if progress != len(tc.want) {
					t.Errorf("Latest(%q): progress said %d users, want %d", tc.prefix, progress, len(tc.want))
				}
			}
			if lists != nil && *lists != 0 {
				t.Errorf("%d Lists; want none: the store reads one key at a time", *lists)
			}
		})
	}

	// Alice's newest record edited without the key file: the one before
	// it is her last login, and the error names the edited one.
	entries, _ := w.store.List(ctx, "history/users/alice/")
	last := entries[len(entries)-1]
	forged := bytes.Replace(last.Value, []byte(`"decision":"reject"`), []byte(`"decision":"accept"`), 1)
	if _, err := w.store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(last.Key, forged)}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		t.Run(s.name+"/tampered", func(t *testing.T) {
			store, _ := s.store()
			got, err := cluster.NewHistory(store, w.keys, 0).Latest(ctx, "", nil)
			if !errors.Is(err, cluster.ErrTampered) || !strings.Contains(err.Error(), last.Key) {
				t.Errorf("got %v; want ErrTampered naming %s", err, last.Key)
			}
			if r := got["alice"]; r.Decision != "accept" || r.Time != recs[1].Time {
				t.Errorf("alice's newest checked record: %s at %v, want the accept at %v", r.Decision, r.Time, recs[1].Time)
			}
			if len(got) != 5 {
				t.Errorf("%d users, want all 5", len(got))
			}
			// Without the key file nothing is checked: the edit shows.
			got, err = cluster.NewHistory(store, nil, 0).Latest(ctx, "alice", nil)
			if err != nil || got["alice"].ID != "aaaa00000002" || got["alice"].Decision != "accept" {
				t.Errorf("unchecked: %+v, %v; want the edited record", got["alice"], err)
			}
		})
	}
}
