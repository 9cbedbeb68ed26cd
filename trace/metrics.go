package trace

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the tracer's Prometheus collectors: how many users this
// node traces now, and the events it gave up on. Label values are this
// package's constants. A nil *Metrics counts nothing.
type Metrics struct {
	active  prometheus.Gauge
	dropped *prometheus.CounterVec
}

// Causes of dropped events (the cause label of
// twostep_trace_events_dropped_total).
const (
	// CauseQueueFull: the writer's queue was full (etcd slow or down).
	CauseQueueFull = "queue_full"
	// CauseStoreUnavailable: etcd could not be reached, or did not say
	// in time whether the batch was written.
	CauseStoreUnavailable = "store_unavailable"
	// CauseStoreError: etcd refused the batch (its quota, say).
	CauseStoreError = "store_error"
	// CauseShutdown: the node stopped before they were written.
	CauseShutdown = "shutdown"
	// CauseRequestFull: one request's steps beyond what its record keeps
	// (MaxEvents).
	CauseRequestFull = "request_full"
	// CauseRateLimited: records beyond what one node writes (20 a
	// second, bursts of 200): a flood of requests in a traced user's
	// name.
	CauseRateLimited = "rate_limited"
)

var causes = []string{CauseQueueFull, CauseStoreUnavailable, CauseStoreError, CauseShutdown, CauseRequestFull, CauseRateLimited}

// NewMetrics creates the collectors and registers them on reg; a nil
// reg registers nothing. Like prometheus.MustRegister it panics if they
// are registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_trace_active_users",
			Help: "Users this node traces now for twostepctl trace (0: no trace, and no cost per login).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_trace_events_dropped_total",
			Help: "Trace events (steps of a traced request) this node gave up on, by cause (queue_full, store_unavailable, store_error, shutdown, request_full, rate_limited); the answers were sent all the same.",
		}, []string{"cause"}),
	}
	for _, c := range causes {
		m.dropped.WithLabelValues(c) // every cause shown from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(m.active, m.dropped)
	}
	return m
}

// setActive records how many users are traced.
func (m *Metrics) setActive(n int) {
	if m != nil {
		m.active.Set(float64(n))
	}
}

// drop counts n events given up for cause.
func (m *Metrics) drop(cause string, n int) {
	if m != nil && n > 0 {
		m.dropped.WithLabelValues(cause).Add(float64(n))
	}
}
