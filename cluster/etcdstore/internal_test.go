package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"twostep/cluster"
	"twostep/cluster/embedded"
)

// fakeReader answers resolveOutcome from a fixed state.
func fakeReader(state map[string]cluster.Entry, rev int64, err error) outcomeReader {
	return func(_ context.Context, keys []string) (map[string]cluster.Entry, int64, error) {
		if err != nil {
			return nil, 0, err
		}
		found := map[string]cluster.Entry{}
		for _, k := range keys {
			if e, ok := state[k]; ok {
				found[k] = e
			}
		}
		return found, rev, nil
	}
}

func TestResolveOutcome(t *testing.T) {
	ops := []cluster.Op{cluster.Put("a", []byte("a-nonce1")), cluster.Put("b", []byte("b-nonce1")), cluster.Delete("c")}
	applied := map[string]cluster.Entry{
		"a": {Key: "a", Value: []byte("a-nonce1"), ModRevision: 42},
		"b": {Key: "b", Value: []byte("b-nonce1"), ModRevision: 42},
	}
	tests := []struct {
		name    string
		ops     []cluster.Op
		ifs     []cluster.Compare
		state   map[string]cluster.Entry
		readErr error
		wantRev int64
		wantErr error
	}{
		{name: "applied", ops: ops, state: applied, wantRev: 42},
		{name: "not applied: keys absent", ops: ops, state: map[string]cluster.Entry{"c": {Key: "c", Value: []byte("x"), ModRevision: 7}}, wantErr: cluster.ErrConflict},
		{name: "not applied: old values", ops: ops, state: map[string]cluster.Entry{
			"a": {Key: "a", Value: []byte("a-old"), ModRevision: 7},
			"b": {Key: "b", Value: []byte("b-old"), ModRevision: 7},
		}, wantErr: cluster.ErrConflict},
		{name: "other writer on one key", ops: ops, state: map[string]cluster.Entry{
			"a": {Key: "a", Value: []byte("a-nonce1"), ModRevision: 42},
			"b": {Key: "b", Value: []byte("b-nonce2"), ModRevision: 43},
		}, wantErr: cluster.ErrConflict},
		{name: "deleted key exists", ops: ops, state: map[string]cluster.Entry{
			"a": applied["a"], "b": applied["b"], "c": {Key: "c", Value: []byte("new"), ModRevision: 43},
		}, wantErr: cluster.ErrConflict},
		{name: "same bytes at two revisions", ops: ops, state: map[string]cluster.Entry{
			"a": {Key: "a", Value: []byte("a-nonce1"), ModRevision: 42},
			"b": {Key: "b", Value: []byte("b-nonce1"), ModRevision: 44},
		}, wantErr: cluster.ErrUnavailable},
		{name: "read failed", ops: ops, readErr: context.DeadlineExceeded, wantErr: cluster.ErrUnavailable},
		{name: "read failed, already unavailable", ops: ops, readErr: fmt.Errorf("cluster: read back: %w", cluster.ErrUnavailable), wantErr: cluster.ErrUnavailable},
		{name: "only blind deletes, gone", ops: []cluster.Op{cluster.Delete("c")}, state: map[string]cluster.Entry{}, wantRev: 50},
		// A single-use code spent by a delete: another node's delete of
		// it looks the same, so the outcome stays unknown.
		{name: "only compared deletes, gone", ops: []cluster.Op{cluster.Delete("c")}, ifs: []cluster.Compare{{Key: "c", ModRevision: 7}}, state: map[string]cluster.Entry{}, wantErr: cluster.ErrUnavailable},
		{name: "no ops", ops: nil, wantErr: cluster.ErrUnavailable},
		{name: "empty value applied", ops: []cluster.Op{cluster.Put("e", nil)}, state: map[string]cluster.Entry{"e": {Key: "e", ModRevision: 9}}, wantRev: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := resolveOutcome(t.Context(), cluster.Txn{If: tt.ifs, Then: tt.ops}, fakeReader(tt.state, 50, tt.readErr))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %d, %v; want %v", rev, err, tt.wantErr)
				}
				if errors.Is(err, cluster.ErrConflict) && errors.Is(err, cluster.ErrUnavailable) {
					t.Errorf("error %v is both conflict and unavailable", err)
				}
				return
			}
			if err != nil || rev != tt.wantRev {
				t.Fatalf("got %d, %v; want %d", rev, err, tt.wantRev)
			}
		})
	}
}

