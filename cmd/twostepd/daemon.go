package main

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/configs"
	"twostep/directory"
	"twostep/loglimit"
	"twostep/portal"
	"twostep/radiusd"
)

// shutdownGrace bounds how long SIGTERM waits for requests in flight and
// then for the cluster store to close: the process ends within it.
const shutdownGrace = 15 * time.Second

// daemon holds what assemble built; serve runs it.
type daemon struct {
	cfg     *configs.Config
	log     zerolog.Logger
	dir     challenge.Directory // the first factor: file or ldap below
	file    *directory.File     // set with the file backend
	ldap    *directory.LDAP     // set with the ldap backend
	clients *radiusd.ClientTable
	keys    *cluster.Keyring  // seals OTP seeds in the store
	vapid   *ecdsa.PrivateKey // the Web Push key, once pushOption read it; nil: Web Push off
	reg     *prometheus.Registry
	ready   atomic.Bool
	// The log lines outsiders can cause go through lines (one a second
	// per cause, for the whole process). Set by serve for the HTTP
	// servers: web counts the portal's and push API's refusals,
	// serverErrors the servers' own errors.
	lines        *loglimit.Limiter
	web          *portal.Metrics
	serverErrors *prometheus.CounterVec
}

// assemble loads the configuration and builds every part without opening a
// socket, so -check exercises exactly what start-up does.
func assemble(path string, logOut io.Writer) (*daemon, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: newLogger(cfg.Log, logOut), lines: loglimit.New(time.Now)}
	switch cfg.Directory.Backend {
	case "ldap":
		if d.ldap, err = directory.NewLDAP(cfg.Directory.LDAP); err != nil {
			return nil, err
		}
		d.dir = d.ldap
	default:
		if d.file, err = directory.OpenFile(cfg.Directory.File.Path); err != nil {
			return nil, err
		}
		d.dir = d.file
	}
	d.clients, err = radiusd.NewClientTable(cfg.Clients)
	if err != nil {
		return nil, fmt.Errorf("%s: clients: %w", path, err)
	}
	if d.keys, err = cluster.LoadKeyring(cfg.Cluster.SeedKeys); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w\ncreate the seed key file once, keep a copy offline, and give it to every node:\n  twostepctl keygen -out %s", err, cfg.Cluster.SeedKeys)
		}
		return nil, err
	}
	return d, nil
}

// summary is what -check prints: what would run, never a secret.
func (d *daemon) summary(w io.Writer) error {
	c := d.cfg
	fmt.Fprintf(w, "%s: OK\n", c.Path)
	fmt.Fprintf(w, "  radius: listen %v, %d workers, duplicate cache %s, reject delay %s\n", c.RADIUS.Listen, c.RADIUS.Workers, c.RADIUS.DuplicateTTL, c.RADIUS.RejectDelay)
	for _, cl := range c.Clients {
		fmt.Fprintf(w, "  client %s: %v, Message-Authenticator required: %s, on error: %s, second factor: %s mode, failmode %s, waits %s for a push or the store (the NAS: %s × %d tries)\n",
			cl.Name, cl.Networks, cl.MessageAuthenticator, map[bool]string{false: "reject", true: "drop"}[cl.DropOnError], cl.Login.Mode, cl.Login.FailMode,
			cl.Login.Wait(), cl.Login.NASTimeout, cl.Login.NASRetries+1)
	}
	for _, r := range c.Policy.Groups {
		fmt.Fprintf(w, "  policy: group %s: %s, %d reply attribute(s)\n", r.Group, r.Action, len(r.Reply))
	}
	fmt.Fprintf(w, "  policy: everybody else: %s\n", c.Policy.Default)
	if e := c.Cluster.Embedded; c.Cluster.UsesEmbedded() {
		fmt.Fprintf(w, "  cluster: embedded etcd, data %s, clients at %s, peers at %s, prefix %s, ready within %s or the start fails\n",
			e.DataDir, e.ClientURL, e.PeerURL, c.Cluster.Etcd.Prefix, e.StartTimeout)
	} else {
		fmt.Fprintf(w, "  cluster: etcd %v, prefix %s\n", c.Cluster.Etcd.Endpoints, c.Cluster.Etcd.Prefix)
	}
	fmt.Fprintf(w, "  seed keys: %s (sealing with %s)\n", c.Cluster.SeedKeys, d.keys.ActiveID())
	lock := "off"
	if l := c.Passcodes.Lockout; l.Attempts > 0 && l.Duration > 0 {
		lock = fmt.Sprintf("after %d failures for %s", l.Attempts, l.Duration)
	} else if l.Attempts > 0 {
		lock = fmt.Sprintf("after %d failures until an admin unlocks", l.Attempts)
	}
	fmt.Fprintf(w, "  passcodes: window %d back %d ahead, lockout %s, users without a device: %s\n",
		c.Passcodes.Window.Back, c.Passcodes.Window.Ahead, lock, map[bool]string{false: "denied", true: "allowed"}[c.Passcodes.Unenrolled.Allow])
	if d.ldap != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		state := "reachable"
		if err := d.ldap.Ping(ctx); err != nil {
			state = "NOT reachable now: " + err.Error()
		}
		fmt.Fprintf(w, "  directory: ldap %v, base %s: %s\n", c.Directory.LDAP.URLs, c.Directory.LDAP.BaseDN, state)
	} else {
		fmt.Fprintf(w, "  directory: file %s, %d users\n", c.Directory.File.Path, d.file.Len())
	}
	if c.Metrics.Listen != "" {
		fmt.Fprintf(w, "  metrics: http://%s/metrics\n", c.Metrics.Listen)
	}
	if c.Portal.Enabled() {
		fmt.Fprintf(w, "  portal: https://%s/, per minute on each node: %d sign-in steps per user and address, %d wrong passwords per user, %d steps per address\n",
			c.Portal.Listen, c.Portal.SignInsPerMinute, c.Portal.SignInsPerMinute, c.Portal.AddressSignInsPerMinute)
	}
	if p := c.Push; p.Enabled() {
		scheme := "https"
		if p.CertFile == "" {
			scheme = "http"
		}
		limit := "no limit"
		if p.Limit.Count > 0 {
			limit = fmt.Sprintf("at most %d per user per %s", p.Limit.Count, p.Limit.Window)
		}
		fmt.Fprintf(w, "  push: approval API listening on %s://%s, devices answer at %v; a push is open %s, %s; %d answers per minute per address; Web Push: %s\n",
			scheme, p.Listen, p.URLs, p.Timeout, limit, p.AnswersPerMinute, map[bool]string{false: "off (webhooks only)", true: "on"}[p.VAPIDKeyFile != ""])
	} else {
		fmt.Fprintln(w, "  push: off (no push.listen)")
	}
	for _, warning := range d.warnings() {
		fmt.Fprintf(w, "  warning: %s\n", warning)
	}
	return nil
}

