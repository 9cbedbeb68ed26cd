package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is the in-memory twin of Etcd for unit tests: the same revisions,
// compares, atomicity and TTLs, in one process and without a server. It is
// safe for concurrent use. The zero value is not usable; call NewMemory.
type Memory struct {
	now func() time.Time

	mu sync.Mutex
	// rev is the store revision, as in etcd: it starts at 1 and each
	// Commit that changes something advances it by exactly one.
	rev  int64
	data map[string]memoryEntry
	// watchers receive every change, in order, through an unbounded
	// queue each, so a Commit never waits for a slow reader.
	watchers map[*memoryWatcher]struct{}
}

// memoryWatcher queues the events of one Watch for its pump goroutine.
type memoryWatcher struct {
	prefix string
	mu     sync.Mutex
	queue  []WatchEvent
	wake   chan struct{} // one token: the queue has grown
}

// memoryEntry is one stored key; expires is zero when the key has no TTL.
type memoryEntry struct {
	value   []byte
	modRev  int64
	expires time.Time
}

// MemoryOption configures a Memory.
type MemoryOption func(*Memory)

// WithMemoryClock makes Memory read the time from now instead of
// time.Now, so tests can expire TTLs without sleeping.
func WithMemoryClock(now func() time.Time) MemoryOption {
	return func(m *Memory) { m.now = now }
}

// NewMemory returns an empty Memory. Its revision starts at 1 like a fresh
// etcd's, so the first write gets ModRevision 2.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{now: time.Now, rev: 1, data: make(map[string]memoryEntry), watchers: make(map[*memoryWatcher]struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Get returns the entry at key, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("cluster: get %q: %w: %w", key, ErrUnavailable, err)
	}
	if key == "" {
		return Entry{}, fmt.Errorf("cluster: get: %w", errEmptyKey)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.lookup(key, m.now())
	if !ok {
		return Entry{}, ErrNotFound
	}
	return Entry{Key: key, Value: bytes.Clone(e.value), ModRevision: e.modRev}, nil
}

// List returns the entries whose keys start with prefix, sorted by key.
// The prefix is raw bytes: "users/a" also matches "users/ab".
func (m *Memory) List(ctx context.Context, prefix string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cluster: list %q: %w: %w", prefix, ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Entry
	for k := range m.data {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if e, ok := m.lookup(k, now); ok {
			out = append(out, Entry{Key: k, Value: bytes.Clone(e.value), ModRevision: e.modRev})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Commit applies txn atomically if every Compare holds, else returns
// ErrConflict. A Commit that changes nothing (no ops, or only deletes of
// absent keys) leaves the revision where it was and returns it, as etcd
// does.
func (m *Memory) Commit(ctx context.Context, txn Txn) (int64, error) {
	if err := validateTxn(txn); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("cluster: commit: %w: %w", ErrUnavailable, err)
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
			return 0, ErrConflict
		}
	}
	next := m.rev + 1
	changed := false
	for _, op := range txn.Then {
		if op.Delete {
			if _, ok := m.lookup(op.Key, now); ok {
				delete(m.data, op.Key)
				changed = true
				m.publish(WatchEvent{Entry: Entry{Key: op.Key, ModRevision: next}, Deleted: true})
			}
			continue
		}
		e := memoryEntry{value: bytes.Clone(op.Value), modRev: next}
		if op.TTL > 0 {
			e.expires = now.Add(op.TTL)
		}
		m.data[op.Key] = e
		changed = true
		m.publish(WatchEvent{Entry: Entry{Key: op.Key, Value: bytes.Clone(op.Value), ModRevision: next}})
	}
	if changed {
		m.rev = next
	}
	return m.rev, nil
}

// Watch reports the changes under prefix until ctx ends; see Store.Watch.
func (m *Memory) Watch(ctx context.Context, prefix string) <-chan WatchEvent {
	out := make(chan WatchEvent)
	w := &memoryWatcher{prefix: prefix, wake: make(chan struct{}, 1)}
	w.queue = append(w.queue, WatchEvent{Created: true})
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
func (m *Memory) publish(ev WatchEvent) {
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
func (m *Memory) lookup(key string, now time.Time) (memoryEntry, bool) {
	e, ok := m.data[key]
	if !ok {
		return memoryEntry{}, false
	}
	if !e.expires.IsZero() && !now.Before(e.expires) {
		delete(m.data, key)
		return memoryEntry{}, false
	}
	return e, true
}

// maxTxnOps mirrors etcd's default --max-txn-ops, so a Txn that the memory
// twin accepts is also accepted by a default etcd.
const maxTxnOps = 128

var (
	errEmptyKey   = errors.New("empty key")
	errInvalidTxn = errors.New("invalid txn")
)

// validateTxn rejects what etcd would refuse as a malformed request, so the
// memory twin and etcd fail alike: empty keys, two ops on one key, a TTL
// on a delete, more ops or compares than etcd's default limit.
func validateTxn(txn Txn) error {
	var problems []string
	if len(txn.If) > maxTxnOps || len(txn.Then) > maxTxnOps {
		problems = append(problems, fmt.Sprintf("more than %d compares or ops", maxTxnOps))
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
	return fmt.Errorf("%w: %s", errInvalidTxn, strings.Join(problems, "; "))
}