func TestResolveOutcomeReadsEveryKey(t *testing.T) {
	var got []string
	read := func(_ context.Context, keys []string) (map[string]cluster.Entry, int64, error) {
		got = keys
		return nil, 1, nil
	}
	resolveOutcome(t.Context(), cluster.Txn{Then: []cluster.Op{cluster.Put("x", nil), cluster.Delete("y"), {Key: "z", Value: []byte("1"), TTL: time.Second}}}, read)
	if want := []string{"x", "y", "z"}; !slices.Equal(got, want) {
		t.Errorf("read keys %q, want %q", got, want)
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name           string
		err            error
		transient      bool
		mayHaveApplied bool
	}{
		{"deadline", context.DeadlineExceeded, true, true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), true, true},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection refused"), true, true},
		{"grpc deadline", status.Error(codes.DeadlineExceeded, "deadline"), true, true},
		{"server timeout", rpctypes.ErrTimeout, true, true},
		{"no leader", rpctypes.ErrNoLeader, true, true},
		{"leader changed", rpctypes.ErrLeaderChanged, true, true},
		{"permission denied", rpctypes.ErrPermissionDenied, false, false},
		{"auth failed", rpctypes.ErrAuthFailed, false, false},
		{"too many ops", rpctypes.ErrTooManyOps, false, false},
		{"no space", rpctypes.ErrNoSpace, false, false},
		{"too many requests", rpctypes.ErrTooManyRequests, true, false},
		{"unknown grpc error", status.Error(codes.Internal, "frame"), false, true},
		{"plain error", errors.New("something"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.transient {
				t.Errorf("transient: got %v, want %v", got, tt.transient)
			}
			if got := mayHaveApplied(tt.err); got != tt.mayHaveApplied {
				t.Errorf("mayHaveApplied: got %v, want %v", got, tt.mayHaveApplied)
			}
		})
	}
}

func TestLeaseSeconds(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		want int64
	}{
		{time.Nanosecond, 1},
		{time.Second, 1},
		{time.Second + time.Millisecond, 2},
		{90 * time.Second, 90},
	}
	for _, tt := range tests {
		if got := leaseSeconds(tt.ttl); got != tt.want {
			t.Errorf("leaseSeconds(%v): got %d, want %d", tt.ttl, got, tt.want)
		}
	}
}

func TestEndpointErrorsHideCredentials(t *testing.T) {
	for _, ep := range []string{"https://root:hunter2@etcd1:2379", "ftp://root:hunter2@etcd1:2379", "https://root:hunter2@etcd1:2379/x", "http://root:hunter2@[::1"} {
		_, err := endpointScheme(ep)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: got %v; want an error without the password", ep, err)
		}
	}
}

// TestSharedLeases: writes asking for one TTL share a lease that keeps
// each key at least that long, and a lease revoked under them is replaced.
func TestSharedLeases(t *testing.T) {
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	emb, err := embedded.Start(t.Context(), embedded.Config{
		DataDir:   t.TempDir(),
		ClientURL: fmt.Sprintf("http://127.0.0.1:%d", free()),
		PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", free()),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	e, err := Open(t.Context(), Config{Endpoints: emb.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := t.Context()
	put := func(key string) {
		t.Helper()
		if _, err := e.Commit(ctx, cluster.Txn{Then: []cluster.Op{{Key: key, Value: []byte("v"), TTL: time.Minute}}}); err != nil {
			t.Fatal(err)
		}
	}
	lease := func(key string) clientv3.LeaseID {
		t.Helper()
		resp, err := e.kv.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v", key, err)
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	put("a")
	put("b")
	if lease("a") != lease("b") || lease("a") == 0 {
		t.Fatalf("got leases %x and %x, want one shared lease", lease("a"), lease("b"))
	}
	ttl, err := e.client.Lease.TimeToLive(ctx, lease("a"))
	if err != nil || ttl.TTL < 60 {
		t.Fatalf("shared lease TTL %d (%v), want at least the asked 60s", ttl.TTL, err)
	}
	if _, err := e.client.Lease.Revoke(ctx, lease("a")); err != nil {
		t.Fatal(err)
	}
	put("c") // the cached lease is gone: a fresh one is granted
	if lease("c") == 0 {
		t.Error("no lease on c")
	}
}
