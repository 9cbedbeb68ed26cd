package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ldapServer is one configured URL.
type ldapServer struct {
	url  string // as configured, for errors
	addr string // host:port
	tls  bool   // ldaps://
	host string // for certificate checks
	// downUntil (unix nanoseconds) makes dials skip a server that just
	// failed, so a dead first URL does not cost a dial timeout per new
	// connection; it is still tried when every server is down.
	downUntil atomic.Int64
}

// serverRetry is how long a server that failed a dial is tried last.
const serverRetry = 2 * time.Second

// parseLDAPURL reads ldap://host[:389] or ldaps://host[:636].
func parseLDAPURL(raw string) (*ldapServer, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL, which may hold credentials.
		return nil, errors.New("not a URL")
	}
	s := &ldapServer{url: raw, host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "ldap":
		if port == "" {
			port = "389"
		}
	case "ldaps":
		s.tls = true
		if port == "" {
			port = "636"
		}
	default:
		return nil, fmt.Errorf("scheme %q: want ldap or ldaps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("no host")
	}
	if u.User != nil {
		return nil, errors.New("credentials in the URL: use BindDN and BindPassword")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("a path or query is not supported")
	}
	s.addr = net.JoinHostPort(s.host, port)
	return s, nil
}

// dialer opens connections to the first server that answers.
type dialer struct {
	servers     []*ldapServer
	tls         *tls.Config // nil: no TLS configured (ldap:// without StartTLS)
	startTLS    bool
	dialTimeout time.Duration
	now         func() time.Time
}

// dial connects to the servers in order, skipping those that failed
// recently unless all did, and hands each connection to wrap (which
// starts the LDAP session: StartTLS when configured). The dial and TLS
// handshake are bounded by ctx and dialTimeout; wrap gets that context.
func dial(ctx context.Context, d *dialer, wrap func(ctx context.Context, nc net.Conn, s *ldapServer) (*conn, error)) (*conn, error) {
	now := d.now().UnixNano()
	order := make([]*ldapServer, 0, len(d.servers))
	var later []*ldapServer
	for _, s := range d.servers {
		if s.downUntil.Load() > now {
			later = append(later, s)
		} else {
			order = append(order, s)
		}
	}
	order = append(order, later...)
	var errs []error
	for _, s := range order {
		c, err := dialOne(ctx, d, s, wrap)
		if err == nil {
			s.downUntil.Store(0)
			return c, nil
		}
		s.downUntil.Store(d.now().Add(serverRetry).UnixNano())
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("directory: no LDAP server reachable: %w", errors.Join(errs...))
}

func dialOne(ctx context.Context, d *dialer, s *ldapServer, wrap func(ctx context.Context, nc net.Conn, s *ldapServer) (*conn, error)) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.dialTimeout)
	defer cancel()
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	if s.tls {
		tc := tls.Client(nc, d.tlsFor(s))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return wrap(ctx, nc, s)
}

// start starts an LDAP session on nc: StartTLS when configured.
func (d *dialer) start(opTimeout time.Duration) func(ctx context.Context, nc net.Conn, s *ldapServer) (*conn, error) {
	return func(ctx context.Context, nc net.Conn, s *ldapServer) (*conn, error) {
		c := newConn(nc)
		if d.startTLS && !s.tls {
			err := withTimeout(ctx, c, opTimeout, func() error { return c.startTLS(ctx, d.tlsFor(s)) })
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("StartTLS: %w", err)
			}
		}
		return c, nil
	}
}

// tlsFor returns the TLS configuration for s, naming s's host for the
// certificate check unless ServerName is configured.
func (d *dialer) tlsFor(s *ldapServer) *tls.Config {
	var c *tls.Config
	if d.tls != nil {
		c = d.tls.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// withTimeout runs op on c with c's request timeout set to opTimeout or
// to what is left of ctx, whichever is shorter, and closes c if ctx ends
// first so op returns at once. A ctx that ended is reported as its cause,
// and c is closed then even if op returned first: the AfterFunc may not
// have run yet, and c must not go back to a pool.
func withTimeout(ctx context.Context, c *conn, opTimeout time.Duration, op func() error) error {
	t := opTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return context.Cause(ctx)
		}
		t = min(t, left)
	}
	c.SetTimeout(t)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := op()
	if !stop() {
		// ctx ended while op ran; the AfterFunc closes c, perhaps not yet.
		c.Close()
		return fmt.Errorf("%w (%w)", context.Cause(ctx), err)
	}
	return err
}

