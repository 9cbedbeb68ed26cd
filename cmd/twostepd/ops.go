package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"twostep/cluster"
)

// opsServer serves /metrics, /healthz (the process answers) and /readyz
// (the node takes RADIUS traffic) for monitoring and load balancers.
type opsServer struct {
	ln  net.Listener
	srv *http.Server
}

// startOps binds addr; an empty addr means no listener (nil, nil).
// errorLog takes net/http's complaints (see newServerLog).
func startOps(addr string, reg *prometheus.Registry, ready func() bool, errorLog *log.Logger) (*opsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return &opsServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: errorLog}}, nil
}

func (o *opsServer) addr() string { return o.ln.Addr().String() }

func (o *opsServer) serve() error {
	if err := o.srv.Serve(o.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (o *opsServer) shutdown(ctx context.Context) {
	o.srv.Shutdown(ctx)
}

// tamperedRecords exposes the keyring's count of cluster records that
// failed their integrity check (edited in etcd without the key file), by
// kind: any value above zero wants an admin's look at who writes to etcd.
type tamperedRecords struct {
	keys *cluster.Keyring
	desc *prometheus.Desc
}

func newTamperedRecords(keys *cluster.Keyring) tamperedRecords {
	return tamperedRecords{keys: keys, desc: prometheus.NewDesc("twostep_cluster_records_tampered_total",
		"Cluster records refused because they fail their integrity check (edited without the seed key file), by kind.",
		[]string{"kind"}, nil)}
}

func (t tamperedRecords) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

func (t tamperedRecords) Collect(ch chan<- prometheus.Metric) {
	counts := t.keys.TamperedCounts()
	for _, kind := range cluster.RecordKinds {
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(counts[kind]), string(kind))
	}
}
