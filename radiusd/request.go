package radiusd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"twostep/challenge"
	"twostep/cluster"
)

// handlePacket runs on the read loop. Everything cheap and bounded happens
// here (client, framing, Message-Authenticator, duplicate cache,
// admission); the decision runs in a goroutine of its own, so a slow
// Authenticator never stops the reading.
func (s *Server) handlePacket(l *listener, b []byte, src netip.AddrPort, dst netip.Addr) {
	start := s.now()
	c, ok := s.clients.Load().Lookup(src.Addr())
	if !ok {
		s.drop(causeUnknownClient, src, "")
		return
	}
	pkt, cause := frame(b)
	if cause != "" {
		s.drop(cause, src, c.Name)
		return
	}
	code := radius.Code(pkt[0])
	if code != radius.CodeAccessRequest && code != radius.CodeStatusServer {
		s.drop(causeUnsupportedCode, src, c.Name)
		return
	}
	off, err := findMA(pkt)
	switch {
	case err != nil:
		s.drop(causeBadMA, src, c.Name)
		return
	case off < 0 && code == radius.CodeStatusServer:
		// RFC 5997 §3: a Status-Server without it is always discarded.
		s.drop(causeMissingMA, src, c.Name)
		return
	case off < 0 && (c.MessageAuthenticator == MARequired || (c.MessageAuthenticator == MAAuto && s.ma.held(c.Name))):
		// An auto client this process has seen sign is held to it here;
		// what only the cluster knows is asked off the read loop.
		s.dropMissingMA(src, c)
		return
	case off >= 0 && !c.verifyMA(pkt, off):
		// Usually a wrong secret. Checked before the duplicate cache, so a
		// forged packet can neither evict nor fetch a cached answer.
		s.drop(causeBadMA, src, c.Name)
		return
	}
	p, err := radius.Parse(pkt, c.Secret)
	if err != nil { // unreachable after frame, kept for safety
		s.drop(causeBadAttribute, src, c.Name)
		return
	}
	if off < 0 && hasAttr(p, rfc2865.ProxyState_Type) {
		// BlastRADIUS: a forged request's attacker-chosen Proxy-State is
		// echoed into the answer; a client allowed to omit
		// Message-Authenticator must still sign what carries Proxy-State.
		s.drop(causeProxyStateNoMA, src, c.Name)
		return
	}
	if off < 0 && hasAttr(p, rfc2869.EAPMessage_Type) {
		// RFC 3579 §3.2: EAP-Message without Message-Authenticator is
		// silently discarded.
		s.drop(causeMissingMA, src, c.Name)
		return
	}
	if code == radius.CodeStatusServer {
		s.answerStatus(l, c, p, src, dst)
		return
	}
	if _, err := userPassword(p); err != nil {
		s.drop(causeBadPassword, src, c.Name)
		return
	}

	k := dedupKey{listener: l.id, src: src, id: p.Identifier}
	e, verdict, cached := s.cache.begin(k, p.Authenticator, start)
	switch verdict {
	case dedupInFlight:
		s.metrics.duplicates.WithLabelValues(dupDroppedInFlight).Inc()
		return
	case dedupAnswered:
		s.metrics.duplicates.WithLabelValues(dupResent).Inc()
		if err := l.send(cached, src, dst); err != nil {
			s.drop(causeWriteError, src, c.Name)
		}
		return
	}
	if !s.limit.acquire(hasAttr(p, rfc2865.State_Type)) {
		s.cache.forget(k, e) // let the retransmission try again
		s.drop(causeOverload, src, c.Name)
		return
	}
	s.metrics.inFlight.Inc()
	l.handlers.Add(1)
	go func() {
		defer l.handlers.Done()
		// A login waiting for a push gives its admission slot back while
		// it waits: it costs a goroutine, not a worker.
		release := sync.OnceFunc(func() {
			s.limit.release()
			s.metrics.inFlight.Dec()
		})
		defer release()
		if !s.admitAuto(c, off >= 0, src) {
			s.cache.forget(k, e)
			return
		}
		s.serveAccess(l, c, p, src, dst, k, e, start, release)
	}()
}

