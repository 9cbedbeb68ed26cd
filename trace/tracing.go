package trace

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"twostep/cluster"
)

// Options configure a Tracing. Store is required.
type Options struct {
	// Store is the cluster store: the trace requests are watched there,
	// the events written there.
	Store cluster.Store
	// Node names this node in every record (cluster.node_name).
	Node string
	// Metrics receives the counts. Default: collectors on no registry.
	Metrics *Metrics
	// Now is the clock of events and of the requests' ends. Default
	// time.Now.
	Now func() time.Time
	// QueueSize bounds the records waiting for the writer; default
	// DefaultQueueSize.
	QueueSize int
}

// DefaultQueueSize is how many records wait for the writer at most.
const DefaultQueueSize = 1024

// Tracing is this node's side of `twostepctl trace`: the users traced
// now, as the trace requests in the cluster say (Run follows them), the
// tracer of each of their requests (Begin), and the writer that takes
// what those saw to the cluster, off the requests' path.
type Tracing struct {
	traces  *cluster.Traces
	store   cluster.Store
	node    string
	now     func() time.Time
	metrics *Metrics

	// set is the users traced now; nil or empty when none, which is
	// what Begin reads for every request.
	set atomic.Pointer[tracedSet]

	queue  chan cluster.TraceRecord
	bucket bucket // bounds the records written (writer.go)
	seq    atomic.Uint64
	// closed is set once the writer has stopped: what comes later is
	// dropped and counted.
	closed atomic.Bool
}

// New returns a Tracing that traces nobody until Run reads the trace
// requests.
func New(o Options) *Tracing {
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return &Tracing{traces: cluster.NewTraces(o.Store), store: o.Store, node: o.Node, now: o.Now, metrics: o.Metrics,
		queue: make(chan cluster.TraceRecord, o.QueueSize)}
}

// Begin returns the tracer of a request whose correlation id is id and
// whose User-Name is user, or nil when nobody is traced: then the
// request costs one atomic load and nothing else. While a trace is
// active every request gets a tracer: one whose User-Name names a traced
// user (its canonical name or the name the admin typed, without case)
// traces at once; the others keep their steps in memory until End learns
// the directory's name, and are dropped unless that one is traced.
func (t *Tracing) Begin(id, user string) *Request {
	set := t.set.Load()
	if set == nil || len(set.names) == 0 {
		return nil
	}
	now := t.now()
	r := &Request{t: t, id: id, typed: user, arrived: now}
	r.user = set.match(user, now)
	return r
}

// Traced reports how many users this node traces now.
func (t *Tracing) Traced() int {
	set := t.set.Load()
	if set == nil {
		return 0
	}
	return set.users
}

// Run follows the trace requests and writes what traced requests saw,
// until ctx ends; then it writes what is queued, for flushTimeout at
// most, and stops tracing. The daemon ends ctx once the RADIUS server
// has answered the requests in flight.
func (t *Tracing) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { t.follow(ctx) })
	t.write(ctx)
	wg.Wait()
	t.set.Store(nil)
	t.metrics.setActive(0)
}

// tracedSet is the users traced now, by every name a request may carry.
type tracedSet struct {
	// names maps a lower-cased name (the canonical one, and the one the
	// admin typed) to the trace it belongs to.
	names map[string]tracedUser
	users int
}

// tracedUser is one user traced, until ends.
type tracedUser struct {
	user string // the trace request's user: canonical, lower-cased
	ends time.Time
}

// match returns the traced user that name stands for at now, or "".
func (s *tracedSet) match(name string, now time.Time) string {
	if s == nil {
		return ""
	}
	u, ok := s.names[normalName(name)]
	if !ok || !now.Before(u.ends) {
		return ""
	}
	return u.user
}

// normalName is name as the trace set keys it: without case or the
// spaces around it.
func normalName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }
