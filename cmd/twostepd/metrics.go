package main

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/directory"
	"twostep/history"
	"twostep/history/syslog"
	"twostep/notify"
	"twostep/portal"
	"twostep/radiusd"
	"twostep/trace"
)

// Metrics follow one idiom in every package (coredns's
// plugin/pkg/proxy/metrics.go: a metric for every upstream a request
// waits on). A package that decides, or waits on something outside the
// process, has a Metrics struct of its own collectors, made by
// NewMetrics(prometheus.Registerer) and registered there, and takes it
// through its constructor's options or config (directory.WithLDAPMetrics,
// challenge.WithMetrics, notify.Dispatch.Metrics, portal.Config.Metrics,
// radiusd.Options.Metrics, cluster.NewMeteredStore); a nil *Metrics
// counts nothing, so tests and twostepctl pass none. Label values are
// each package's constants or names from the configuration, never a user
// name, a path or an error's text. Nothing is registered globally: the
// daemon builds them all here, on the registry /metrics serves.

// metrics are every package's collectors and the daemon's own, on one
// private registry.
type metrics struct {
	reg       *prometheus.Registry
	directory *directory.Metrics
	cluster   *cluster.Metrics
	engine    *challenge.Metrics
	notify    *notify.Metrics
	web       *portal.Metrics // the portal's and every push API's
	radius    *radiusd.Metrics
	history   *history.Metrics
	trace     *trace.Metrics
	syslog    *syslog.Metrics
	// serverErrors counts the HTTP servers' own errors (serverlog.go).
	serverErrors *prometheus.CounterVec
	// reloads counts SIGHUP reloads by result (ok, error).
	reloads *prometheus.CounterVec
}

// newMetrics builds the collectors on a new registry, with Go's and the
// process's and twostep_build_info. serve adds the cluster records that
// failed their check (ops.go) once the key file is read.
func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "twostep_build_info",
		Help:        "1, labelled with the twostepd version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twostep_config_reloads_total",
		Help: "Configuration reloads (SIGHUP), by result: ok, or error (the file was refused and the running configuration stays, or the users file was refused and the previous users stay).",
	}, []string{"result"})
	reloads.WithLabelValues(reloadOK)
	reloads.WithLabelValues(reloadError)
	reg.MustRegister(buildInfo, reloads)
	return &metrics{
		reg:          reg,
		directory:    directory.NewMetrics(reg),
		cluster:      cluster.NewMetrics(reg),
		engine:       challenge.NewMetrics(reg),
		notify:       notify.NewMetrics(reg),
		web:          portal.NewMetrics(reg),
		radius:       radiusd.NewMetrics(reg),
		history:      history.NewMetrics(reg),
		trace:        trace.NewMetrics(reg),
		syslog:       syslog.NewMetrics(reg),
		serverErrors: newServerErrors(reg),
		reloads:      reloads,
	}
}

// Values of the result label of twostep_config_reloads_total.
const (
	reloadOK    = "ok"
	reloadError = "error"
)
