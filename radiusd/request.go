package radiusd

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"twostep/challenge"
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
	x := &exchange{s: s, l: l, c: c, p: p, src: src, dst: dst, key: k, entry: e, start: start,
		release: sync.OnceFunc(func() {
			s.limit.release()
			s.metrics.inFlight.Dec()
		})}
	l.handlers.Add(1)
	go func() {
		defer l.handlers.Done()
		defer x.release()
		if !s.admitAuto(c, off >= 0, src) {
			s.cache.forget(k, e)
			return
		}
		s.serveAccess(x)
	}()
}

// serveAccess decides the Access-Request of x and answers it. A login
// that waits for a push is answered later, when the engine calls
// x.Respond: this goroutine ends and the admission slot is freed, so a
// waiting login costs a little memory and nothing else.
func (s *Server) serveAccess(x *exchange) {
	ctx, cancel := context.WithTimeout(s.base, decideTimeout)
	x.cancel = cancel
	x.id = loginID(x.p, x.src)
	if s.tracer != nil {
		x.tr = s.tracer.Begin(x.id, rfc2865.UserName_GetString(x.p))
		x.traceRequest()
	}
	if req := x.request(); req != nil {
		if x.tr != nil {
			req.Trace = x.tr
			ctx = x.tr.Context(ctx)
		}
		s.authenticate(ctx, req, x)
	}
	x.afterAuthenticate()
}

// authenticate calls the Authenticator and turns a panic into an error,
// so that a bug answers one Reject instead of taking the daemon down.
func (s *Server) authenticate(ctx context.Context, req *challenge.Request, x *exchange) {
	defer func() {
		if r := recover(); r != nil {
			x.Respond(challenge.Decision{}, fmt.Errorf("radiusd: authenticator panicked: %v", r))
		}
	}()
	s.auth.Authenticate(ctx, req, x)
}

// respond sends the answer to x's verdict, caches it, and writes the
// request's log line and metrics.
func (x *exchange) respond() {
	s, c, v := x.s, x.c, &x.v
	if v.d.LoginID != "" {
		// A request that continues a login (a challenge round, a push a
		// copy started elsewhere) is logged and recorded under its id.
		x.id = v.d.LoginID
	}
	if v.err != nil && c.DropOnError {
		// Silence lets the NAS fail over to a RADIUS server whose directory
		// answers; the retransmission may try again here.
		x.tr.Packet("reply", "none: the decision failed and the client has on_error: drop", nil)
		x.tr.End(x.id, v.canonical)
		s.cache.forget(x.key, x.entry)
		s.drop(causeUnavailable, x.src, c.Name)
		x.log("drop", string(reasonError), s.now().Sub(x.start))
		return
	}

	code := responseCode(v.d.Outcome)
	resp, err := s.encode(x.p, code, s.withReference(code, v.d, x.id), c)
	if err != nil {
		// An answer that cannot be encoded (State or message too long)
		// becomes the generic Reject, never silence and never an Accept.
		v.d, v.err = errorDecision(), err
		code = radius.CodeAccessReject
		resp, err = s.encode(x.p, code, s.withReference(code, v.d, x.id), c)
	}
	if err != nil { // even the Reject does not fit: Proxy-State filled the packet
		x.tr.Packet("reply", "none: the answer does not fit a packet", nil)
		x.tr.End(x.id, v.canonical)
		s.cache.forget(x.key, x.entry)
		s.drop(causeEncode, x.src, c.Name)
		return
	}
	rec := x.record(code)
	hold := s.rejectHold(code, x.start)
	decided := s.now().Sub(x.start)
	send := func() {
		s.cache.finish(x.key, x.entry, resp, s.now())
		if err := x.l.send(resp, x.src, x.dst); err != nil {
			s.drop(causeWriteError, x.src, c.Name)
		}
		// Traced (its reply parsed and named) and handed over once the
		// answer is out, without waiting.
		x.traceReply(code, resp, hold, decided)
		if s.history != nil {
			rec.Time = s.now()
			s.history.Record(rec)
		}
	}
	if since := s.now().Sub(s.cache.lastCopy(x.entry)); since > c.nasTimeout() {
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
		x.l.handlers.Add(1)
		s.after(hold, func() {
			defer x.l.handlers.Done()
			send()
		})
	} else {
		send()
	}

	latency := s.now().Sub(x.start)
	reason := reasonLabel(v.d.Reason)
	s.metrics.requests.WithLabelValues(c.Name, codeLabel(code), reason).Inc()
	s.metrics.duration.WithLabelValues(c.Name).Observe(latency.Seconds())

	x.log(codeLabel(code), reason, latency)
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
