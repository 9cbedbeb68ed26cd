package portal

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus collectors of the portal and the push
// approval API. Every label value is one of this package's constants,
// never something a request carries, so cardinality is bounded.
type Metrics struct {
	throttled *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake: give the portal
// and every push API of a process the same Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_portal_throttled_total",
			Help: "Requests refused with 429 by a rate limit of this node, by endpoint (signin, answer, pending) and limit (user, address_user, address, device, capacity).",
		}, []string{"endpoint", "limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.throttled)
	}
	return m
}

// Values of the endpoint label.
const (
	endpointSignIn  = "signin"
	endpointAnswer  = "answer"
	endpointPending = "pending"
)

// throttle counts a refusal; a nil Metrics counts nothing.
func (m *Metrics) throttle(endpoint, limit string) {
	if m == nil {
		return
	}
	m.throttled.WithLabelValues(endpoint, limit).Inc()
}
