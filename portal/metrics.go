package portal

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors of the portal and the push
// approval API. Every label value is one of this package's constants,
// never something a request carries, so cardinality is bounded.
type Metrics struct {
	throttled *prometheus.CounterVec
	requests  *prometheus.CounterVec
	signIns   *prometheus.CounterVec
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
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_portal_requests_total",
			Help: "Requests to the portal and the push approval API, by route (the pattern that served it, such as \"POST /signin\", or \"unmatched\") and HTTP status code.",
		}, []string{"route", "code"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twostep_portal_sign_ins_total",
			Help: "Portal sign-in steps, by result: signed_in, password_refused, factor_refused, locked_out, throttled, error.",
		}, []string{"result"}),
	}
	for _, r := range []string{signedIn, signInPasswordRefused, signInFactorRefused, signInLockedOut, signInThrottled, signInError} {
		m.signIns.WithLabelValues(r)
	}
	// Every limit of every endpoint from the start, so that rates and
	// alerts see a series before the first refusal.
	for endpoint, limits := range map[string][]string{
		endpointSignIn:  {limitAddressUser, limitUser, limitAddress, limitCapacity},
		endpointAnswer:  {limitAddress, limitCapacity},
		endpointPending: {limitDevice, limitCapacity},
	} {
		for _, l := range limits {
			m.throttled.WithLabelValues(endpoint, l)
		}
	}
	if reg != nil {
		reg.MustRegister(m.throttled, m.requests, m.signIns)
	}
	return m
}

// Values of the result label of twostep_portal_sign_ins_total.
const (
	signedIn              = "signed_in"        // both factors, a recovery passcode, or a password that may only add a first device
	signInPasswordRefused = "password_refused" // a wrong password, unknown user, disabled account, denied by policy
	signInFactorRefused   = "factor_refused"   // a wrong passcode, a push denied or timed out
	signInLockedOut       = "locked_out"       // the account is locked
	signInThrottled       = "throttled"        // refused by a rate limit (429)
	signInError           = "error"            // the cluster store or the directory could not answer
)

// signIn counts a sign-in step's result; a nil Metrics counts nothing.
func (m *Metrics) signIn(result string) {
	if m != nil {
		m.signIns.WithLabelValues(result).Inc()
	}
}

// routeUnmatched is the route label of a request no pattern serves.
const routeUnmatched = "unmatched"

// countRequests counts every request h serves by the pattern of mux that
// matches it (a bounded set, never the path) and the status it got.
func (m *Metrics) countRequests(mux *http.ServeMux, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := routeUnmatched
		if _, pattern := mux.Handler(r); pattern != "" {
			route = pattern
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	})
}

// statusWriter remembers the status of the response written through it.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 && code >= 200 { // not an informational 1xx
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

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
