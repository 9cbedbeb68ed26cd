package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"twostep/directory"
)

// backend is the first factor as the daemon sees it: what the engine
// calls. Whatever else a backend can do is an optional capability, an
// interface of its own found by type assertion (as vault's physical
// backends add transactions or HA): a pinger is probed and readiness
// follows it, a reloader is watched and re-read on SIGHUP, and an
// io.Closer is closed when the daemon stops.
type backend interface {
	Authenticate(ctx context.Context, username, password string) (directory.Result, error)
}

// pinger is a backend that depends on servers that may stop answering
// (LDAP). It is pinged every health interval, and the node takes RADIUS
// traffic only while it is Healthy, which a login's failure may also
// clear.
type pinger interface {
	Ping(ctx context.Context) error
	Healthy() bool
}

// reloader is a backend read from a file (the users file): re-read on
// SIGHUP, and watched for changes.
type reloader interface {
	Reload() error
	Watch(ctx context.Context, interval time.Duration, onErr func(error))
}

// The capabilities the daemon counts on: a backend that lost one would
// silently stop being probed, watched or closed.
var (
	_ pinger    = (*directory.LDAP)(nil)
	_ io.Closer = (*directory.LDAP)(nil)
	_ reloader  = (*directory.File)(nil)
)

// openDirectory builds the configured backend, counting on m. It does
// not connect: an LDAP directory that is down at start does not stop the
// daemon.
func openDirectory(c directory.Config, m *directory.Metrics) (backend, error) {
	if c.Backend == directory.BackendLDAP {
		l, err := directory.NewLDAP(c.LDAP, directory.WithLDAPMetrics(m))
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	f, err := directory.OpenFile(c.File.Path, directory.WithFileMetrics(m))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// describeDirectory is -check's account of the directory: what is
// configured, how many users a users file holds, and whether a backend
// that can be pinged answers now.
func (d *daemon) describeDirectory() string {
	c := d.cfg.Directory
	s := fmt.Sprintf("file %s", c.File.Path)
	if c.Backend == directory.BackendLDAP {
		s = fmt.Sprintf("ldap %v, base %s", c.LDAP.URLs, c.LDAP.BaseDN)
	}
	if n, ok := d.dir.(interface{ Len() int }); ok {
		s += fmt.Sprintf(", %d users", n.Len())
	}
	if p, ok := d.dir.(pinger); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		state := "reachable"
		if err := p.Ping(ctx); err != nil {
			state = "NOT reachable now: " + err.Error()
		}
		s += ": " + state
	}
	return s
}

// probeDirectory pings the directory every health interval so that
// /readyz and Status-Server turn unready while no server answers (the NAS
// then fails over) and ready again when one does. Ping bounds itself by
// op_timeout, so a server that hangs makes the node unready within
// health_interval + op_timeout; logins that meet a failure make it so
// sooner.
func (d *daemon) probeDirectory(ctx context.Context, p pinger) {
	every := d.cfg.Directory.HealthInterval
	t := time.NewTicker(every)
	defer t.Stop()
	up := true
	for {
		err := p.Ping(ctx)
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
