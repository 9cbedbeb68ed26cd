package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// downStore is a Store whose every call fails as an unreachable etcd's.
type downStore struct{ cluster.Store }

func (downStore) Get(context.Context, string) (cluster.Entry, error) {
	return cluster.Entry{}, cluster.ErrUnavailable
}

func (downStore) Commit(context.Context, cluster.Txn) (int64, error) {
	return 0, cluster.ErrUnavailable
}

// TestClientRecordsMessageAuthenticator: what one node records, every
// node reads; the record is created once, and recording again (the same
// node after a restart, or another) is no error and changes nothing.
func TestClientRecordsMessageAuthenticator(t *testing.T) {
	ctx := context.Background()
	m := memstore.New()
	a := cluster.NewClientRecords(m, "node-a", func() time.Time { return t0 })
	b := cluster.NewClientRecords(m, "node-b", func() time.Time { return t0.Add(time.Hour) })

	steps := []struct {
		name   string
		do     func() error
		client string
		want   bool // seen, read by both nodes after the step
	}{
		{"nothing recorded", func() error { return nil }, "vpn", false},
		{"node A records", func() error { return a.RecordMessageAuthenticator(ctx, "vpn") }, "vpn", true},
		{"node B records again", func() error { return b.RecordMessageAuthenticator(ctx, "vpn") }, "vpn", true},
		{"another client is apart", func() error { return nil }, "switch", false},
		{"a name that is not a path", func() error { return a.RecordMessageAuthenticator(ctx, "a/../b") }, "a/../b", true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			for node, r := range map[string]*cluster.ClientRecords{"node-a": a, "node-b": b} {
				got, err := r.SeenMessageAuthenticator(ctx, st.client)
				if err != nil || got != st.want {
					t.Errorf("%s reads %q: got %v, %v; want %v", node, st.client, got, err, st.want)
				}
			}
		})
	}

	e, err := m.Get(ctx, "clients/vpn/message-authenticator")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct { // the record as etcdctl shows it
		Client    string    `json:"client"`
		FirstSeen time.Time `json:"first_seen"`
		Node      string    `json:"node"`
	}
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Client != "vpn" || rec.Node != "node-a" || !rec.FirstSeen.Equal(t0) {
		t.Errorf("got record %+v, want node-a's, first seen %v", rec, t0)
	}
	if _, err := m.Get(ctx, "clients/a%2F..%2Fb/message-authenticator"); err != nil {
		t.Errorf("the escaped name's key: %v", err)
	}

	down := cluster.NewClientRecords(downStore{m}, "node-c", nil)
	if _, err := down.SeenMessageAuthenticator(ctx, "vpn"); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("read with the store down: got %v, want ErrUnavailable", err)
	}
	if err := down.RecordMessageAuthenticator(ctx, "vpn"); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("record with the store down: got %v, want ErrUnavailable", err)
	}
}