// pool holds idle connections of one kind (search or bind) and limits how
// many are in use at once. A connection that saw a network or protocol
// error is closed, not returned.
type pool struct {
	name string
	sem  chan struct{}
	// wait bounds how long get waits for a connection to come free
	// (OpTimeout): a request's own deadline is the NAS's whole patience,
	// and a login still queued after one operation's time is better
	// refused than answered after the NAS gave up.
	wait time.Duration
	// open prepares a new connection (dial, and bind as the service
	// account for the search pool).
	open func(ctx context.Context) (*conn, error)

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

func newPool(name string, size int, wait time.Duration, open func(ctx context.Context) (*conn, error)) *pool {
	return &pool{name: name, sem: make(chan struct{}, size), wait: wait, open: open}
}

// errClosed is returned by a closed LDAP backend.
var errClosed = errors.New("directory: LDAP backend closed")

// errPoolWait is returned by a request that waited the operation timeout
// for a pooled connection: every connection is busy, most likely with a
// directory that does not answer.
var errPoolWait = errors.New("no connection came free within the operation timeout")

// get returns a connection and whether it is fresh (just opened); with
// fresh set it opens one rather than take an idle one. The caller must
// call put. Waiting for a free connection ends with ctx or after p.wait,
// whichever comes first.
func (p *pool) get(ctx context.Context, fresh bool) (*conn, bool, error) {
	select {
	case p.sem <- struct{}{}:
	default:
		if err := p.queue(ctx); err != nil {
			return nil, false, err
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return nil, false, errClosed
	}
	for !fresh && len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			p.mu.Unlock()
			return c, false, nil
		}
		c.Close()
	}
	p.mu.Unlock()
	c, err := p.open(ctx)
	if err != nil {
		<-p.sem
		return nil, false, err
	}
	return c, true, nil
}

// queue waits for a free slot, at most p.wait.
func (p *pool) queue(ctx context.Context) error {
	wctx, cancel := context.WithTimeoutCause(ctx, p.wait, errPoolWait)
	defer cancel()
	select {
	case p.sem <- struct{}{}:
		return nil
	case <-wctx.Done():
		return fmt.Errorf("directory: waiting for an LDAP %s connection: %w", p.name, context.Cause(wctx))
	}
}

// put gives c back. healthy is false when c saw an error that leaves its
// state unknown (network, timeout, protocol), and c is then closed.
func (p *pool) put(c *conn, healthy bool) {
	defer func() { <-p.sem }()
	if healthy && !c.IsClosing() {
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	c.Close()
}

// close closes the idle connections; connections in use are closed when
// they are put back.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// do runs op on a pooled connection. If op finds a connection that sat
// idle dead before the server could act (errStale: the server may have
// restarted since), it is tried once more on a fresh connection: not on
// another idle one, which a connection cannot tell dead before it is
// used. No other failure is retried: after a timeout or a bad answer the
// server may have acted on the request, and a bind counted twice against
// a password policy, or a slow directory asked twice, is worse than one
// failed login.
func (p *pool) do(ctx context.Context, op func(c *conn) error) error {
	for attempt := 0; ; attempt++ {
		c, fresh, err := p.get(ctx, attempt > 0)
		if err != nil {
			return err
		}
		err = p.run(c, op)
		if !errors.Is(err, errStale) || fresh || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// run runs op on c, got from p, and puts c back, even if op panics.
func (p *pool) run(c *conn, op func(c *conn) error) error {
	healthy := false
	defer func() { p.put(c, healthy) }()
	err := op(c)
	healthy = err == nil || isLDAPResult(err)
	return err
}

// isLDAPResult reports whether err is an answer from the server (a result
// code such as invalidCredentials), after which the connection is fine,
// rather than a network, timeout or decoding failure.
func isLDAPResult(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return false
	}
	// 80 and up are client-side codes (server down, timeout, decoding)
	// and go-ldap's own 200 and up.
	return le.ResultCode < ldap.LDAPResultOther
}
