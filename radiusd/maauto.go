package radiusd

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// MAMemory remembers, for every node of a cluster, which clients have
// sent a Message-Authenticator, so that a client whose
// require_message_authenticator is auto is held to it wherever its
// requests go. cluster.ClientRecords implements it in etcd.
type MAMemory interface {
	// SeenMessageAuthenticator reports whether client is recorded as
	// having sent one.
	SeenMessageAuthenticator(ctx context.Context, client string) (bool, error)
	// RecordMessageAuthenticator records that client has sent one;
	// recording a client recorded already is no error.
	RecordMessageAuthenticator(ctx context.Context, client string) error
}

// Bounds of the memory's store calls. A node reads again that a client
// has not been seen at most every maRecheck, so that a client seen on
// another node meanwhile is held here within that time without a read per
// request; a client seen is never read again. When the store cannot be
// read, the last answer stands while it is younger than maStale, and
// without one the request is dropped (the NAS sends it again), with a
// read again after maRetry: a failed read never lets through a request
// that the cluster might hold to the attribute.
const (
	maRecheck = 30 * time.Second
	maRetry   = time.Second
	maStale   = 5 * time.Minute
	maTimeout = 2 * time.Second
)

// maAuto is this process's part of the auto mode: the clients seen sending
// a Message-Authenticator, in front of the cluster's memory. Its map holds
// one entry per client name ever configured, so it stays bounded.
type maAuto struct {
	store   MAMemory // nil: this process is the whole memory
	now     func() time.Time
	clients sync.Map // client name -> *maClient
}

// maClient is what this process knows of one auto client.
type maClient struct {
	// seen is set once the client was seen sending the attribute, here
	// or (read from the store) on another node: from then on it is held
	// to it, and the store is not asked again.
	seen atomic.Bool
	// mu is held while the store is asked, so that the requests of one
	// client wait for one answer instead of each asking.
	mu       sync.Mutex
	recorded bool      // the store has it (under mu)
	asked    time.Time // when the store was last asked or written to (under mu)
	failed   bool      // the last read failed (under mu)
	notSeen  time.Time // when the store last answered "not seen" (under mu)
	told     bool      // the admin was told this client sends none (under mu)
}

func (m *maAuto) client(name string) *maClient {
	if c, ok := m.clients.Load(name); ok {
		return c.(*maClient)
	}
	c, _ := m.clients.LoadOrStore(name, &maClient{})
	return c.(*maClient)
}

// held reports, without blocking, whether this process knows that client
// has sent a Message-Authenticator. The read loop drops on it.
func (m *maAuto) held(client string) bool {
	c, ok := m.clients.Load(client)
	return ok && c.(*maClient).seen.Load()
}

// signed notes a request from client with a valid Message-Authenticator,
// and records it in the store the first time (again after a failure, at
// most every maRecheck). It returns the store's error, for the log.
func (m *maAuto) signed(ctx context.Context, client string) (first bool, err error) {
	c := m.client(client)
	first = !c.seen.Swap(true)
	if m.store == nil {
		return first, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recorded || (!first && m.now().Sub(c.asked) < maRecheck) {
		return first, nil
	}
	c.asked = m.now()
	ctx, cancel := context.WithTimeout(ctx, maTimeout)
	defer cancel()
	if err := m.store.RecordMessageAuthenticator(ctx, client); err != nil {
		return first, err
	}
	c.recorded = true
	return first, nil
}

// unsigned decides a request from client without a Message-Authenticator
// that the read loop let through: hold reports whether the client has sent
// one before, on any node (the store is asked at most every maRecheck);
// tell, that the admin should be told once that this client sends none.
// When the store cannot answer, its last "not seen" younger than maStale
// stands (err says why); without one, hold is true with err: the
// request is dropped, and the store asked again after maRetry.
func (m *maAuto) unsigned(ctx context.Context, client string) (hold, tell bool, err error) {
	c := m.client(client)
	if c.seen.Load() {
		return true, false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen.Load() { // learnt while this request waited for mu
		return true, false, nil
	}
	now := m.now()
	wait := maRecheck
	if c.failed {
		wait = maRetry
	}
	if m.store != nil && (c.asked.IsZero() || now.Sub(c.asked) >= wait) {
		ctx, cancel := context.WithTimeout(ctx, maTimeout)
		defer cancel()
		seen, err := m.store.SeenMessageAuthenticator(ctx, client)
		// A failed read is tried again after maRetry: each request of
		// an outage would otherwise wait maTimeout.
		c.asked, c.failed = now, err != nil
		switch {
		case err != nil:
		case seen:
			c.seen.Store(true)
			c.recorded = true
			return true, false, nil
		default:
			c.notSeen = now
		}
	}
	if m.store != nil && c.failed {
		err := errors.New("radiusd: the cluster could not say whether the client has sent Message-Authenticator")
		if c.notSeen.IsZero() || now.Sub(c.notSeen) >= maStale {
			return true, false, err // unknown: dropped
		}
		return false, false, err // as it was a moment ago
	}
	tell, c.told = !c.told, true
	return false, tell, nil
}

// admitAuto applies require_message_authenticator: auto to an
// Access-Request from c that passed the read loop, and reports whether it
// may be decided. It runs on the request's goroutine: it may ask the
// store.
func (s *Server) admitAuto(c *Client, signed bool, src netip.AddrPort) bool {
	if c.MessageAuthenticator != MAAuto {
		return true
	}
	if signed {
		first, err := s.ma.signed(s.base, c.Name)
		if first {
			s.log.Info().Str("client", c.Name).
				Msg("client sent a Message-Authenticator: with require_message_authenticator auto, every node now drops its requests without one")
		}
		if err != nil {
			s.drops.Event(&s.log, zerolog.WarnLevel, "message_authenticator_memory").Err(err).Str("client", c.Name).
				Msg("could not record in the cluster that the client sends Message-Authenticator; this node holds it to it, the others may not yet")
		}
		return true
	}
	hold, tell, err := s.ma.unsigned(s.base, c.Name)
	switch {
	case hold && err != nil:
		s.metrics.dropped.WithLabelValues(causeMAUnknown).Inc()
		s.drops.Event(&s.log, zerolog.WarnLevel, causeMAUnknown).Err(err).Str("client", c.Name).Str("nas", src.Addr().Unmap().String()).
			Msg("radius packet dropped: the cluster cannot say whether this auto client is held to Message-Authenticator; the NAS sends it again")
		return false
	case hold:
		s.dropMissingMA(src, c)
		return false
	case err != nil:
		s.drops.Event(&s.log, zerolog.WarnLevel, "message_authenticator_memory").Err(err).Str("client", c.Name).
			Msg("could not read from the cluster whether the client has sent Message-Authenticator; it had not a moment ago, so its request without one is let through")
	case tell:
		s.log.Warn().Str("client", c.Name).Str("nas", src.Addr().Unmap().String()).
			Msg("client sends no Message-Authenticator: its requests are open to BlastRADIUS (CVE-2024-3596) forgery and a wrong shared secret shows up as bad_password; upgrade the NAS (radcli 1.5, pam_radius 3.0), after which require_message_authenticator auto holds it to the attribute")
	}
	return true
}
