package radiusd

import (
	"net/netip"
	"sync"
	"time"
)

// dedupKey identifies a conversation slot as RFC 5080 §2.2.2 defines it:
// source address and port and Identifier, plus the listener, since the same
// NAS may reach us on several sockets. The Request Authenticator is kept in
// the entry rather than the key so that a new request in the same slot
// replaces the old entry instead of sitting beside it.
type dedupKey struct {
	listener uint32
	src      netip.AddrPort
	id       byte
}

type dedupEntry struct {
	auth    [16]byte
	resp    []byte    // nil while the request is in flight
	expires time.Time // set when resp is
	// last is when the latest copy of the request arrived (the first, or
	// a retransmission absorbed while in flight): the NAS waits for an
	// answer from then, what it waits per try.
	last time.Time
}

// dedupVerdict is what the cache says about an arriving request.
type dedupVerdict int

const (
	dedupNew      dedupVerdict = iota // process it
	dedupInFlight                     // a copy is being processed: drop
	dedupAnswered                     // a copy was answered: resend the answer
)

// dedupCache is the RFC 5080 response cache. Memory is bounded by the
// request rate times twice the TTL: answered entries expire after ttl and
// are swept at most every ttl, lazily, by the requests themselves, so no
// goroutine is needed. In-flight entries end when their request does.
type dedupCache struct {
	ttl time.Duration

	mu        sync.Mutex
	entries   map[dedupKey]*dedupEntry
	nextSweep time.Time
}

func newDedupCache(ttl time.Duration) *dedupCache {
	return &dedupCache{ttl: ttl, entries: make(map[dedupKey]*dedupEntry)}
}

// begin looks a request up. For dedupNew it returns the in-flight entry the
// caller must later finish or forget; for dedupAnswered, the cached answer.
func (c *dedupCache) begin(k dedupKey, auth [16]byte, now time.Time) (*dedupEntry, dedupVerdict, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
	if e, ok := c.entries[k]; ok && e.auth == auth {
		switch {
		case e.resp == nil:
			e.last = now
			return nil, dedupInFlight, nil
		case now.Before(e.expires):
			return nil, dedupAnswered, e.resp
		}
	}
	// New, expired, or the same slot with a new authenticator: the NAS has
	// moved on, so the old entry is purged by replacing it.
	e := &dedupEntry{auth: auth, last: now}
	c.entries[k] = e
	return e, dedupNew, nil
}

// lastCopy returns when the latest copy of e's request arrived.
func (c *dedupCache) lastCopy(e *dedupEntry) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.last
}

// finish stores the answer of e, unless a newer request has taken its slot.
func (c *dedupCache) finish(k dedupKey, e *dedupEntry, resp []byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] == e {
		e.resp = resp
		e.expires = now.Add(c.ttl)
	}
}

// forget removes e when its request was not processed (shed), so that the
// NAS's retransmission gets a fresh chance.
func (c *dedupCache) forget(k dedupKey, e *dedupEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k] == e {
		delete(c.entries, k)
	}
}

// sweepLocked drops expired answers, at most once per ttl.
func (c *dedupCache) sweepLocked(now time.Time) {
	if now.Before(c.nextSweep) {
		return
	}
	for k, e := range c.entries {
		if e.resp != nil && !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	c.nextSweep = now.Add(c.ttl)
}

// len returns the number of entries, for tests.
func (c *dedupCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
