package cluster

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The node registry: every twostepd writes nodes/<name> every
// NodeInterval, with its clock reading, its version and how long its
// last write took, under a lease. Every node watches nodes/ and, from the
// moment each other node's record reaches it, measures how far that
// node's clock is from its own: the record's clock reading, plus half of
// the writer's round trip to the store (the write's way there), plus half
// of this node's (the watch event's way back), less this node's clock at
// arrival. The error is within those two half round trips, milliseconds
// on a LAN: enough to see the seconds of skew that break TOTP windows,
// push answers' time checks and expiries. The records decide nothing and
// carry no MAC.

// NodeInterval is how often a node writes its record.
const NodeInterval = 5 * time.Second

// nodeTTL is the lease of a node's record: a node that stops writing
// (kill -9) leaves the registry within it.
const nodeTTL = 30 * time.Second

// nodeStale is how long a node's offset is kept without a record from it
// (the watch missed its delete, or the memory store's TTL never reports
// one).
const nodeStale = 3 * NodeInterval

// nodesPrefix holds the registry.
const nodesPrefix = "nodes/"

// NodeKey is the key of node's record: nodes/<name>, the name
// path-escaped.
func NodeKey(name string) string { return nodesPrefix + url.PathEscape(name) }

// NodeRecord is the value at NodeKey.
type NodeRecord struct {
	// Name is the node's cluster.node_name.
	Name string `json:"name"`
	// Version is the twostepd version it runs.
	Version string `json:"version"`
	// Started is when the process started.
	Started time.Time `json:"started"`
	// Clock is the node's clock when it sent this write.
	Clock time.Time `json:"clock"`
	// RoundTrip is how long the node's previous write took ("1.2ms").
	RoundTrip string `json:"round_trip,omitempty"`
	// Instance tells apart two processes that share a name by mistake.
	Instance string `json:"instance"`
}

// Nodes is this node's part in the registry: Run writes its record and
// reads the others', and keeps each other node's clock offset (Offsets,
// and twostep_cluster_clock_offset_seconds on the Metrics).
type Nodes struct {
	store   Store
	m       *Metrics
	now     func() time.Time
	self    NodeRecord
	started time.Time

	mu    sync.Mutex
	rtt   time.Duration // this node's last write's round trip
	rev   int64         // the revision of this node's last write
	peers map[string]peerClock
}

// peerClock is what this node knows of another's clock.
type peerClock struct {
	offset time.Duration
	heard  time.Time // this node's clock when its last record arrived
}

// NewNodes returns this node's part in the registry of store: name is its
// cluster.node_name, version what it runs, now its clock (time.Now when
// nil). m, when not nil, gets the offsets.
func NewNodes(store Store, name, version string, m *Metrics, now func() time.Time) *Nodes {
	if now == nil {
		now = time.Now
	}
	return &Nodes{store: store, m: m, now: now, started: now(),
		self:  NodeRecord{Name: name, Version: version, Instance: randomHex(8)},
		peers: map[string]peerClock{}}
}

// Run writes this node's record every NodeInterval and follows the
// others' until ctx ends, then removes the record (within a second), so
// that the other nodes drop this one at once. A store that does not
// answer is tried again at the next interval.
func (n *Nodes) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { n.follow(ctx) })
	t := time.NewTicker(NodeInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		n.announce(ctx)
		n.sweep()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	wg.Wait()
	n.leave(context.WithoutCancel(ctx))
}

// Offsets returns how far each other node's clock is ahead of this
// node's (negative: behind), by name.
func (n *Nodes) Offsets() map[string]time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]time.Duration, len(n.peers))
	for name, p := range n.peers {
		out[name] = p.offset
	}
	return out
}

// announce writes this node's record, timing the write.
func (n *Nodes) announce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, NodeInterval)
	defer cancel()
	rec := n.self
	rec.Started = n.started.UTC()
	n.mu.Lock()
	if n.rtt > 0 {
		rec.RoundTrip = n.rtt.String()
	}
	n.mu.Unlock()
	rec.Clock = n.now()
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	rev, err := n.store.Commit(ctx, Txn{Then: []Op{{Key: NodeKey(rec.Name), Value: b, TTL: nodeTTL}}})
	if err != nil {
		return // the next interval tries again
	}
	rtt := n.now().Sub(rec.Clock)
	n.mu.Lock()
	n.rtt, n.rev = rtt, rev
	n.mu.Unlock()
}

// follow watches the registry until ctx ends, starting again after a
// lost watch (at the next interval: a store not reached yet loses each
// at once).
func (n *Nodes) follow(ctx context.Context) {
	for {
		for ev := range n.store.Watch(ctx, nodesPrefix) {
			n.seen(ev, n.now())
		}
		t := time.NewTimer(NodeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// seen takes one change of the registry, arrived at this node's clock at.
func (n *Nodes) seen(ev WatchEvent, at time.Time) {
	if ev.Created {
		return
	}
	name, err := url.PathUnescape(strings.TrimPrefix(ev.Entry.Key, nodesPrefix))
	if err != nil || name == n.self.Name {
		return
	}
	if ev.Deleted {
		n.forget(name)
		return
	}
	var rec NodeRecord
	if json.Unmarshal(ev.Entry.Value, &rec) != nil || rec.Clock.IsZero() {
		return
	}
	theirs, _ := time.ParseDuration(rec.RoundTrip)
	n.mu.Lock()
	ours := n.rtt
	// The record left the writer at rec.Clock, reached the store about
	// half its round trip later, and came here about half of ours after
	// that.
	offset := rec.Clock.Add(theirs/2 + ours/2).Sub(at)
	n.peers[name] = peerClock{offset: offset, heard: at}
	n.m.setOffset(name, offset)
	n.mu.Unlock()
}

// sweep forgets the nodes not heard from for nodeStale.
func (n *Nodes) sweep() {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, p := range n.peers {
		if now.Sub(p.heard) > nodeStale {
			n.forgetLocked(name)
		}
	}
}

func (n *Nodes) forget(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.forgetLocked(name)
}

// forgetLocked drops name's offset; n.mu is held.
func (n *Nodes) forgetLocked(name string) {
	delete(n.peers, name)
	n.m.forgetOffset(name)
}

// leave deletes this node's record, unless another process wrote under
// its name since.
func (n *Nodes) leave(ctx context.Context) {
	n.mu.Lock()
	rev := n.rev
	n.mu.Unlock()
	if rev == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	key := NodeKey(n.self.Name)
	_, _ = n.store.Commit(ctx, Txn{If: []Compare{{Key: key, ModRevision: rev}}, Then: []Op{Delete(key)}})
}
