package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/configs"
	"twostep/radiusd"
	"twostep/trace"
)

// serve opens the listeners, answers until ctx ends, then drains. hup
// delivers reload requests (SIGHUP).
//
// Everything is built and bound first; then the servers and loops run as
// one group (group.go), which the first to end (a signal, a failed
// server) stops as a whole: the node says it is not ready, the RADIUS
// server and the HTTP servers drain in turn within shutdownGrace, the
// loops stop, and the store is closed within what is left of it.
func (d *daemon) serve(ctx context.Context, hup <-chan os.Signal) error {
	d.m.reg.MustRegister(newTamperedRecords(d.keys))
	dict, err := radiusd.NewDictionary(d.cfg.RADIUS.Dictionaries...)
	if err != nil {
		return err
	}
	opened, connectStore, stopStore, err := d.openStore(ctx)
	if err != nil {
		return err
	}
	// Every call to the store is counted and timed; Ping is the probe's.
	store := meteredStore{cluster.NewMeteredStore(opened, d.m.cluster), opened}
	// The store is closed last, within what is left of the grace period
	// (from the start of the drain; from now when serving fails first).
	dr := newDrain()
	defer func() {
		sctx, cancel := dr.context()
		defer cancel()
		stopStore(sctx)
	}()
	node := d.cfg.Cluster.NodeName()
	engine, pushes, err := d.newEngine(store, node)
	if err != nil {
		return err
	}
	if pushes != nil {
		defer pushes.Close()
	}
	recs, auditExport, err := d.newHistory(store, node)
	if err != nil {
		return err
	}
	tr := d.newTracing(store, node)
	srv, err := d.newRADIUS(engine, dict, store, node, recs, tr)
	if err != nil {
		return err
	}
	for _, warning := range d.warnings() {
		d.log.Warn().Msg(warning)
	}
	ls, err := d.listen(ctx, engine, store)
	if err != nil {
		return err
	}
	defer ls.close()

	var g group
	d.addControl(ctx, &g, hup, srv, dr)
	d.addServers(&g, ls, srv, dr)
	d.addHistory(ctx, &g, recs, dr)
	d.addAuditExport(ctx, &g, auditExport)
	d.addTracing(ctx, &g, tr)
	d.addLoops(ctx, &g, store, connectStore, cluster.NewNodes(store, node, version, d.m.cluster, nil))
	d.ready.Store(true)
	d.log.Info().Str("version", version).Str("config", d.cfg.Path).Msg("twostepd ready")
	err = g.run()
	if c, ok := d.dir.(io.Closer); ok {
		c.Close()
	}
	d.log.Info().Msg("twostepd stopped")
	return err
}

// newEngine builds the login engine on store, for the node named node;
// pushes is set when push is on, for the caller to close.
func (d *daemon) newEngine(store cluster.Store, node string) (*challenge.Engine, *cluster.Pushes, error) {
	opts := []challenge.Option{
		challenge.WithPasscodes(d.cfg.Passcodes, cluster.NewAccounts(store, d.keys), cluster.NewChallenges(store, d.keys)),
		challenge.WithAudit(cluster.NewAudit(store, 0), cluster.NodeActor(node)),
		challenge.WithMetrics(d.m.engine),
	}
	pushOpt, pushes, err := d.pushOption(store, node)
	if err != nil {
		return nil, nil, err
	}
	if pushOpt != nil {
		opts = append(opts, pushOpt)
	}
	return challenge.NewEngine(d.dir, d.cfg.Policy, opts...), pushes, nil
}

// newRADIUS builds the RADIUS server in front of engine; recs, when there
// are any, take the record of each answer (the login history, syslog); tr
// traces the users `twostepctl trace` asks for.
func (d *daemon) newRADIUS(engine *challenge.Engine, dict *radiusd.Dictionary, store cluster.Store, node string, recs sinks, tr *trace.Tracing) (*radiusd.Server, error) {
	o := radiusd.Options{
		Config:        d.cfg.RADIUS,
		Authenticator: engine,
		Dictionary:    dict,
		Clients:       d.clients,
		Logger:        d.log,
		Metrics:       d.m.radius,
		Ready:         d.isReady,
		// Clients with require_message_authenticator auto are held to it
		// on every node once one has seen them send it.
		MessageAuthenticators: cluster.NewClientRecords(store, node, time.Now),
		Trace:                 tr,
	}
	if len(recs) > 0 {
		// The reference is looked up in the cluster's history.
		o.History, o.ReferenceInReply = recs, d.cfg.History.Enabled && d.cfg.History.ReferenceInReply
	}
	return radiusd.NewServer(o)
}