// serveAccess decides one Access-Request read at start, answers it, caches
// the answer, and writes the request's log line and metrics. A decision
// left open (a login waiting for a push) is answered later by its
// continuation: this goroutine ends and its admission slot is freed, so a
// waiting login costs a little memory and nothing else.
func (s *Server) serveAccess(l *listener, c *Client, p *radius.Packet, src netip.AddrPort, dst netip.Addr, k dedupKey, e *dedupEntry, start time.Time, release func()) {
	ctx, cancel := context.WithTimeout(challenge.WithWaiting(s.base, release), decideTimeout)
	id := correlationID()
	v := s.decide(ctx, id, c, p, src, start)
	if w := v.d.Wait; w != nil && v.err == nil {
		release()
		l.handlers.Add(1) // Shutdown waits for the answer
		w.Then(func(d challenge.Decision, err error) {
			defer l.handlers.Done()
			defer cancel()
			defer func() {
				if r := recover(); r != nil {
					v.d, v.err = errorDecision(), fmt.Errorf("radiusd: authenticator panicked: %v", r)
					s.respond(l, c, p, src, dst, k, e, start, id, v)
				}
			}()
			if s.base.Err() != nil {
				// The server is going away: no answer, so that the NAS
				// retransmits to another node, which follows the push.
				s.cache.forget(k, e)
				s.drop(causeUnavailable, src, c.Name)
				return
			}
			v.decided(d)
			if err != nil {
				v.d, v.err = errorDecision(), err
			}
			s.respond(l, c, p, src, dst, k, e, start, id, v)
		})
		return
	}
	defer cancel()
	s.respond(l, c, p, src, dst, k, e, start, id, v)
}

// respond answers the request with its verdict v.
func (s *Server) respond(l *listener, c *Client, p *radius.Packet, src netip.AddrPort, dst netip.Addr, k dedupKey, e *dedupEntry, start time.Time, id string, v verdict) {
	if v.err != nil && c.DropOnError {
		// Silence lets the NAS fail over to a RADIUS server whose directory
		// answers; the retransmission may try again here.
		s.cache.forget(k, e)
		s.drop(causeUnavailable, src, c.Name)
		s.logRequest(id, c, src, v, "drop", string(reasonError), s.now().Sub(start))
		return
	}

	code := responseCode(v.d.Outcome)
	resp, err := s.encode(p, code, v.d, c)
	if err != nil {
		// An answer that cannot be encoded (State or message too long)
		// becomes the generic Reject, never silence and never an Accept.
		v.d, v.err = errorDecision(), err
		code = radius.CodeAccessReject
		resp, err = s.encode(p, code, v.d, c)
	}
	if err != nil { // even the Reject does not fit: Proxy-State filled the packet
		s.cache.forget(k, e)
		s.drop(causeEncode, src, c.Name)
		return
	}
	send := func() {
		s.cache.finish(k, e, resp, s.now())
		if err := l.send(resp, src, dst); err != nil {
			s.drop(causeWriteError, src, c.Name)
		}
	}
	hold := s.rejectHold(code, start)
	if since := s.now().Sub(s.cache.lastCopy(e)); since > c.nasTimeout() {
		// No copy of the request for longer than the NAS says it waits
		// for each: it has given up, and the user saw a failure whatever
		// is sent now. The admin must see that the client entry and the
		// NAS disagree. (A Reject's deliberate hold is not counted: copies
		// that come meanwhile get the held answer; -check warns when the
		// hold reaches the NAS's timeout.)
		v.late = since
		s.metrics.nasGaveUp.WithLabelValues(c.Name).Inc()
	}
	if hold > 0 {
		// The worker is free at once; Serve waits for the held answer.
		l.handlers.Add(1)
		s.after(hold, func() {
			defer l.handlers.Done()
			send()
		})
	} else {
		send()
	}

	latency := s.now().Sub(start)
	reason := reasonLabel(v.d.Reason)
	s.metrics.requests.WithLabelValues(c.Name, codeLabel(code), reason).Inc()
	s.metrics.duration.WithLabelValues(c.Name).Observe(latency.Seconds())

	s.logRequest(id, c, src, v, codeLabel(code), reason, latency)
}

