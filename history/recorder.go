package history

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"twostep/cluster"
)

// Store is where the recorder writes; cluster.History implements it.
type Store interface {
	// Write stores a batch, at most cluster.MaxTxnOps records, in one
	// transaction.
	Write(ctx context.Context, recs []cluster.LoginRecord) error
	// Trim removes the oldest records of user (empty: the unattributed
	// ones) beyond keep.
	Trim(ctx context.Context, user string, keep int) (int, error)
}

// Options configure a Recorder. Store is required.
type Options struct {
	// Config is the history section: PerUser is the cap trimmed to.
	Config Config
	// Store is where records go.
	Store Store
	// Node names this node in every record.
	Node string
	// Metrics receives the counts. Default: collectors on no registry.
	Metrics *Metrics
	// Now is the clock of trimming and of records without a time.
	// Default time.Now.
	Now func() time.Time
	// Rand draws which records trim their user (trimOdds); default a
	// randomly seeded source.
	Rand *rand.Rand
	// QueueSize bounds the records waiting; default DefaultQueueSize.
	QueueSize int
}

// DefaultQueueSize is how many records wait for the writer at most:
// about a minute of a busy node's answers, a few megabytes.
const DefaultQueueSize = 8192

// A trim lists the user's bucket: one etcd read per record written would
// cost as much as the login itself (a passcode login makes one List and
// one compare-and-put). So each record written trims its user with a
// chance of 1 in trimOdds(per_user) (a user is trimmed about every
// per_user/4 of its records, whatever the rate and the number of users,
// and passes the cap by about as many before the next trim; by 5 times as
// many once in 150), and no user more than once per trimEvery on a node
// (a spray of made-up names all goes to the one unattributed bucket).

// trimEvery is how often one user's records are trimmed by this node, at
// most.
const trimEvery = time.Second

// trimOdds is the 1-in-n chance of a record written trimming its user.
func trimOdds(perUser int) int { return max(1, perUser/4) }

// Recorder writes login records to the cluster off the login's path.
// Record hands a record over without waiting; Run, on its own goroutine,
// writes what is queued in batches of one transaction each, and trims
// the users it wrote for; Shutdown flushes what is left. A record that
// cannot be queued or written is dropped and counted: the login was
// answered already.
type Recorder struct {
	store   Store
	node    string
	perUser int
	now     func() time.Time
	metrics *Metrics

	queue    chan cluster.LoginRecord
	closed   atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// trimmed is when Run last trimmed each user, within trimEvery
	// (Run's alone, as is rand).
	trimmed map[string]time.Time
	rand    *rand.Rand
}

// New returns a Recorder that writes nothing until Run.
func New(o Options) *Recorder {
	cfg := o.Config.WithDefaults()
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Recorder{store: o.Store, node: o.Node, perUser: cfg.PerUser, now: o.Now, metrics: o.Metrics,
		queue: make(chan cluster.LoginRecord, o.QueueSize), stop: make(chan struct{}), done: make(chan struct{}),
		trimmed: make(map[string]time.Time), rand: o.Rand}
}

// Record queues rec, stamped with this node (and the time, when it has
// none), without ever waiting: when the queue is full, or the recorder
// is shut down, rec is dropped and counted.
func (r *Recorder) Record(rec cluster.LoginRecord) {
	if r.closed.Load() {
		r.drop(CauseShutdown, 1)
		return
	}
	rec.Node = r.node
	if rec.Time.IsZero() {
		rec.Time = r.now()
	}
	select {
	case r.queue <- rec:
		r.metrics.queued.Set(float64(len(r.queue)))
	default:
		r.drop(CauseQueueFull, 1)
	}
}

// Run writes queued records until Shutdown has flushed them, or until
// ctx ends, which drops what is still queued. Writes run with ctx: the
// daemon passes a context that outlives the signal that stops it, so
// that Shutdown can flush.
func (r *Recorder) Run(ctx context.Context) {
	defer close(r.done)
	for {
		select {
		case <-ctx.Done():
			r.drop(CauseShutdown, r.discard())
			return
		case <-r.stop:
			r.flush(ctx)
			return
		case rec := <-r.queue:
			batch := r.batch(rec)
			if r.write(ctx, batch) {
				r.trim(ctx, batch)
			}
		}
	}
}

// Shutdown stops Run once what is queued is written, and waits for it as
// long as ctx allows. Records handed over after it are dropped. When ctx
// ends first it returns ctx's error, and the caller ends Run's context,
// which drops the rest.
func (r *Recorder) Shutdown(ctx context.Context) error {
	r.closed.Store(true)
	r.stopOnce.Do(func() { close(r.stop) })
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch is first and what else is queued, up to one transaction.
func (r *Recorder) batch(first cluster.LoginRecord) []cluster.LoginRecord {
	batch := []cluster.LoginRecord{first}
	for len(batch) < cluster.MaxTxnOps {
		select {
		case rec := <-r.queue:
			batch = append(batch, rec)
		default:
			r.metrics.queued.Set(float64(len(r.queue)))
			return batch
		}
	}
	r.metrics.queued.Set(float64(len(r.queue)))
	return batch
}

// write stores batch, or drops and counts it; it reports whether the
// batch was written.
func (r *Recorder) write(ctx context.Context, batch []cluster.LoginRecord) bool {
	err := r.store.Write(ctx, batch)
	switch {
	case err == nil:
		r.metrics.written.Add(float64(len(batch)))
		return true
	case ctx.Err() != nil:
		r.drop(CauseShutdown, len(batch))
	case errors.Is(err, cluster.ErrUnavailable):
		r.drop(CauseStoreUnavailable, len(batch))
	default:
		r.drop(CauseStoreError, len(batch))
	}
	return false
}

// trim keeps the users batch was written for within the cap: each
// record trims its user with a chance of 1 in trimOdds, and a user at
// most once per trimEvery. A trim that fails is left to a later record.
func (r *Recorder) trim(ctx context.Context, batch []cluster.LoginRecord) {
	now := r.now()
	for u, at := range r.trimmed {
		if now.Sub(at) >= trimEvery {
			delete(r.trimmed, u)
		}
	}
	odds := trimOdds(r.perUser)
	for _, rec := range batch {
		if r.rand.IntN(odds) != 0 {
			continue
		}
		u := cluster.UserKey(rec.User)
		if _, ok := r.trimmed[u]; ok {
			continue
		}
		if _, err := r.store.Trim(ctx, rec.User, r.perUser); err == nil {
			r.trimmed[u] = now
		}
	}
}

// flush writes what is queued, batch by batch, until the queue is empty
// or ctx ends.
func (r *Recorder) flush(ctx context.Context) {
	for {
		select {
		case rec := <-r.queue:
			if ctx.Err() != nil {
				r.drop(CauseShutdown, 1+r.discard())
				return
			}
			r.write(ctx, r.batch(rec))
		default:
			return
		}
	}
}

// discard empties the queue and returns how many records it held.
func (r *Recorder) discard() int {
	n := 0
	for {
		select {
		case <-r.queue:
			n++
		default:
			r.metrics.queued.Set(0)
			return n
		}
	}
}

func (r *Recorder) drop(cause string, n int) {
	if n > 0 {
		r.metrics.dropped.WithLabelValues(cause).Add(float64(n))
	}
}