// warnings are the settings that weaken security or promise more than
// the daemon does; start-up logs them and -check prints them.
func (d *daemon) warnings() []string {
	var w []string
	for _, name := range d.clients.Weak() {
		w = append(w, fmt.Sprintf("client %s has a shared secret of 12 bytes or fewer; use 16 or more random characters", name))
	}
	if d.ldap != nil {
		w = append(w, d.cfg.Directory.LDAP.Warnings()...)
	}
	for _, c := range d.cfg.Clients {
		switch c.MessageAuthenticator {
		case radiusd.MAOptional:
			w = append(w, fmt.Sprintf("client %s has require_message_authenticator: false: its requests without Message-Authenticator are open to BlastRADIUS (CVE-2024-3596) forgery, "+
				"and a wrong shared secret shows up as bad_password for every user instead of dropped packets (bad_message_authenticator); use auto, which holds the NAS to the attribute once it sends it", c.Name))
		case radiusd.MAAuto:
			w = append(w, fmt.Sprintf("client %s has require_message_authenticator: auto: until the NAS sends Message-Authenticator once, its requests are open to BlastRADIUS (CVE-2024-3596) forgery, "+
				"and a wrong shared secret shows up as bad_password for every user instead of dropped packets (bad_message_authenticator); set true when every NAS behind it sends it", c.Name))
		}
		if c.Login.FailMode == challenge.Safe {
			w = append(w, fmt.Sprintf("client %s has failmode safe: while the cluster store is down its users log in with the password alone", c.Name))
		}
		if nt := c.Login.NASTimeout; nt > 0 && d.cfg.RADIUS.RejectDelay >= nt {
			w = append(w, fmt.Sprintf("radius.reject_delay %s is not below client %s's nas_timeout %s: the NAS sends every rejected request again before its answer leaves; make reject_delay shorter",
				d.cfg.RADIUS.RejectDelay, c.Name, nt))
		}
	}
	pc := d.cfg.Passcodes
	if pc.Unenrolled.Allow && pc.Unenrolled.Grace == 0 {
		w = append(w, "passcodes.unenrolled: allow without a grace period: users with no device log in with the password alone, for ever")
	}
	if pc.Lockout.Attempts == 0 {
		w = append(w, "passcodes.lockout is off: nothing stops online guessing of passcodes")
	}
	if d.cfg.Portal.SelfSigned {
		w = append(w, "portal.tls: self-signed certificate: browsers warn, and phones do not install the web authenticator; give cert_file and key_file")
	}
	if d.cfg.Cluster.UsesEmbedded() {
		w = append(w, "cluster: embedded single-member etcd; this node is the whole cluster (see docs/operations.md to run an etcd cluster)")
	}
	return w
}