// listeners are the daemon's sockets.
type listeners struct {
	radius []*radiusd.Group
	ops    *opsServer // nil: no metrics.listen
	api    *webServer // nil: push off
	web    *webServer // nil: portal off
}

// listen binds everything before anything is served, so a taken port
// fails the start instead of leaving half a daemon. When it fails, what
// it bound is closed.
func (d *daemon) listen(ctx context.Context, engine *challenge.Engine, store cluster.Store) (*listeners, error) {
	ls := &listeners{}
	err := func() error {
		for _, addr := range d.cfg.RADIUS.Listen {
			// One socket per core on each address (SO_REUSEPORT), so
			// reading is not held to one core; a second twostepd on the
			// address is refused (radiusd.ErrAddrInUse).
			group, err := radiusd.ListenGroup(ctx, addr, runtime.GOMAXPROCS(0))
			if err != nil {
				return fmt.Errorf("radius listen %s: %w", addr, err)
			}
			ls.radius = append(ls.radius, group)
		}
		var err error
		if ls.ops, err = startOps(d.cfg.Metrics.Listen, d.m.reg, d.isReady, d.serverLog("metrics")); err != nil {
			return err
		}
		if ls.api, err = d.startPushAPI(engine); err != nil {
			return err
		}
		ls.web, err = d.startPortal(engine, store)
		return err
	}()
	if err != nil {
		ls.close()
		if ls.ops != nil {
			ls.ops.ln.Close()
		}
		if ls.api != nil {
			ls.api.ln.Close()
		}
		return nil, err
	}
	return ls, nil
}

// close gives up the RADIUS groups when serve returns: Serve closes each
// socket, this gives up the groups' locks (and closes the sockets when
// the start fails).
func (ls *listeners) close() {
	for _, g := range ls.radius {
		g.Close()
	}
}

// drain is the shutdown's deadline, shutdownGrace from when it begins:
// the servers drain within it, and the store is closed within what is
// left. Until it begins (serving failed at the start), it runs from when
// it was made.
type drain struct {
	by time.Time
}

func newDrain() *drain { return &drain{by: time.Now().Add(shutdownGrace)} }

// begin starts the deadline afresh: the drain begins.
func (dr *drain) begin() { dr.by = time.Now().Add(shutdownGrace) }

// context returns a context that ends at the deadline.
func (dr *drain) context() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), dr.by)
}

// addControl adds the actor that reloads the configuration on each hup
// until ctx ends. Added first, it is interrupted first, and begins the
// drain: the node says it is not ready (Status-Server, /readyz) while the
// servers after it drain.
func (d *daemon) addControl(ctx context.Context, g *group, hup <-chan os.Signal, srv *radiusd.Server, dr *drain) {
	stop := make(chan struct{})
	g.add(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-stop:
				return nil
			case <-hup:
				d.reload(srv)
			}
		}
	}, func(error) {
		close(stop)
		d.ready.Store(false)
		d.log.Info().Msg("draining requests in flight")
		dr.begin()
	})
}

// addServers adds an actor for each RADIUS socket and each HTTP server,
// in the order they drain: RADIUS (requests in flight finish, new ones
// are not read), then metrics, the portal and the push API, each within
// the drain's deadline.
func (d *daemon) addServers(g *group, ls *listeners, srv *radiusd.Server, dr *drain) {
	d.logListening(ls)
	shutdownRADIUS := sync.OnceFunc(func() {
		ctx, cancel := dr.context()
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			d.log.Error().Err(err).Msg("radius shutdown")
		}
	})
	for _, group := range ls.radius {
		for _, c := range group.Conns {
			g.add(func() error {
				if err := srv.Serve(c); err != nil && !errors.Is(err, radiusd.ErrServerClosed) {
					return fmt.Errorf("radius %s: %w", c.LocalAddr(), err)
				}
				return nil
			}, func(error) { shutdownRADIUS() })
		}
	}
	addHTTP := func(serve func() error, shutdown func(context.Context)) {
		g.add(serve, func(error) {
			ctx, cancel := dr.context()
			defer cancel()
			shutdown(ctx)
		})
	}
	if ls.ops != nil {
		addHTTP(ls.ops.serve, ls.ops.shutdown)
	}
	if ls.web != nil {
		addHTTP(ls.web.serve, ls.web.shutdown)
	}
	if ls.api != nil {
		addHTTP(ls.api.serve, ls.api.shutdown)
	}
}

