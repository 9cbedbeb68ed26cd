package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// downStore is a Store whose every call fails as an unreachable etcd's.
type downStore struct{ Store }

func (downStore) Get(context.Context, string) (Entry, error) {
	return Entry{}, ErrUnavailable
}

func (downStore) Commit(context.Context, Txn) (int64, error) { return 0, ErrUnavailable }

// TestClientRecordsMessageAuthenticator: what one node records, every
// node reads; the record is created once, and recording again (the same
// node after a restart, or another) is no error and changes nothing.
func TestClientRecordsMessageAuthenticator(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	a := NewClientRecords(m, "node-a", func() time.Time { return t0 })
	b := NewClientRecords(m, "node-b", func() time.Time { return t0.Add(time.Hour) })

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
			for _, r := range []*ClientRecords{a, b} {
				got, err := r.SeenMessageAuthenticator(ctx, st.client)
				if err != nil || got != st.want {
					t.Errorf("%s reads %q: got %v, %v; want %v", r.node, st.client, got, err, st.want)
				}
			}
		})
	}

	e, err := m.Get(ctx, "clients/vpn/message-authenticator")
	if err != nil {
		t.Fatal(err)
	}
	var rec maRecord
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Client != "vpn" || rec.Node != "node-a" || !rec.FirstSeen.Equal(t0) {
		t.Errorf("got record %+v, want node-a's, first seen %v", rec, t0)
	}
	if _, err := m.Get(ctx, "clients/a%2F..%2Fb/message-authenticator"); err != nil {
		t.Errorf("the escaped name's key: %v", err)
	}

	down := NewClientRecords(downStore{m}, "node-c", nil)
	if _, err := down.SeenMessageAuthenticator(ctx, "vpn"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("read with the store down: got %v, want ErrUnavailable", err)
	}
	if err := down.RecordMessageAuthenticator(ctx, "vpn"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("record with the store down: got %v, want ErrUnavailable", err)
	}
}