// serve opens the listeners, answers until ctx ends, then drains. hup
// delivers reload requests (SIGHUP).
func (d *daemon) serve(ctx context.Context, hup <-chan os.Signal) error {
	d.reg = prometheus.NewRegistry()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newTamperedRecords(d.keys))
	d.web, d.serverErrors = portal.NewMetrics(d.reg), newServerErrors(d.reg)
	dict, err := radiusd.NewDictionary(d.cfg.RADIUS.Dictionaries...)
	if err != nil {
		return err
	}
	store, connectStore, stopStore, err := d.openStore(ctx)
	if err != nil {
		return err
	}
	// The store is closed last, within what is left of the grace period
	// (from the start of the drain; from now when serving fails first).
	stopBy := time.Now().Add(shutdownGrace)
	defer func() {
		sctx, cancel := context.WithDeadline(context.Background(), stopBy)
		defer cancel()
		stopStore(sctx)
	}()
	host, _ := os.Hostname()
	opts := []challenge.Option{
		challenge.WithPasscodes(d.cfg.Passcodes, cluster.NewAccounts(store, d.keys), cluster.NewChallenges(store, d.keys)),
		challenge.WithAudit(cluster.NewAudit(store, 0), "twostepd "+host),
	}
	pushOpt, pushes, err := d.pushOption(store, host)
	if err != nil {
		return err
	}
	if pushOpt != nil {
		opts = append(opts, pushOpt)
		defer pushes.Close()
	}
	engine := challenge.NewEngine(d.dir, d.cfg.Policy, opts...)
	srv, err := radiusd.NewServer(radiusd.Options{
		Authenticator: engine,
		Dictionary:    dict,
		Clients:       d.clients,
		Workers:       d.cfg.RADIUS.Workers,
		DuplicateTTL:  d.cfg.RADIUS.DuplicateTTL,
		RejectDelay:   d.cfg.RADIUS.RejectDelay,
		Logger:        d.log,
		Metrics:       radiusd.NewMetrics(d.reg),
		Ready:         d.isReady,
		// Clients with require_message_authenticator auto are held to it
		// on every node once one has seen them send it.
		MessageAuthenticators: cluster.NewClientRecords(store, host, time.Now),
	})
	if err != nil {
		return err
	}
	for _, warning := range d.warnings() {
		d.log.Warn().Msg(warning)
	}

	// Bind everything before serving anything, so a taken port fails the
	// start instead of leaving half a daemon. The RADIUS groups are closed
	// when serve returns: Serve closes each socket, this gives up the
	// groups' locks (and closes the sockets when the start fails).
	var groups []*radiusd.Group
	var conns []net.PacketConn
	defer func() {
		for _, g := range groups {
			g.Close()
		}
	}()
	for _, addr := range d.cfg.RADIUS.Listen {
		// One socket per core on each address (SO_REUSEPORT), so reading
		// is not held to one core; a second twostepd on the address is
		// refused (radiusd.ErrAddrInUse).
		group, err := radiusd.ListenGroup(ctx, addr, runtime.GOMAXPROCS(0))
		if err != nil {
			return fmt.Errorf("radius listen %s: %w", addr, err)
		}
		groups = append(groups, group)
		conns = append(conns, group.Conns...)
	}
	ops, err := startOps(d.cfg.Metrics.Listen, d.reg, d.isReady, d.serverLog("metrics"))
	if err != nil {
		return err
	}
	api, err := d.startPushAPI(engine)
	if err != nil {
		if ops != nil {
			ops.ln.Close()
		}
		return err
	}
	web, err := d.startPortal(engine, store)
	if err != nil {
		if ops != nil {
			ops.ln.Close()
		}
		if api != nil {
			api.ln.Close()
		}
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, len(conns)+3)
	logged := map[string]bool{}
	for _, c := range conns {
		wg.Go(func() {
			if err := srv.Serve(c); err != nil && !errors.Is(err, radiusd.ErrServerClosed) {
				errc <- fmt.Errorf("radius %s: %w", c.LocalAddr(), err)
			}
		})
		if a := c.LocalAddr().String(); !logged[a] {
			logged[a] = true
			d.log.Info().Str("addr", a).Msg("radius listening")
		}
	}
	if ops != nil {
		wg.Go(func() {
			if err := ops.serve(); err != nil {
				errc <- err
			}
		})
		d.log.Info().Str("addr", ops.addr()).Msg("metrics listening")
	}
	if api != nil {
		wg.Go(func() {
			if err := api.serve(); err != nil {
				errc <- err
			}
		})
		d.log.Info().Str("addr", api.addr()).Strs("urls", d.cfg.Push.URLs).Msg("push approval API listening")
	}
	if web != nil {
		wg.Go(func() {
			if err := web.serve(); err != nil {
				errc <- err
			}
		})
		d.log.Info().Str("addr", web.addr()).Msg("portal listening: https://" + web.addr() + "/")
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	if w := d.cfg.Directory.File.Watch; d.file != nil && w > 0 {
		wg.Go(func() {
			d.file.Watch(watchCtx, w, func(err error) {
				d.log.Error().Err(err).Msg("users file changed but was refused; the previous users stay in force")
			})
		})
	}
	if d.ldap != nil {
		wg.Go(func() { d.probeLDAP(watchCtx) })
	}
	wg.Go(func() { connectStore(watchCtx) })
	wg.Go(func() { d.probeStore(watchCtx, store) })

	d.ready.Store(true)
	d.log.Info().Str("version", version).Str("config", d.cfg.Path).Msg("twostepd ready")

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-hup:
			d.reload(srv)
		}
	}

	d.ready.Store(false)
	d.log.Info().Msg("draining requests in flight")
	stopBy = time.Now().Add(shutdownGrace)
	sctx, cancel := context.WithDeadline(context.Background(), stopBy)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		d.log.Error().Err(err).Msg("radius shutdown")
	}
	if ops != nil {
		ops.shutdown(sctx)
	}
	if web != nil {
		web.shutdown(sctx)
	}
	if api != nil {
		api.shutdown(sctx)
	}
	stopWatch()
	wg.Wait()
	if d.ldap != nil {
		d.ldap.Close()
	}
	d.log.Info().Msg("twostepd stopped")
	return runErr
}

