package main

import (
	"context"
	"sync"
	"time"

	"twostep/cluster"
	"twostep/history"
	"twostep/history/syslog"
	"twostep/radiusd"
)

// historyFlush bounds how long the records still queued at shutdown are
// written (and sent to syslog) for, within the drain's deadline: an etcd
// or a receiver that does not answer must leave time to close the store.
const historyFlush = 5 * time.Second

// sink takes the record of every answer off the login's path: the login
// history's recorder (etcd), the syslog exporter. Run writes what Record
// queued; Shutdown flushes it.
type sink interface {
	radiusd.Recorder
	Run(ctx context.Context)
	Shutdown(ctx context.Context) error
}

// sinks hands each record to every sink; none of them waits.
type sinks []namedSink

// namedSink is a sink with what the log says when its flush ran out of
// time.
type namedSink struct {
	sink
	lost string
}

// Record gives r to every sink.
func (s sinks) Record(r cluster.LoginRecord) {
	for _, k := range s {
		k.Record(r)
	}
}

// newHistory returns where the RADIUS server's records go: the login
// history's recorder writing to store as node, unless history.enabled
// is false, and the syslog exporter, when history.syslog.address is set;
// and the audit trail's exporter, with the latter. Either may be absent.
func (d *daemon) newHistory(store cluster.Store, node string) (sinks, *syslog.AuditExporter, error) {
	hc := d.cfg.History
	var out sinks
	if hc.Enabled {
		out = append(out, namedSink{history.New(history.Options{
			Config:  hc,
			Store:   cluster.NewHistory(store, d.keys, hc.Retention),
			Node:    node,
			Metrics: d.m.history,
		}), "login history: records not written by the end of the grace period were dropped (twostep_history_records_dropped_total{cause=\"shutdown\"})"})
	}
	if !hc.Syslog.Enabled() {
		return out, nil, nil
	}
	o := syslog.Options{Config: hc.Syslog, Node: node, Metrics: d.m.syslog, Report: d.reportSyslog}
	exp, err := syslog.New(o)
	if err != nil {
		return nil, nil, err
	}
	audit, err := syslog.NewAuditExporter(o, cluster.NewAuditExport(store, node, nil), cluster.NewAudit(store, 0))
	if err != nil {
		return nil, nil, err
	}
	out = append(out, namedSink{exp, "syslog export: login records not sent by the end of the grace period were dropped (twostep_history_syslog_messages_total{result=\"shutdown\"})"})
	return out, audit, nil
}

// reportSyslog logs that the syslog receiver cannot be reached (err), or
// is reached again (nil), once per change and kind.
func (d *daemon) reportSyslog(kind string, err error) {
	addr := d.cfg.History.Syslog.Address
	if err != nil {
		d.log.Warn().Err(err).Str("kind", kind).Str("addr", addr).Msg("syslog receiver unreachable: trying again with backoff; login records wait in a bounded queue, audit events in etcd")
		return
	}
	d.log.Info().Str("kind", kind).Str("addr", addr).Msg("syslog receiver reached again")
}

// addHistory adds the sinks' writers to the group. Added after the
// servers, they are interrupted once the RADIUS server has answered the
// requests in flight, and then write what those queued, all at once
// within historyFlush. Their writes run on a context that the signal
// which stops the daemon does not end, so that this flush can still
// write.
func (d *daemon) addHistory(ctx context.Context, g *group, recs sinks, dr *drain) {
	if len(recs) == 0 {
		return
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.add(func() error {
		var wg sync.WaitGroup
		for _, r := range recs {
			wg.Go(func() { r.Run(wctx) })
		}
		wg.Wait()
		return nil
	}, func(error) {
		dctx, cancel := dr.context()
		defer cancel()
		fctx, cancelFlush := context.WithTimeout(dctx, historyFlush)
		defer cancelFlush()
		var wg sync.WaitGroup
		for _, r := range recs {
			wg.Go(func() {
				if err := r.Shutdown(fctx); err != nil {
					d.log.Warn().Err(err).Msg(r.lost)
				}
			})
		}
		wg.Wait()
		stop()
	})
}

// addAuditExport adds the audit trail's exporter to the group, when
// history.syslog is on: it runs until interrupted with the loops, then
// hands the claim over to another node.
func (d *daemon) addAuditExport(ctx context.Context, g *group, x *syslog.AuditExporter) {
	if x == nil {
		return
	}
	ctx, stop := context.WithCancel(ctx)
	g.add(func() error {
		x.Run(ctx)
		return nil
	}, func(error) { stop() })
}
