package main

import (
	"context"
	"fmt"
	"time"

	"twostep/cluster"
)

// storeProbeInterval is how often the cluster store is pinged so that an
// outage and its end are logged once each.
const storeProbeInterval = 5 * time.Second

// openStore starts the embedded etcd when configured, then connects to
// the store. The returned stop closes both, the client first.
func (d *daemon) openStore(ctx context.Context) (*cluster.Etcd, func(), error) {
	var emb *cluster.Embedded
	if d.cfg.Cluster.UsesEmbedded() {
		var err error
		emb, err = cluster.StartEmbedded(ctx, d.cfg.Cluster.Embedded)
		if err != nil {
			return nil, nil, fmt.Errorf("embedded etcd: %w", err)
		}
		d.log.Info().Str("data_dir", d.cfg.Cluster.Embedded.DataDir).Strs("endpoints", emb.Endpoints()).Msg("embedded etcd started")
	}
	store, err := cluster.OpenEtcd(ctx, d.cfg.Cluster.Etcd)
	if err != nil {
		if emb != nil {
			emb.Close()
		}
		return nil, nil, err
	}
	return store, func() {
		store.Close()
		if emb != nil {
			emb.Close()
		}
	}, nil
}

// probeStore logs when the cluster store stops and starts answering.
// Logins go on meanwhile, each following its client's fail mode; the node
// stays ready, since another node would find the same store down.
func (d *daemon) probeStore(ctx context.Context, store *cluster.Etcd) {
	t := time.NewTicker(storeProbeInterval)
	defer t.Stop()
	up := true
	for {
		pctx, cancel := context.WithTimeout(ctx, storeProbeInterval)
		err := store.Ping(pctx)
		cancel()
		switch {
		case err != nil && up && ctx.Err() == nil:
			d.log.Error().Err(err).Msg("cluster store unreachable: second factors follow each client's failmode until it answers")
		case err == nil && !up:
			d.log.Info().Msg("cluster store reachable again")
		}
		up = err == nil || ctx.Err() != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