// reload re-reads the configuration on SIGHUP: clients and secrets are
// swapped atomically, the users file re-read. A bad file changes nothing.
func (d *daemon) reload(srv *radiusd.Server) {
	cfg, err := configs.Load(d.cfg.Path)
	if err != nil {
		d.log.Error().Err(err).Msg("reload refused; the running configuration stays")
		return
	}
	table, err := radiusd.NewClientTable(cfg.Clients)
	if err != nil {
		d.log.Error().Err(err).Msg("reload refused; the running configuration stays")
		return
	}
	if d.file != nil {
		if err := d.file.Reload(); err != nil {
			d.log.Error().Err(err).Msg("users file refused; the previous users stay in force")
		}
	}
	srv.SetClients(table)
	for _, name := range table.Weak() {
		d.log.Warn().Str("client", name).Msg("shared secret of 12 bytes or fewer; use 16 or more random characters")
	}
	if !slices.Equal(cfg.RADIUS.Listen, d.cfg.RADIUS.Listen) || cfg.RADIUS.Workers != d.cfg.RADIUS.Workers ||
		cfg.RADIUS.DuplicateTTL != d.cfg.RADIUS.DuplicateTTL || cfg.RADIUS.RejectDelay != d.cfg.RADIUS.RejectDelay || cfg.Metrics != d.cfg.Metrics ||
		!slices.Equal(cfg.RADIUS.Dictionaries, d.cfg.RADIUS.Dictionaries) || !reflect.DeepEqual(cfg.Policy, d.cfg.Policy) ||
		!reflect.DeepEqual(cfg.Directory, d.cfg.Directory) || !reflect.DeepEqual(cfg.Cluster, d.cfg.Cluster) ||
		!reflect.DeepEqual(cfg.Passcodes, d.cfg.Passcodes) {
		d.log.Warn().Msg("radius, metrics, directory, policy, cluster and passcodes settings take effect at the next restart; clients (with their mode and failmode) were reloaded")
	}
	d.log.Info().Int("clients", len(cfg.Clients)).Msg("configuration reloaded")
}

// isReady says whether the node takes RADIUS traffic: started, not
// draining, and with a directory that answers.
func (d *daemon) isReady() bool {
	return d.ready.Load() && (d.ldap == nil || d.ldap.Healthy())
}

// probeLDAP pings the directory every health interval so that /readyz and
// Status-Server turn unready while no server answers (the NAS then fails
// over) and ready again when one does. Ping bounds itself by op_timeout,
// so a server that hangs makes the node unready within health_interval +
// op_timeout; logins that meet a failure make it so sooner.
func (d *daemon) probeLDAP(ctx context.Context) {
	every := d.cfg.Directory.HealthInterval
	t := time.NewTicker(every)
	defer t.Stop()
	up := true
	for {
		err := d.ldap.Ping(ctx)
		switch {
		case err != nil && up && ctx.Err() == nil:
			d.log.Error().Err(err).Msg("directory not answering: not ready until it does")
		case err == nil && !up:
			d.log.Info().Msg("directory answering again: ready")
		}
		up = err == nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
