package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store is the key-value contract every twostepd of a cluster shares: etcd
// in production and in the embedded default, an in-memory twin in unit
// tests. Unlike the project's other interfaces, which their consumers
// declare, it is declared by its producer: every implementation must keep
// one contract, and the conformance suite in cluster/storetest holds each
// to it.
//
// Keys are relative ("users/alice/devices/7f3c…"); an implementation adds
// its own prefix. Reads are linearizable: a Get that starts after a Commit
// returned sees it, on whichever node it runs. A call made with a ctx
// already done returns an error wrapping both ErrUnavailable and
// ctx.Err().
type Store interface {
	// Get returns the entry at key, or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// List returns the entries whose keys start with prefix, sorted by key.
	// The prefix is raw bytes, not a path: "users/a" also matches
	// "users/ab", so a caller listing one level ends prefix with "/".
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Commit applies every Op of txn if every Compare holds, atomically,
	// and returns the store revision of the write. When a Compare fails it
	// applies nothing and returns ErrConflict.
	//
	// A Commit whose outcome is unknown (a timeout after the request left)
	// is resolved before Commit returns: the implementation reads back the
	// keys it put, and the write happened exactly when they hold the bytes
	// it wrote. Callers therefore make every value they put unique (the
	// records of this package carry a nonce). A Txn that only deletes,
	// with compares, leaves nothing to recognise (another writer's delete
	// looks the same), so its unknown outcome stays unknown. When the
	// outcome cannot be learnt Commit returns an error wrapping
	// ErrUnavailable.
	//
	// A malformed Txn (Txn.Validate: what etcd refuses) writes nothing
	// and returns an error wrapping ErrMalformed, neither ErrConflict nor
	// ErrUnavailable. A Commit that changes nothing leaves the revision
	// as it was and returns it.
	Commit(ctx context.Context, txn Txn) (int64, error)
	// Watch reports the changes to keys under prefix (raw bytes, as in
	// List) until ctx ends. Its first event has Created set: from then on
	// every change is reported, in revision order, so a caller that also
	// reads state reads it after Created and misses nothing. The channel
	// closes when ctx ends or the watch is lost (the store compacted past
	// it, the member lost its leader); the caller starts another and
	// reads again. Keys that expire by TTL may be reported as deletes late
	// or, by the memory twin, not at all: expiry that matters is in
	// values.
	Watch(ctx context.Context, prefix string) <-chan WatchEvent
}

// WatchEvent is one change seen by Watch.
type WatchEvent struct {
	// Created marks the first event: the watch is in place.
	Created bool
	// Entry is the key as written (for a delete: Key and ModRevision, the
	// revision of the delete, with no Value).
	Entry   Entry
	Deleted bool
}

// Entry is one key as the store holds it.
type Entry struct {
	Key   string
	Value []byte
	// ModRevision is the store revision of the last write to Key. A Compare
	// on it makes a read-modify-write safe against every other node.
	ModRevision int64
}

// Txn is an atomic compare-and-write: Then applies only if every If holds.
type Txn struct {
	If   []Compare
	Then []Op
}

// Compare holds when Key's ModRevision equals ModRevision; a ModRevision of
// 0 holds when Key does not exist.
type Compare struct {
	Key         string
	ModRevision int64
}

// Op is one write of a Txn: put Value at Key, or delete Key.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
	// TTL, when positive, attaches a lease that removes the key after TTL.
	// A lease only cleans up: leases can outlive their TTL (etcd resets
	// them on leader change), so any expiry that matters for a decision
	// is also written in Value and checked by the reader.
	TTL time.Duration
}

// Errors callers branch on.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("cluster: not found")
	// ErrConflict: a Compare of a Txn failed; nothing was written. The
	// caller reads again and decides again.
	ErrConflict = errors.New("cluster: conflict")
	// ErrUnavailable: the store could not be reached in time, or the
	// outcome of a write could not be learnt. Logins then follow the
	// client's failmode.
	ErrUnavailable = errors.New("cluster: store unavailable")
	// ErrMalformed: a request etcd would refuse (an empty key, a Txn that
	// Validate refuses); nothing was read or written.
	ErrMalformed = errors.New("cluster: malformed request")
)

// MaxTxnOps mirrors etcd's default --max-txn-ops: a Txn with more
// compares or ops is malformed, so a Txn that the memory twin accepts is
// also accepted by a default etcd.
const MaxTxnOps = 128

// Validate reports what etcd would refuse as a malformed request, so that
// every Store fails alike: empty keys, two ops on one key, a TTL on a
// delete, more ops or compares than MaxTxnOps. Its error wraps
// ErrMalformed.
func (txn Txn) Validate() error {
	var problems []string
	if len(txn.If) > MaxTxnOps || len(txn.Then) > MaxTxnOps {
		problems = append(problems, fmt.Sprintf("more than %d compares or ops", MaxTxnOps))
	}
	for _, c := range txn.If {
		if c.Key == "" {
			problems = append(problems, "compare on an empty key")
		}
		if c.ModRevision < 0 {
			problems = append(problems, fmt.Sprintf("compare %q: negative revision %d", c.Key, c.ModRevision))
		}
	}
	seen := make(map[string]bool, len(txn.Then))
	for _, op := range txn.Then {
		switch {
		case op.Key == "":
			problems = append(problems, "op on an empty key")
		case seen[op.Key]:
			problems = append(problems, fmt.Sprintf("op %q: key written twice in one txn", op.Key))
		}
		seen[op.Key] = true
		if op.Delete && op.TTL != 0 {
			problems = append(problems, fmt.Sprintf("op %q: TTL on a delete", op.Key))
		}
		if op.TTL < 0 {
			problems = append(problems, fmt.Sprintf("op %q: negative TTL %v", op.Key, op.TTL))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: invalid txn: %s", ErrMalformed, strings.Join(problems, "; "))
}

// Put is the Op that writes value at key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete is the Op that removes key.
func Delete(key string) Op { return Op{Key: key, Delete: true} }
