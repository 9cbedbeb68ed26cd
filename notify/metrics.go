package notify

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors of the notifications Dispatch
// sends: how many, by kind and result, and how long each took (a login
// waits on its push service or webhook). Every label value is one of this
// package's constants, never an endpoint, so cardinality is bounded. A
// nil *Metrics counts nothing.
type Metrics struct {
	sent     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_push_notifications_total",
			Help: "Push notifications sent, by kind (webpush, webhook, alert: the fraud alert webhook) and result (ok; gone: the subscription no longer exists; refused: 4xx or unusable target; error: unreachable, timed out, 5xx).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostep_push_notification_duration_seconds",
			Help: "Time a push service or webhook took to take a notification, by kind.",
			// Up to the 5 s a login gives its notification, and the 10 s of
			// a webhook's own bound.
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
	}
	for _, kind := range []string{KindWebPush, KindWebhook, KindAlert} {
		for _, res := range []string{resultOK, resultGone, resultRefused, resultError} {
			m.sent.WithLabelValues(kind, res)
		}
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.duration)
	}
	return m
}

// Values of the result label.
const (
	resultOK      = "ok"
	resultGone    = "gone"
	resultRefused = "refused"
	resultError   = "error"
)

// observe counts one notification of kind that began at start and ended
// with err, and tells the Observer ctx carries, if any (observe.go).
func (m *Metrics) observe(ctx context.Context, kind string, start time.Time, err error) {
	took := time.Since(start)
	res := resultOK
	switch {
	case errors.Is(err, ErrGone):
		res = resultGone
	case errors.Is(err, ErrRefused):
		res = resultRefused
	case err != nil:
		res = resultError
	}
	if o := observerOf(ctx); o != nil {
		o.ObserveNotification(kind, res, took)
	}
	if m == nil {
		return
	}
	m.sent.WithLabelValues(kind, res).Inc()
	m.duration.WithLabelValues(kind).Observe(took.Seconds())
}
