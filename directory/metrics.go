package directory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/directory/ldapclient"
)

// Metrics are the directory's Prometheus collectors: every request a
// login makes of it (Authenticate, and with LDAP each search, group
// search, user bind and health probe), timed, by outcome; with LDAP also
// the pools' connections in use and each server's health, read when
// scraped. Label values are this package's constants, the pools' names
// and the configured server URLs (which carry no credentials), never a
// user name or an error's text. A nil *Metrics counts nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ldap     *ldapCollector
}

// NewMetrics creates the collectors and registers them on reg; a nil reg
// registers nothing. Like prometheus.MustRegister it panics if they are
// registered there already, which is a wiring mistake. Give it to one
// backend: WithLDAPMetrics, WithFileMetrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_directory_requests_total",
			Help: "Requests to the directory, by operation (authenticate; with LDAP also search, groups, bind, ping) and result (ok, rejected: the directory answered no, timeout, error).",
		}, []string{"operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "twostep_directory_request_duration_seconds",
			Help: "Time the directory took to answer, by operation; a bind includes the wait for a pooled connection.",
			// From a cached file check to the 5 s op_timeout and past it.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		ldap: &ldapCollector{
			inUse: prometheus.NewDesc("twostep_directory_pool_connections_in_use",
				"LDAP connections in use or being opened, by pool (search: the service account's; bind: users' password checks).", []string{"pool"}, nil),
			up: prometheus.NewDesc("twostep_directory_server_up",
				"1 if the LDAP server answered the last exchange with it, 0 if it failed it (refused, timed out, broken off), by server URL; a server not tried yet has no series.", []string{"server"}, nil),
		},
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.ldap)
	}
	return m
}

// Values of the operation label.
const (
	opAuthenticate = "authenticate"
	opSearch       = "search"
	opGroups       = "groups"
	opBind         = "bind"
	opPing         = "ping"
)

// Values of the result label.
const (
	resultOK       = "ok"
	resultRejected = "rejected"
	resultTimeout  = "timeout"
	resultError    = "error"
)

// resultOf names the outcome of a request that ended with err; refused
// is set when the directory answered but said no (a wrong password, a
// locked account, a result code).
func resultOf(err error, refused bool) string {
	switch {
	case err == nil && refused:
		return resultRejected
	case err == nil:
		return resultOK
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, ldapclient.ErrTimeout), errors.Is(err, ldapclient.ErrPoolWait):
		return resultTimeout
	case ldapclient.IsResult(err):
		return resultRejected
	}
	return resultError
}

// observe counts one request of op that began at start, and tells the
// Observer ctx carries, if any (observe.go), with what detail returns
// (nil: nothing to say), which is only called then.
func (m *Metrics) observe(ctx context.Context, op string, start time.Time, err error, refused bool, detail func() string) {
	took := time.Since(start)
	if m != nil {
		m.requests.WithLabelValues(op, resultOf(err, refused)).Inc()
		m.duration.WithLabelValues(op).Observe(took.Seconds())
	}
	if o := observerOf(ctx); o != nil {
		s := Step{Operation: op, Result: resultOf(err, refused), Duration: took}
		if detail != nil {
			s.Detail = detail()
		}
		o.ObserveDirectory(s)
	}
}

// ldapCollector reads the pools and servers of the LDAP backend it
// watches when scraped.
type ldapCollector struct {
	inUse, up *prometheus.Desc
	mu        sync.Mutex
	l         *LDAP
}

// watch makes l the backend c reports.
func (m *Metrics) watch(l *LDAP) {
	if m == nil {
		return
	}
	m.ldap.mu.Lock()
	m.ldap.l = l
	m.ldap.mu.Unlock()
}

func (c *ldapCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inUse
	ch <- c.up
}

func (c *ldapCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	l := c.l
	c.mu.Unlock()
	if l == nil {
		return
	}
	for _, p := range []struct {
		name string
		pool *ldapclient.Pool
	}{{"search", l.search}, {"bind", l.bind}} {
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(p.pool.InUse()), p.name)
	}
	seen := map[string]bool{}
	for _, s := range l.dial.Servers {
		up, known := s.Health()
		if !known || seen[s.URL()] {
			continue // a URL given twice: one series
		}
		seen[s.URL()] = true
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, s.URL())
	}
}
