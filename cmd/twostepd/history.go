package main

import (
	"context"
	"time"

	"twostep/cluster"
	"twostep/history"
)

// historyFlush bounds how long the records still queued at shutdown are
// written for, within the drain's deadline: an etcd that does not answer
// must leave time to close the store.
const historyFlush = 5 * time.Second

// newHistory returns the login history's recorder writing to store as
// node, or nil when history.enabled is false.
func (d *daemon) newHistory(store cluster.Store, node string) *history.Recorder {
	hc := d.cfg.History
	if !hc.Enabled {
		return nil
	}
	return history.New(history.Options{
		Config:  hc,
		Store:   cluster.NewHistory(store, d.keys, hc.Retention),
		Node:    node,
		Metrics: d.m.history,
	})
}

// addHistory adds the recorder's writer to the group. Added after the
// servers, it is interrupted once the RADIUS server has answered the
// requests in flight, and then writes what they queued, within
// historyFlush. Its writes run on a context that the signal which stops
// the daemon does not end, so that this flush can still write.
func (d *daemon) addHistory(ctx context.Context, g *group, rec *history.Recorder, dr *drain) {
	if rec == nil {
		return
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.add(func() error {
		rec.Run(wctx)
		return nil
	}, func(error) {
		dctx, cancel := dr.context()
		defer cancel()
		fctx, cancelFlush := context.WithTimeout(dctx, historyFlush)
		defer cancelFlush()
		if err := rec.Shutdown(fctx); err != nil {
			d.log.Warn().Err(err).Msg("login history: records not written by the end of the grace period were dropped (twostep_history_records_dropped_total{cause=\"shutdown\"})")
		}
		stop()
	})
}
