// Package memstore is the cluster.Store kept in memory: the twin of etcd
// that unit tests run the records on, held to the same conformance suite
// (cluster/storetest) as etcdstore.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"twostep/cluster"
)

// Store is the in-memory twin of etcd (etcdstore.Store) for unit tests: the same revisions,
// compares, atomicity and TTLs, in one process and without a server. It is
// safe for concurrent use. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu sync.Mutex
	// rev is the store revision, as in etcd: it starts at 1 and each
	// Commit that changes something advances it by exactly one.
	rev  int64
	data map[string]entry
	// watchers receive every change, in order, through an unbounded
	// queue each, so a Commit never waits for a slow reader.
	watchers map[*watcher]struct{}
}

// watcher queues the events of one Watch for its pump goroutine.
type watcher struct {
	prefix string
	mu     sync.Mutex
	queue  []cluster.WatchEvent
	wake   chan struct{} // one token: the queue has grown
}

// entry is one stored key; expires is zero when the key has no TTL.
type entry struct {
	value   []byte
	modRev  int64
	expires time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock makes Store read the time from now instead of
// time.Now, so tests can expire TTLs without sleeping.
func WithClock(now func() time.Time) Option {
	return func(m *Store) { m.now = now }
}

// New returns an empty Store. Its revision starts at 1 like a fresh
// etcd's, so the first write gets ModRevision 2.
func New(opts ...Option) *Store {
	m := &Store{now: time.Now, rev: 1, data: make(map[string]entry), watchers: make(map[*watcher]struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Get returns the entry at key, or ErrNotFound.
func (m *Store) Get(ctx context.Context, key string) (cluster.Entry, error) {
	if err := ctx.Err(); err != nil {
		return cluster.Entry{}, fmt.Errorf("cluster: get %q: %w: %w", key, cluster.ErrUnavailable, err)
	}
	if key == "" {
		return cluster.Entry{}, fmt.Errorf("cluster: get: %w: empty key", cluster.ErrMalformed)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key, m.now())
	if !ok {
		return cluster.Entry{}, cluster.ErrNotFound
	}
	return cluster.Entry{Key: key, Value: bytes.Clone(e.value), ModRevision: e.modRev}, nil
}

// List returns the entries whose keys start with prefix, sorted by key.
// The prefix is raw bytes: "users/a" also matches "users/ab".
func (m *Store) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cluster: list %q: %w: %w", prefix, cluster.ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []cluster.Entry
	for k := range m.data {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if e, ok := m.lookup(k, now); ok {
			out = append(out, cluster.Entry{Key: k, Value: bytes.Clone(e.value), ModRevision: e.modRev})
		}
	}
	slices.SortFunc(out, func(a, b cluster.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Commit applies txn atomically if every Compare holds, else returns
// ErrConflict. A Commit that changes nothing (no ops, or only deletes of
// absent keys) leaves the revision where it was and returns it, as etcd
// does.
func (m *Store) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	if err := txn.Validate(); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w: %w", cluster.ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, c := range txn.If {
		var rev int64
		if e, ok := m.lookup(c.Key, now); ok {
			rev = e.modRev
		}
		if rev != c.ModRevision {
			return 0, cluster.ErrConflict
		}
	}
	next := m.rev + 1
	changed := false
	for _, op := range txn.Then {
		if op.Delete {
			if _, ok := m.lookup(op.Key, now); ok {
				delete(m.data, op.Key)
				changed = true
				m.publish(cluster.WatchEvent{Entry: cluster.Entry{Key: op.Key, ModRevision: next}, Deleted: true})
			}
			continue
		}
		e := entry{value: bytes.Clone(op.Value), modRev: next}
		if op.TTL > 0 {
			e.expires = now.Add(op.TTL)
		}
		m.data[op.Key] = e
		changed = true
		m.publish(cluster.WatchEvent{Entry: cluster.Entry{Key: op.Key, Value: bytes.Clone(op.Value), ModRevision: next}})
	}
	if changed {
		m.rev = next
	}
	return m.rev, nil
}

// Watch reports the changes under prefix until ctx ends; see Store.Watch.
func (m *Store) Watch(ctx context.Context, prefix string) <-chan cluster.WatchEvent {
	out := make(chan cluster.WatchEvent)
	w := &watcher{prefix: prefix, wake: make(chan struct{}, 1)}
	w.queue = append(w.queue, cluster.WatchEvent{Created: true})
	w.wake <- struct{}{}
	m.mu.Lock()
	m.watchers[w] = struct{}{}
	m.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.watchers, w)
			m.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			w.mu.Lock()
			batch := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, ev := range batch {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// publish queues ev for every watcher whose prefix it matches. The caller
// holds m.mu, so events queue in revision order.
func (m *Store) publish(ev cluster.WatchEvent) {
	for w := range m.watchers {
		if !strings.HasPrefix(ev.Entry.Key, w.prefix) {
			continue
		}
		w.mu.Lock()
		w.queue = append(w.queue, ev)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// lookup returns the live entry at key and drops it once its TTL has
// passed, so an expired key reads and compares as absent. The caller holds
// m.mu.
func (m *Store) lookup(key string, now time.Time) (entry, bool) {
	e, ok := m.data[key]
	if !ok {
		return entry{}, false
	}
	if !e.expires.IsZero() && !now.Before(e.expires) {
		delete(m.data, key)
		return entry{}, false
	}
	return e, true
}
