package history

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the recorder's Prometheus collectors.
type Metrics struct {
	written prometheus.Counter
	dropped *prometheus.CounterVec
	queued  prometheus.Gauge
}

// Causes of dropped records (the cause label of
// twostep_history_records_dropped_total).
const (
	// CauseQueueFull: the queue was full (etcd slow or down for a
	// while, or more answers than etcd takes).
	CauseQueueFull = "queue_full"
	// CauseStoreUnavailable: etcd could not be reached, or did not say in
	// time whether the batch was written.
	CauseStoreUnavailable = "store_unavailable"
	// CauseStoreError: etcd refused the batch (a bug, or etcd's quota).
	CauseStoreError = "store_error"
	// CauseShutdown: the daemon stopped before the records were written
	// (the flush ran out of time), or they came after.
	CauseShutdown = "shutdown"
)

var causes = []string{CauseQueueFull, CauseStoreUnavailable, CauseStoreError, CauseShutdown}

// NewMetrics creates the collectors and registers them on reg; a nil
// reg registers nothing. Like prometheus.MustRegister it panics if they
// are registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "twostep_history_records_written_total",
			Help: "Login history records written to the cluster store by this node.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_history_records_dropped_total",
			Help: "Login history records this node gave up on, by cause (queue_full, store_unavailable, store_error, shutdown); the answers were sent all the same.",
		}, []string{"cause"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_history_queue_length",
			Help: "Login history records waiting to be written.",
		}),
	}
	for _, c := range causes {
		m.dropped.WithLabelValues(c) // every cause shown from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(m.written, m.dropped, m.queued)
	}
	return m
}
