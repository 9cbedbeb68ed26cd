package ldapclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Server is one configured directory server, made by ParseURL.
type Server struct {
	url  string // as configured, for errors
	addr string // host:port
	tls  bool   // ldaps://
	host string // for certificate checks
	// downUntil (unix nanoseconds) makes dials skip a server that just
	// failed, so a dead first URL does not cost a dial timeout per new
	// connection; it is still tried when every server is down.
	downUntil atomic.Int64
	// health is what the last exchange with the server showed (Health).
	health atomic.Int32
}

// Values of Server.health.
const (
	healthUnknown = iota // not reached yet
	healthUp
	healthDown
)

// serverRetry is how long a server that failed a dial is tried last.
const serverRetry = 2 * time.Second

// ParseURL reads ldap://host[:389] or ldaps://host[:636]. Its errors do
// not quote raw, which may hold credentials.
func ParseURL(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL, which may hold credentials.
		return nil, errors.New("not a URL")
	}
	s := &Server{url: raw, host: u.Hostname()}
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
		return nil, errors.New("credentials in the URL: use bind_dn and bind_password")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("a path or query is not supported")
	}
	s.addr = net.JoinHostPort(s.host, port)
	return s, nil
}

// Host is the server's host name or address, as in its URL.
func (s *Server) Host() string { return s.host }

// TLS reports whether the server is reached with TLS from the start
// (ldaps://).
func (s *Server) TLS() bool { return s.tls }

// URL is the server's URL as configured (it carries no credentials:
// ParseURL refuses them).
func (s *Server) URL() string { return s.url }

// Addr is the host:port connections go to.
func (s *Server) Addr() string { return s.addr }

// Health reports whether the server answered the last exchange a pool
// made with it (up) or failed it: a dial refused or timed out, an
// operation timed out or broken off. known is false until it was tried.
// An answer that refuses (a wrong password, a result code) is an answer;
// a failure after the caller's own deadline, or on a connection found
// dead before it was used, says nothing of the server and changes
// nothing. A dial that succeeds proves nothing either: a hung slapd
// still accepts TCP.
func (s *Server) Health() (up, known bool) {
	switch s.health.Load() {
	case healthUp:
		return true, true
	case healthDown:
		return false, true
	}
	return false, false
}

// note records what an exchange with s showed.
func (s *Server) note(up bool) {
	if up {
		s.health.Store(healthUp)
	} else {
		s.health.Store(healthDown)
	}
}

// Dialer opens connections to the first server that answers.
type Dialer struct {
	// Servers are tried in order.
	Servers []*Server
	// TLS is the configuration of ldaps:// and StartTLS; nil: the
	// system's roots and TLS 1.2 at least. ServerName empty means each
	// server's host.
	TLS *tls.Config
	// StartTLS upgrades ldap:// connections before they are used.
	StartTLS bool
	// DialTimeout bounds connecting to one server (TCP and TLS);
	// OpTimeout bounds StartTLS.
	DialTimeout time.Duration
	OpTimeout   time.Duration
	// Now is the clock of the servers' retry times.
	Now func() time.Time
}

// Dial connects to the servers in order, skipping those that failed
// recently unless all did, and starts the LDAP session (StartTLS when
// configured). The dial and TLS handshake are bounded by ctx and
// DialTimeout.
func (d *Dialer) Dial(ctx context.Context) (*Conn, error) {
	now := d.Now().UnixNano()
	order := make([]*Server, 0, len(d.Servers))
	var later []*Server
	for _, s := range d.Servers {
		if s.downUntil.Load() > now {
			later = append(later, s)
		} else {
			order = append(order, s)
		}
	}
	order = append(order, later...)
	var errs []error
	for _, s := range order {
		c, err := d.dialOne(ctx, s)
		if err == nil {
			s.downUntil.Store(0)
			c.server = s
			return c, nil
		}
		s.downUntil.Store(d.Now().Add(serverRetry).UnixNano())
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
		if Ended(ctx) {
			break
		}
		s.note(false)
	}
	return nil, fmt.Errorf("directory: no LDAP server reachable: %w", errors.Join(errs...))
}

// DialServer connects to s alone, as Dial does to each server (TLS or
// StartTLS as configured), without skipping it or marking it down: for a
// check of each configured server in turn.
func (d *Dialer) DialServer(ctx context.Context, s *Server) (*Conn, error) {
	return d.dialOne(ctx, s)
}

func (d *Dialer) dialOne(ctx context.Context, s *Server) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.DialTimeout)
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
	return d.start(ctx, nc, s)
}

// start starts an LDAP session on nc: StartTLS when configured. ctx is
// the dial's.
func (d *Dialer) start(ctx context.Context, nc net.Conn, s *Server) (*Conn, error) {
	c := newConn(nc)
	if d.StartTLS && !s.tls {
		err := WithTimeout(ctx, c, d.OpTimeout, func() error { return c.startTLS(ctx, d.tlsFor(s)) })
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return c, nil
}

// tlsFor returns the TLS configuration for s, naming s's host for the
// certificate check unless ServerName is configured.
func (d *Dialer) tlsFor(s *Server) *tls.Config {
	var c *tls.Config
	if d.TLS != nil {
		c = d.TLS.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// Ended reports whether ctx is over, by its deadline too: WithTimeout
// shortens a connection's timeout to ctx's deadline, and that timeout can
// fire before ctx's own timer has run.
func Ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// WithTimeout runs op on c with c's request timeout set to opTimeout or
// to what is left of ctx, whichever is shorter, and closes c if ctx ends
// first so op returns at once. A ctx that ended is reported as its cause,
// and c is closed then even if op returned first: the AfterFunc may not
// have run yet, and c must not go back to a pool.
func WithTimeout(ctx context.Context, c *Conn, opTimeout time.Duration, op func() error) error {
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
	noteServer(ctx, c, err)
	return err
}

// noteServer records in the Health of c's server what an operation's
// outcome err showed: an answer (none, or a result code) or a network
// failure (a timeout, a broken connection). A connection found dead
// before it was used, a failure after ctx's end and an error of the
// caller's own say nothing.
func noteServer(ctx context.Context, c *Conn, err error) {
	if c.server == nil {
		return
	}
	var le *ldap.Error
	switch {
	case err == nil || IsResult(err):
		c.server.note(true)
	case errors.Is(err, errStale) || Ended(ctx):
	case errors.As(err, &le) && le.ResultCode == ldap.ErrorNetwork:
		c.server.note(false)
	}
}