// logListening says where the daemon listens, each RADIUS address once.
func (d *daemon) logListening(ls *listeners) {
	logged := map[string]bool{}
	for _, group := range ls.radius {
		for _, c := range group.Conns {
			if a := c.LocalAddr().String(); !logged[a] {
				logged[a] = true
				d.log.Info().Str("addr", a).Msg("radius listening")
			}
		}
	}
	if ls.ops != nil {
		d.log.Info().Str("addr", ls.ops.addr()).Msg("metrics listening")
	}
	if ls.api != nil {
		d.log.Info().Str("addr", ls.api.addr()).Strs("urls", d.cfg.Push.API.URLs).Msg("push approval API listening")
	}
	if ls.web != nil {
		d.log.Info().Str("addr", ls.web.addr()).Msg("portal listening: https://" + ls.web.addr() + "/")
	}
}

// addLoops adds the background loops: the users file's watch, the
// directory's and the store's probes, the connection to a store not
// reached at start, and this node's part in the node registry. They end
// with ctx, or when interrupted, after the servers drained.
func (d *daemon) addLoops(ctx context.Context, g *group, store pingStore, connectStore func(context.Context), nodes *cluster.Nodes) {
	ctx, stop := context.WithCancel(ctx)
	interrupt := func(error) { stop() }
	if r, ok := d.dir.(reloader); ok && d.cfg.Directory.File.Watch > 0 {
		every := d.cfg.Directory.File.Watch
		g.add(func() error {
			r.Watch(ctx, every, func(err error) {
				d.log.Error().Err(err).Msg("users file changed but was refused; the previous users stay in force")
			})
			return nil
		}, interrupt)
	}
	if p, ok := d.dir.(pinger); ok {
		g.add(func() error {
			d.probeDirectory(ctx, p)
			return nil
		}, interrupt)
	}
	g.add(func() error {
		connectStore(ctx)
		<-ctx.Done() // connected (or not needed): the group goes on
		return nil
	}, interrupt)
	g.add(func() error {
		d.probeStore(ctx, store)
		return nil
	}, interrupt)
	g.add(func() error {
		nodes.Run(ctx)
		return nil
	}, interrupt)
}

// reload re-reads the configuration on SIGHUP. A bad file changes
// nothing. Otherwise what changed is found section by section, against
// the configuration the daemon started with (configs.Config.Changed):
// the clients, with their secrets, mode and failmode, are swapped
// atomically, and the users file is re-read whatever changed; every other
// section that changed is named in a warning, for its settings take
// effect at the next restart. The bypass and recovery sections are
// twostepctl's, read at each of its runs. Each reload is counted, as an
// error when the file or the users file was refused.
func (d *daemon) reload(srv *radiusd.Server) {
	cfg, err := configs.Load(d.cfg.Path)
	if err != nil {
		d.m.reloads.WithLabelValues(reloadError).Inc()
		d.log.Error().Err(err).Msg("reload refused; the running configuration stays")
		return
	}
	table, err := radiusd.NewClientTable(cfg.Clients)
	if err != nil {
		d.m.reloads.WithLabelValues(reloadError).Inc()
		d.log.Error().Err(err).Msg("reload refused; the running configuration stays")
		return
	}
	result := reloadOK
	if r, ok := d.dir.(reloader); ok {
		if err := r.Reload(); err != nil {
			result = reloadError
			d.log.Error().Err(err).Msg("users file refused; the previous users stay in force")
		}
	}
	srv.SetClients(table)
	for _, name := range table.Weak() {
		d.log.Warn().Str("client", name).Msg("shared secret of 12 bytes or fewer; use 16 or more random characters")
	}
	for _, section := range cfg.Changed(d.cfg) {
		switch section {
		case "clients", "bypass", "recovery":
		default:
			d.log.Warn().Str("section", section).Msgf("%s settings changed; they take effect at the next restart", section)
		}
	}
	d.m.reloads.WithLabelValues(result).Inc()
	d.log.Info().Int("clients", len(cfg.Clients)).Msg("configuration reloaded")
}

// isReady says whether the node takes RADIUS traffic: started, not
// draining, and with a directory that answers when it can tell.
func (d *daemon) isReady() bool {
	if !d.ready.Load() {
		return false
	}
	p, ok := d.dir.(pinger)
	return !ok || p.Healthy()
}
