package etcdstore_test

import (
	"errors"
	"testing"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/internal/leakcheck"
)

func TestKeyRanger(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	ctx := t.Context()
	s, other := openEtcd(t, srv.Endpoints()), openEtcd(t, srv.Endpoints())
	put := func(s *etcdstore.Store, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(k, []byte("v "+k))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(s, "h/a/1", "h/a/2", "h/a/3", "h/ab/1", "h/b/1", "h/c", "i/x")
	// Another store's keys (another prefix) sort between ours in etcd;
	// none may show.
	put(other, "h/a/4", "h/b/0", "h/bb/1")

	for _, tc := range []struct {
		prefix, from, want string
	}{
		{"h/", "h/", "h/a/1"},
		{"h/", "", "h/a/1"},
		{"h/", "h/a0", "h/ab/1"},
		{"h/", "h/a/2", "h/a/2"},
		{"h/", "h/a/2\x00", "h/a/3"},
		{"h/", "h/b0", "h/c"},
		{"h/", "h/c\x00", ""},
		{"h/a/", "h/a/", "h/a/1"},
		{"", "", "h/a/1"},
		{"", "h/c\x00", "i/x"},
		{"j/", "j/", ""},
	} {
		got, err := s.NextKey(ctx, tc.prefix, tc.from)
		switch {
		case tc.want == "" && !errors.Is(err, cluster.ErrNotFound):
			t.Errorf("NextKey(%q, %q): got %q, %v; want ErrNotFound", tc.prefix, tc.from, got, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("NextKey(%q, %q): got %q, %v; want %q", tc.prefix, tc.from, got, err, tc.want)
		}
	}

	for _, tc := range []struct {
		prefix, before, want string
	}{
		{"h/a/", "", "h/a/3"},
		{"h/a/", "h/a/3", "h/a/2"},
		{"h/a/", "h/a/1", ""},
		{"h/a/", "h/b", "h/a/3"},
		{"h/b/", "", "h/b/1"},
		{"h/", "", "h/c"},
		{"h/", "h/b", "h/ab/1"},
		{"", "", "i/x"},
		{"", "i/", "h/c"},
		{"j/", "", ""},
	} {
		e, err := s.Last(ctx, tc.prefix, tc.before)
		switch {
		case tc.want == "" && !errors.Is(err, cluster.ErrNotFound):
			t.Errorf("Last(%q, %q): got %q, %v; want ErrNotFound", tc.prefix, tc.before, e.Key, err)
		case tc.want != "" && (err != nil || e.Key != tc.want || string(e.Value) != "v "+tc.want || e.ModRevision == 0):
			t.Errorf("Last(%q, %q): got %q %q rev %d, %v; want %q with its value", tc.prefix, tc.before, e.Key, e.Value, e.ModRevision, err, tc.want)
		}
	}
}
