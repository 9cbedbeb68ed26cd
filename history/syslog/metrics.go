package syslog

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the export's Prometheus collectors. A nil *Metrics counts
// nothing.
type Metrics struct {
	messages  *prometheus.CounterVec
	connects  *prometheus.CounterVec
	queued    prometheus.Gauge
	exporting prometheus.Gauge
}

// Kinds of messages (the kind label).
const (
	KindLogin = "login"
	KindAudit = "audit"
)

// Results of messages (the result label of
// twostep_history_syslog_messages_total).
const (
	// ResultSent: written to the receiver's connection (or sent as a
	// datagram).
	ResultSent = "sent"
	// ResultQueueFull: a login record found the queue full (the receiver
	// down or slow for a while) and was dropped.
	ResultQueueFull = "queue_full"
	// ResultTooLarge: longer than a datagram may be (udp only); dropped.
	ResultTooLarge = "too_large"
	// ResultShutdown: a login record still queued when the flush at
	// shutdown ran out of time; dropped.
	ResultShutdown = "shutdown"
	// ResultMalformed: a value under audit/ that is not an event; skipped.
	ResultMalformed = "malformed"
)

// results are the results each kind of message can have.
var results = map[string][]string{
	KindLogin: {ResultSent, ResultQueueFull, ResultTooLarge, ResultShutdown},
	KindAudit: {ResultSent, ResultTooLarge, ResultMalformed},
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_history_syslog_messages_total",
			Help: "Messages of the syslog export (history.syslog), by kind (login, audit) and result (sent; dropped: queue_full, too_large, shutdown; skipped: malformed).",
		}, []string{"kind", "result"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_history_syslog_connects_total",
			Help: "Connections to the syslog receiver, by kind (login, audit) and result (ok, error).",
		}, []string{"kind", "result"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_history_syslog_queue_length",
			Help: "Login records waiting to be sent to the syslog receiver.",
		}),
		exporting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_history_syslog_audit_exporter",
			Help: "1 while this node holds the claim to export the audit trail to syslog (one node of the cluster at a time).",
		}),
	}
	for k, rs := range results {
		for _, r := range rs {
			m.messages.WithLabelValues(k, r) // every series shown from the start, at 0
		}
		m.connects.WithLabelValues(k, "ok")
		m.connects.WithLabelValues(k, "error")
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.connects, m.queued, m.exporting)
	}
	return m
}

func (m *Metrics) message(kind, result string, n int) {
	if m != nil && n > 0 {
		m.messages.WithLabelValues(kind, result).Add(float64(n))
	}
}

func (m *Metrics) connect(kind string, ok bool) {
	if m == nil {
		return
	}
	result := "error"
	if ok {
		result = "ok"
	}
	m.connects.WithLabelValues(kind, result).Inc()
}

func (m *Metrics) setQueued(n int) {
	if m != nil {
		m.queued.Set(float64(n))
	}
}

func (m *Metrics) setExporting(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.exporting.Set(v)
}
