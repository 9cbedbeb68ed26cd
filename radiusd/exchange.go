package radiusd

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"layeh.com/radius"

	"twostep/challenge"
	"twostep/trace"
)

// exchange is one Access-Request from its admission to its answer: where
// it came from, where the answer goes, its entry in the duplicate cache
// and what its log line says. It is the challenge.Responder the engine
// answers through, at once or, for a login that waits for a push, later.
type exchange struct {
	s     *Server
	l     *listener
	c     *Client
	p     *radius.Packet
	src   netip.AddrPort
	dst   netip.Addr
	key   dedupKey
	entry *dedupEntry
	start time.Time // when the request was read
	id    string    // the correlation id of the log lines
	v     verdict
	// tr traces the request for `twostepctl trace`; nil when nobody is
	// traced.
	tr *trace.Request

	release func()             // frees the admission slot; idempotent
	cancel  context.CancelFunc // ends the decision's context, once answered

	mu           sync.Mutex
	authReturned bool // the Authenticator returned: an answer now is late
	answered     bool
	d            challenge.Decision // the answer given before the Authenticator returned
	err          error
}

// Release frees the request's admission slot: the login waits for the
// user's device, and costs a little memory, not a worker. A traced
// request shows what it did so far now, not when the wait ends.
func (x *exchange) Release() {
	x.release()
	x.tr.Flush()
}

// Respond answers the request with the engine's decision d, or with err.
// An answer given while the Authenticator runs is sent when it returns;
// a later one (a login that waited for a push) is sent at once, from the
// caller's goroutine. Only the first answer counts.
func (x *exchange) Respond(d challenge.Decision, err error) {
	x.mu.Lock()
	if x.answered {
		x.mu.Unlock()
		return
	}
	x.answered = true
	if !x.authReturned {
		x.d, x.err = d, err
		x.mu.Unlock()
		return
	}
	x.mu.Unlock()
	x.sendLate(d, err)
}

// afterAuthenticate is called when the Authenticator returns: it sends the
// answer given meanwhile, or leaves the request to a later Respond, which
// Shutdown then waits for.
func (x *exchange) afterAuthenticate() {
	x.mu.Lock()
	x.authReturned = true
	answered := x.answered
	if !answered {
		x.l.handlers.Add(1)
	}
	x.mu.Unlock()
	if !answered {
		return
	}
	defer x.cancel()
	if x.err != nil {
		x.v.failed(x.d, x.err)
	} else {
		x.v.decided(x.d)
	}
	x.respond()
}

// sendLate sends an answer that came after the Authenticator returned.
func (x *exchange) sendLate(d challenge.Decision, err error) {
	defer x.l.handlers.Done()
	defer x.cancel()
	defer func() {
		if r := recover(); r != nil {
			x.v.d, x.v.err = errorDecision(), fmt.Errorf("radiusd: authenticator panicked: %v", r)
			x.respond()
		}
	}()
	if x.s.base.Err() != nil {
		// The server is going away: no answer, so that the NAS
		// retransmits to another node, which follows the push.
		x.tr.Packet("reply", "none: this node is stopping, and the NAS retransmits to another", nil)
		x.tr.End(x.id, x.v.canonical)
		x.s.cache.forget(x.key, x.entry)
		x.s.drop(causeUnavailable, x.src, x.c.Name)
		return
	}
	// The user's name as the engine learned it before the login waited
	// is logged even when the wait ended in an error.
	x.v.decided(d)
	if err != nil {
		x.v.failed(d, err)
	}
	x.respond()
}
