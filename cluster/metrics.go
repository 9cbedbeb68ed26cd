package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the cluster store's Prometheus collectors: every call a
// node makes to the store (MeteredStore), the conflicts Retry read again
// after, whether the store answers (SetUnavailable), and the clock
// offsets the node registry measures (Nodes). Every label value is one
// of this package's constants or a node name from the nodes'
// configuration, never a key, a user or an error's text, so cardinality
// is bounded. A nil *Metrics counts nothing.
type Metrics struct {
	operations  *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	conflicts   prometheus.Counter
	unavailable prometheus.Gauge
	clockOffset *prometheus.GaugeVec
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_cluster_operations_total",
			Help: "Calls to the cluster store, by operation (get, list, commit, watch) and result (ok, not_found, conflict, unavailable, error).",
		}, []string{"operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostep_cluster_operation_duration_seconds",
			Help: "Time the cluster store took to answer, by operation (a watch: until it is in place).",
			// From a local etcd's fraction of a millisecond to the 2 s
			// request timeout and beyond (an unknown commit read back).
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twostep_cluster_conflicts_retried_total",
			Help: "Read-modify-writes read again and decided again because another writer changed the records first (cluster.Retry).",
		}),
		unavailable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_cluster_unavailable",
			Help: "1 while the cluster store does not answer this node's probe (second factors follow each client's failmode), else 0.",
		}),
		clockOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "twostep_cluster_clock_offset_seconds",
			Help: "How far another node's clock is ahead of this node's (negative: behind), by node, measured through the node registry (nodes/<name>) to within the store's round trips.",
		}, []string{"node"}),
	}
	// Every operation and result from the start, so that rates and
	// alerts see a series before the first failure.
	for _, op := range []string{opGet, opList, opCommit, opWatch} {
		for _, res := range []string{resultOK, resultNotFound, resultConflict, resultUnavailable, resultError} {
			m.operations.WithLabelValues(op, res)
		}
	}
	if reg != nil {
		reg.MustRegister(m.operations, m.duration, m.conflicts, m.unavailable, m.clockOffset)
	}
	return m
}

// Values of the operation label.
const (
	opGet    = "get"
	opList   = "list"
	opCommit = "commit"
	opWatch  = "watch"
)

// Values of the result label.
const (
	resultOK          = "ok"
	resultNotFound    = "not_found"
	resultConflict    = "conflict"
	resultUnavailable = "unavailable"
	resultError       = "error"
)

// resultOf names err's class for the result label.
func resultOf(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrNotFound):
		return resultNotFound
	case errors.Is(err, ErrConflict):
		return resultConflict
	case errors.Is(err, ErrUnavailable):
		return resultUnavailable
	}
	return resultError
}

// observe counts one call of op that began at start and ended with err.
func (m *Metrics) observe(op string, start time.Time, err error) {
	if m == nil {
		return
	}
	m.operations.WithLabelValues(op, resultOf(err)).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// SetUnavailable records whether the store answers this node: the
// daemon's probe sets it at each round.
func (m *Metrics) SetUnavailable(down bool) {
	if m == nil {
		return
	}
	v := 0.0
	if down {
		v = 1
	}
	m.unavailable.Set(v)
}

// setOffset records node's clock offset; forgetOffset drops its series
// once the node has left.
func (m *Metrics) setOffset(node string, d time.Duration) {
	if m != nil {
		m.clockOffset.WithLabelValues(node).Set(d.Seconds())
	}
}

func (m *Metrics) forgetOffset(node string) {
	if m != nil {
		m.clockOffset.DeleteLabelValues(node)
	}
}

// MeteredStore is a Store that counts and times every call of the Store
// it wraps (coredns's proxy metrics, for the upstream every second factor
// waits on). Its ErrConflict errors also let Retry count the conflicts it
// reads again after. A Get, List or Commit whose context carries an
// Observer (WithObserver) is told to it too (observe.go).
type MeteredStore struct {
	s Store
	m *Metrics
}

// NewMeteredStore returns s counted on m.
func NewMeteredStore(s Store, m *Metrics) *MeteredStore {
	return &MeteredStore{s: s, m: m}
}

// Get is s's Get, counted.
func (ms *MeteredStore) Get(ctx context.Context, key string) (Entry, error) {
	start := time.Now()
	e, err := ms.s.Get(ctx, key)
	ms.m.observe(opGet, start, err)
	observeRead(ctx, opGet, key, 0, start, err)
	return e, err
}

// List is s's List, counted.
func (ms *MeteredStore) List(ctx context.Context, prefix string) ([]Entry, error) {
	start := time.Now()
	es, err := ms.s.List(ctx, prefix)
	ms.m.observe(opList, start, err)
	observeRead(ctx, opList, prefix, len(es), start, err)
	return es, err
}

// Commit is s's Commit, counted. A conflict comes back as an error that
// still wraps ErrConflict, marked for Retry to count when it reads again.
func (ms *MeteredStore) Commit(ctx context.Context, txn Txn) (int64, error) {
	start := time.Now()
	rev, err := ms.s.Commit(ctx, txn)
	ms.m.observe(opCommit, start, err)
	observeCommit(ctx, txn, start, err)
	if ms.m != nil && errors.Is(err, ErrConflict) {
		err = &countedConflict{err: err, m: ms.m}
	}
	return rev, err
}

// Watch is s's Watch, counted once it is in place (its Created event:
// result ok, timed) or lost before (unavailable). The events go through
// one more goroutine, which ends with the watch.
func (ms *MeteredStore) Watch(ctx context.Context, prefix string) <-chan WatchEvent {
	start := time.Now()
	in := ms.s.Watch(ctx, prefix)
	out := make(chan WatchEvent)
	go func() {
		defer close(out)
		created := false
		for ev := range in {
			if !created {
				created = true
				ms.m.observe(opWatch, start, nil)
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				// The caller has stopped reading; the inner watch
				// ends with ctx too.
				for range in {
				}
				return
			}
		}
		if !created && ctx.Err() == nil {
			ms.m.observe(opWatch, start, ErrUnavailable)
		}
	}()
	return out
}

// countedConflict is ErrConflict from a MeteredStore: Retry counts it on
// m when it reads again.
type countedConflict struct {
	err error
	m   *Metrics
}

func (c *countedConflict) Error() string { return c.err.Error() }
func (c *countedConflict) Unwrap() error { return c.err }

// countRetry counts the conflict behind err, when a MeteredStore reported
// it, as one read again by Retry.
func countRetry(err error) {
	var c *countedConflict
	if errors.As(err, &c) && c.m != nil {
		c.m.conflicts.Inc()
	}
}
