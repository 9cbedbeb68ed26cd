package challenge

import (
	"github.com/prometheus/client_golang/prometheus"

	"twostep/cluster"
)

// Metrics are the login engine's Prometheus collectors: how the pushes
// logins waited on ended, how many logins wait for one now, the logins
// refused because the account is locked and the locks this node set, by
// cause. Every label value is one of this package's or cluster's
// constants, never a user, so cardinality is bounded. A nil *Metrics
// counts nothing.
type Metrics struct {
	answers *prometheus.CounterVec
	pending prometheus.Gauge
	lockout *prometheus.CounterVec
	locks   *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_push_answers_total",
			Help: "Pushes that a login or a portal sign-in on this node waited on, by how they ended: approve, deny (a wrong number too), fraud (\"This wasn't me\") or timeout.",
		}, []string{"decision"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_push_pending_logins",
			Help: "Logins on this node waiting now for the answer to their push.",
		}),
		lockout: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_lockouts_total",
			Help: "Logins and portal sign-ins refused because the account is locked, by the lock's cause (failures, fraud, admin).",
		}, []string{"cause"}),
		locks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_locks_total",
			Help: "Accounts this node locked, by cause: failures (the lockout's count of wrong second factors reached) or fraud (a push answered \"This wasn't me\"); admin locks are twostepctl's.",
		}, []string{"cause"}),
	}
	for _, d := range []string{answerApprove, answerDeny, answerFraud, answerTimeout} {
		m.answers.WithLabelValues(d)
	}
	for _, c := range []cluster.LockCause{cluster.LockFailures, cluster.LockFraud, cluster.LockAdmin} {
		m.lockout.WithLabelValues(string(c))
	}
	for _, c := range []cluster.LockCause{cluster.LockFailures, cluster.LockFraud} {
		m.locks.WithLabelValues(string(c))
	}
	if reg != nil {
		reg.MustRegister(m.answers, m.pending, m.lockout, m.locks)
	}
	return m
}

// WithMetrics counts the engine's pushes and locks on m.
func WithMetrics(m *Metrics) Option {
	return func(e *Engine) { e.metrics = m }
}

// Values of the decision label of twostep_push_answers_total.
const (
	answerApprove = "approve"
	answerDeny    = "deny"
	answerFraud   = "fraud"
	answerTimeout = "timeout"
)

// pushEnded counts how the push behind a final Decision ended, if d is
// one's outcome.
func (m *Metrics) pushEnded(d Decision) {
	if m == nil {
		return
	}
	var label string
	switch d.Reason {
	case ReasonPushApproved:
		label = answerApprove
	case ReasonPushDenied:
		label = answerDeny
	case ReasonPushFraud:
		label = answerFraud
	case ReasonPushTimeout:
		label = answerTimeout
	default:
		return
	}
	m.answers.WithLabelValues(label).Inc()
}

// waiting adds n (1 or -1) to the logins waiting for a push.
func (m *Metrics) waiting(n float64) {
	if m != nil {
		m.pending.Add(n)
	}
}

// lockedOut counts a login refused for a lock of cause.
func (m *Metrics) lockedOut(cause cluster.LockCause) {
	if m != nil {
		m.lockout.WithLabelValues(string(cause)).Inc()
	}
}

// locked counts a lock this node set.
func (m *Metrics) locked(cause cluster.LockCause) {
	if m != nil {
		m.locks.WithLabelValues(string(cause)).Inc()
	}
}
