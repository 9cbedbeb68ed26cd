package ldapclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Pool holds idle connections of one kind (search or bind) and limits how
// many are in use at once. A connection that saw a network or protocol
// error is closed, not returned.
type Pool struct {
	name string
	sem  chan struct{}
	// wait bounds how long get waits for a connection to come free
	// (OpTimeout): a request's own deadline is the NAS's whole patience,
	// and a login still queued after one operation's time is better
	// refused than answered after the NAS gave up.
	wait time.Duration
	// open prepares a new connection (dial, and bind as the service
	// account for the search pool).
	open func(ctx context.Context) (*Conn, error)

	mu     sync.Mutex
	idle   []*Conn
	closed bool
}

// NewPool returns a pool of at most size connections in use at once,
// and kept idle, named name in errors. open prepares a new connection;
// wait bounds a request's wait for one to come free.
func NewPool(name string, size int, wait time.Duration, open func(ctx context.Context) (*Conn, error)) *Pool {
	return &Pool{name: name, sem: make(chan struct{}, size), wait: wait, open: open}
}

// ErrClosed is returned by a closed pool: the LDAP backend was closed.
var ErrClosed = errors.New("directory: LDAP backend closed")

// ErrPoolWait is returned by a request that waited the operation timeout
// for a pooled connection: every connection is busy, most likely with a
// directory that does not answer.
var ErrPoolWait = errors.New("no connection came free within the operation timeout")

// get returns a connection and whether it is fresh (just opened); with
// fresh set it opens one rather than take an idle one. The caller must
// call put. Waiting for a free connection ends with ctx or after p.wait,
// whichever comes first.
func (p *Pool) get(ctx context.Context, fresh bool) (*Conn, bool, error) {
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
		return nil, false, ErrClosed
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
func (p *Pool) queue(ctx context.Context) error {
	wctx, cancel := context.WithTimeoutCause(ctx, p.wait, ErrPoolWait)
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
func (p *Pool) put(c *Conn, healthy bool) {
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

// Close closes the idle connections; connections in use are closed when
// they are put back, and later requests fail with ErrClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// Do runs op on a pooled connection. If op finds a connection that sat
// idle dead before the server could act (see Conn; the server may have
// restarted since), it is tried once more on a fresh connection: not on
// another idle one, which a connection cannot tell dead before it is
// used. No other failure is retried: after a timeout or a bad answer the
// server may have acted on the request, and a bind counted twice against
// a password policy, or a slow directory asked twice, is worse than one
// failed login.
func (p *Pool) Do(ctx context.Context, op func(c *Conn) error) error {
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

// InUse is the number of connections in use now (a request waiting for
// one does not count).
func (p *Pool) InUse() int { return len(p.sem) }

// run runs op on c, got from p, and puts c back, even if op panics.
func (p *Pool) run(c *Conn, op func(c *Conn) error) error {
	healthy := false
	defer func() { p.put(c, healthy) }()
	err := op(c)
	healthy = err == nil || IsResult(err)
	return err
}

// IsResult reports whether err is an answer from the server (a result
// code such as invalidCredentials), after which the connection is fine,
// rather than a network, timeout or decoding failure.
func IsResult(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return false
	}
	// 80 and up are client-side codes (server down, timeout, decoding)
	// and go-ldap's own 200 and up.
	return le.ResultCode < ldap.LDAPResultOther
}
