package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"twostep/cluster"
	"twostep/cluster/embedded"
	"twostep/cluster/etcdstore"
)

// storeProbeInterval is how often the cluster store is pinged so that an
// outage and its end are logged once each.
const storeProbeInterval = 5 * time.Second

// embeddedDial bounds the first contact with the embedded etcd.
const embeddedDial = 15 * time.Second

// pingStore is the store twostepd works with: the cluster.Store contract
// and a cheap health check.
type pingStore interface {
	cluster.Store
	Ping(ctx context.Context) error
}

// meteredStore is the store the daemon works with: every call counted
// (cluster.MeteredStore), and Ping, the probe's, passed to the store it
// wraps.
type meteredStore struct {
	*cluster.MeteredStore
	inner pingStore
}

func (m meteredStore) Ping(ctx context.Context) error { return m.inner.Ping(ctx) }

// openStore starts the embedded etcd when configured, then connects to
// the store. An external etcd that does not answer at start does not stop
// the daemon: logins follow each client's failmode (safe clients keep
// working) while connect, run by the caller, keeps trying. A refusal
// (certificates, password) does stop it. stop closes what was opened,
// giving up on the embedded etcd when its context ends first.
func (d *daemon) openStore(ctx context.Context) (store pingStore, connect func(context.Context), stop func(context.Context), err error) {
	var emb *embedded.Server
	if d.cfg.Cluster.UsesEmbedded() {
		ecfg := d.cfg.Cluster.Embedded
		ecfg.Log = etcdLog(d.log)
		d.log.Info().Str("data_dir", ecfg.DataDir).Stringer("start_timeout", ecfg.StartTimeout).Msg("starting the embedded etcd")
		if emb, err = embedded.Start(ctx, ecfg); err != nil {
			return nil, nil, nil, err // it names the embedded etcd
		}
		d.log.Info().Str("data_dir", d.cfg.Cluster.Embedded.DataDir).Strs("endpoints", emb.Endpoints()).Msg("embedded etcd started")
	}
	closeEmb := func(ctx context.Context) {
		if emb == nil {
			return
		}
		if err := emb.Stop(ctx); err != nil {
			d.log.Error().Err(err).Msg("the embedded etcd did not stop within the grace period; exiting all the same (etcd recovers from its write-ahead log at the next start)")
		}
	}
	ecfg := d.cfg.Cluster.Etcd
	if emb != nil && ecfg.DialTimeout < embeddedDial {
		// Our own etcd has just said it is ready; a loaded machine may
		// still take a few seconds to answer its first read.
		ecfg.DialTimeout = embeddedDial
	}
	etcd, err := etcdstore.Open(ctx, ecfg)
	switch {
	case err == nil:
		return etcd, func(context.Context) {}, func(ctx context.Context) { etcd.Close(); closeEmb(ctx) }, nil
	case emb != nil || !errors.Is(err, cluster.ErrUnavailable):
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		closeEmb(sctx)
		return nil, nil, nil, err
	}
	d.log.Error().Err(err).Msg("cluster store unreachable at start: serving anyway, second factors follow each client's failmode until it answers")
	p := &pendingStore{}
	connect = func(ctx context.Context) {
		t := time.NewTicker(storeProbeInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			etcd, err := etcdstore.Open(ctx, d.cfg.Cluster.Etcd)
			if err != nil {
				continue
			}
			if ctx.Err() != nil {
				etcd.Close()
				return
			}
			p.cur.Store(etcd)
			d.log.Info().Msg("cluster store reachable: connected")
			return
		}
	}
	stop = func(context.Context) {
		if e := p.cur.Load(); e != nil {
			e.Close()
		}
	}
	return p, connect, stop, nil
}

// pendingStore stands in for an external etcd not reached yet: every
// call fails as unreachable until connect sets the connection.
type pendingStore struct {
	cur atomic.Pointer[etcdstore.Store]
}

var errNotConnected = fmt.Errorf("cluster: etcd not reached since start: %w", cluster.ErrUnavailable)

func (p *pendingStore) Get(ctx context.Context, key string) (cluster.Entry, error) {
	if e := p.cur.Load(); e != nil {
		return e.Get(ctx, key)
	}
	return cluster.Entry{}, errNotConnected
}

func (p *pendingStore) List(ctx context.Context, prefix string) ([]cluster.Entry, error) {
	if e := p.cur.Load(); e != nil {
		return e.List(ctx, prefix)
	}
	return nil, errNotConnected
}

func (p *pendingStore) Commit(ctx context.Context, txn cluster.Txn) (int64, error) {
	if e := p.cur.Load(); e != nil {
		return e.Commit(ctx, txn)
	}
	return 0, errNotConnected
}

// Watch before the connection ends at once, closed: the caller starts
// another later, as after any lost watch.
func (p *pendingStore) Watch(ctx context.Context, prefix string) <-chan cluster.WatchEvent {
	if e := p.cur.Load(); e != nil {
		return e.Watch(ctx, prefix)
	}
	ch := make(chan cluster.WatchEvent)
	close(ch)
	return ch
}

func (p *pendingStore) Ping(ctx context.Context) error {
	if e := p.cur.Load(); e != nil {
		return e.Ping(ctx)
	}
	return errNotConnected
}

// probeStore logs when the cluster store stops and starts answering.
// Logins go on meanwhile, each following its client's fail mode; the node
// stays ready, since another node would find the same store down.
func (d *daemon) probeStore(ctx context.Context, store pingStore) {
	t := time.NewTicker(storeProbeInterval)
	defer t.Stop()
	up := true
	for {
		pctx, cancel := context.WithTimeout(ctx, storeProbeInterval)
		err := store.Ping(pctx)
		cancel()
		if ctx.Err() == nil {
			d.m.cluster.SetUnavailable(err != nil)
		}
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