// rejectHold is how long an answer of code to a request that arrived at
// start is held back: an Access-Reject leaves RejectDelay after its
// request arrived, whatever the decision cost, so that an unknown user, a
// wrong password and a wrong passcode take the same time from outside
// (a delay added after the decision would keep their few milliseconds of
// difference). A decision slower than RejectDelay is sent at once.
func (s *Server) rejectHold(code radius.Code, start time.Time) time.Duration {
	if code != radius.CodeAccessReject || s.rejectDelay <= 0 {
		return 0
	}
	return max(start.Add(s.rejectDelay).Sub(s.now()), 0)
}

// logRequest writes a request's one log line, at error level when the
// decision failed. It never holds a password or secret.
func (s *Server) logRequest(id string, c *Client, src netip.AddrPort, v verdict, decision, reason string, latency time.Duration) {
	ev := s.log.Info()
	switch {
	case v.err != nil:
		ev = s.log.Error().Err(v.err)
	case errors.Is(v.d.Err, cluster.ErrTampered):
		// A record edited in etcd without the key file: the user was
		// refused as if it were not there; the admin must look now.
		ev = s.log.Error().Err(v.d.Err)
	case v.d.Err != nil:
		// The decision absorbed a failure (the client's fail mode answered
		// for a store that is down): an admin must see it every time.
		ev = s.log.Warn().Err(v.d.Err)
	case v.late > 0:
		ev = s.log.Warn()
	}
	if !ev.Enabled() {
		// The level is off (info in production at level warn): do not
		// format the NAS address for nothing.
		return
	}
	if v.d.Device != "" {
		ev = ev.Str("device", v.d.Device)
	}
	if v.late > 0 {
		// The client entry's wait, so that the admin sees the mismatch:
		// the NAS waits less than nas_timeout (or retransmits less than
		// nas_retries) say, and twostepd waited for a push, or a slow
		// directory, in vain.
		ev = ev.Bool("nas_gave_up", true).
			Float64("since_last_copy_ms", float64(v.late.Microseconds())/1000).
			Str("nas_timeout", c.nasTimeout().String()).
			Int("nas_retries", c.Login.NASRetries)
	}
	ev = ev.Str("id", id).
		Str("client", c.Name).
		Str("nas", src.Addr().Unmap().String())
	// What the NAS sent about itself and the user's end (the VPN user's
	// address in Calling-Station-Id), when it sent it.
	for _, f := range [...]struct{ key, value string }{
		{"nas_identifier", v.nasIdentifier},
		{"nas_ip_address", v.nasIPAddress},
		{"calling_station_id", v.callingStationID},
	} {
		if f.value != "" {
			ev = ev.Str(f.key, f.value)
		}
	}
	// The directory's name for the user, so that one user's lines share
	// one name; what was typed (another case, a trailing space,
	// fullwidth letters) beside it when it differs.
	user := v.user
	if v.canonical != "" && v.canonical != v.user {
		user = v.canonical
		ev = ev.Str("typed_user", v.user)
	}
	ev.Str("user", user).
		Str("method", v.method).
		Str("decision", decision).
		Str("reason", reason).
		Float64("latency_ms", float64(latency.Microseconds())/1000).
		Msg("radius request")
}

// encode builds and signs the answer for d to client c. An Accept carries
// the Decision's reply attributes that c is sent; one that cannot be
// encoded fails the answer, since an Accept without its authorization
// attributes could grant the NAS's default access.
func (s *Server) encode(p *radius.Packet, code radius.Code, d challenge.Decision, c *Client) ([]byte, error) {
	attrs, err := responseAttrs(p, code, d)
	if err != nil {
		return nil, err
	}
	if code == radius.CodeAccessAccept {
		for _, a := range d.Attributes {
			if !c.sends(a.Name) {
				continue
			}
			avp, err := s.dict.Encode(a.Name, a.Value)
			if err != nil {
				return nil, fmt.Errorf("radiusd: reply: %w", err)
			}
			attrs = append(attrs, avp)
		}
	}
	return encodeResponse(p, code, attrs, c)
}

// correlationID returns a short random id that ties a request's log line to
// the NAS's and the Authenticator's. It needs to be unlikely to repeat, not
// unpredictable.
func correlationID() string {
	const digits = "0123456789abcdef"
	var b [12]byte // 48 random bits, as %012x would print them
	v := rand.Uint64()
	for i := range b {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
