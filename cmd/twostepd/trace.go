package main

import (
	"context"

	"twostep/cluster"
	"twostep/trace"
)

// newTracing returns this node's side of `twostepctl trace`, following
// the trace requests in store and writing traced requests' events there,
// as node.
func (d *daemon) newTracing(store cluster.Store, node string) *trace.Tracing {
	return trace.New(trace.Options{Store: store, Node: node, Metrics: d.m.trace})
}

// addTracing adds the tracer's watch and writer to the group. Added
// after the servers, it is interrupted once the RADIUS server has
// answered the requests in flight, and then writes what they left
// (trace.Tracing.Run bounds it). Its writes run on a context that the
// signal which stops the daemon does not end.
func (d *daemon) addTracing(ctx context.Context, g *group, tr *trace.Tracing) {
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g.add(func() error {
		tr.Run(wctx)
		return nil
	}, func(error) { stop() })
}
