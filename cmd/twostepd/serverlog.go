package main

import (
	"log"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"twostep/loglimit"
)

// newServerErrors counts the lines net/http writes to the error log of
// the daemon's HTTP servers, logged or held back.
func newServerErrors(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twostep_http_server_errors_total",
		Help: "Errors of the HTTP servers (portal, push_api, metrics) that net/http reports, by cause (tls_handshake, http2, panic, accept, other).",
	}, []string{"server", "cause"})
	// Every server and cause from the start, so that rates and alerts
	// see a series before the first error.
	for _, server := range []string{"portal", "push_api", "metrics"} {
		for _, cause := range []string{causeTLSHandshake, causeHTTP2, causePanic, causeAccept, causeOther} {
			c.WithLabelValues(server, cause)
		}
	}
	reg.MustRegister(c)
	return c
}

// newServerLog returns the ErrorLog of one HTTP server. net/http writes a
// plain line there for every failed TLS handshake and every broken
// connection, which anybody can cause at will (a slowloris run wrote
// 82,000): each goes to zl as JSON instead, counted in count, and at
// most one a second per cause gets through lines.
func newServerLog(server string, zl zerolog.Logger, lines *loglimit.Limiter, count *prometheus.CounterVec) *log.Logger {
	return log.New(&serverLog{server: server, log: zl, lines: lines, count: count}, "", 0)
}

// serverLog is the writer behind newServerLog's logger; log.Logger hands
// it one whole line per Write.
type serverLog struct {
	server string // the server label: portal, push_api, metrics
	log    zerolog.Logger
	lines  *loglimit.Limiter
	count  *prometheus.CounterVec
}

func (s *serverLog) Write(b []byte) (int, error) {
	msg := strings.TrimSpace(string(b))
	cause, level, remote := classifyServerError(msg)
	s.count.WithLabelValues(s.server, cause).Inc()
	ev := s.lines.Event(&s.log, level, cause).Str("server", s.server)
	if remote != "" {
		ev = ev.Str("remote", remote)
	}
	ev.Str("error", msg).Msg("http server")
	return len(b), nil
}

// Causes of twostep_http_server_errors_total.
const (
	causeTLSHandshake = "tls_handshake"
	causeHTTP2        = "http2"
	causePanic        = "panic"
	causeAccept       = "accept"
	causeOther        = "other"
)

// classifyServerError sorts a line of net/http's error log into a cause
// (a metric label, so from a fixed set), the level it is logged at, and
// the peer's address when the line names one where it is easy to find.
// A failed handshake is the noise of scanners and load balancers' TCP
// checks (debug, like RADIUS packets from unknown clients; the metric
// shows a surge, as when the certificate expired); a broken HTTP/2
// connection is a peer's fault (warn); a panic or a failing listener is
// ours (error).
func classifyServerError(msg string) (cause string, level zerolog.Level, remote string) {
	switch {
	case strings.HasPrefix(msg, "http: TLS handshake error from "):
		rest := strings.TrimPrefix(msg, "http: TLS handshake error from ")
		remote, _, _ = strings.Cut(rest, ": ")
		return causeTLSHandshake, zerolog.DebugLevel, remote
	case strings.HasPrefix(msg, "http: panic serving"), strings.HasPrefix(msg, "http2: panic serving"):
		return causePanic, zerolog.ErrorLevel, ""
	case strings.HasPrefix(msg, "http: Accept error"):
		return causeAccept, zerolog.ErrorLevel, ""
	case strings.HasPrefix(msg, "http2:"), strings.HasPrefix(msg, "timeout waiting for"):
		return causeHTTP2, zerolog.WarnLevel, ""
	default:
		return causeOther, zerolog.WarnLevel, ""
	}
}
