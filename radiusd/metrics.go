package radiusd

import (
	"github.com/prometheus/client_golang/prometheus"

	"twostep/challenge"
)

// Metrics are the server's Prometheus collectors. Every label value comes
// from configuration (client names) or a fixed set in this package (codes,
// reasons, causes, actions), never from a packet, so cardinality is bounded.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	duplicates *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	inFlight   prometheus.Gauge
	nasGaveUp  *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// already registered there, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_radius_requests_total",
			Help: "Requests answered, by client, response code (accept, reject, challenge) and reason.",
		}, []string{"client", "code", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostep_radius_request_duration_seconds",
			Help: "Time from reading an Access-Request to sending its answer.",
			// Up to 30 s: a push waits on a human, as long as the NAS allows.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30},
		}, []string{"client"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_radius_duplicates_total",
			Help: "Retransmitted requests, by action: dropped_in_flight (still being decided) or resent (answered from the cache).",
		}, []string{"action"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_radius_packets_dropped_total",
			Help: "Packets dropped without an answer, by cause.",
		}, []string{"cause"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "twostep_radius_requests_in_flight",
			Help: "Access-Requests being decided now.",
		}),
		nasGaveUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_radius_nas_gave_up_total",
			Help: "Answers sent after the NAS had stopped waiting (no copy of the request within the client's nas_timeout), by client: the NAS waits less than the client entry says.",
		}, []string{"client"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.duplicates, m.dropped, m.inFlight, m.nasGaveUp)
	}
	return m
}

// Values of the action label of twostep_radius_duplicates_total.
const (
	dupDroppedInFlight = "dropped_in_flight"
	dupResent          = "resent"
)

// reasonLabel keeps the reason label bounded even if an Authenticator
// broke the contract that reasons never carry user input.
func reasonLabel(r challenge.Reason) string {
	if r == "" {
		return "unspecified"
	}
	if len(r) > 32 {
		return "other"
	}
	for i := 0; i < len(r); i++ {
		if b := r[i]; (b < 'a' || b > 'z') && (b < '0' || b > '9') && b != '_' {
			return "other"
		}
	}
	return string(r)
}
