package challenge

// Responder answers one request for the transport that received it, as
// layeh/radius's ResponseWriter does for a Handler: the transport passes
// one to Authenticate with every request.
type Responder interface {
	// Respond answers the request with the final decision, or with the
	// error that stopped it. The engine calls it once per request:
	// before Authenticate returns, or, for a login that waits for the
	// user's device, later, from another goroutine.
	Respond(d Decision, err error)
	// Release gives back what the transport holds for the request while
	// it is decided (radiusd's admission slot). The engine calls it
	// before the login waits for the user's device, which may take a
	// minute, so that thousands of logins can wait at once; Respond
	// still follows. It may be called more than once.
	Release()
}

// wait is a decision left open while the login waits for the user's
// device: it calls done once with the final decision (or the error that
// stopped it), on another goroutine, and holds no goroutine meanwhile.
type wait func(done func(Decision, error))

// then returns d with f applied to it or, when d is left open, to the
// decision that closes it.
func (d Decision) then(f func(Decision) Decision) Decision {
	open := d.wait
	if open == nil {
		return f(d)
	}
	d.wait = func(done func(Decision, error)) {
		open(func(final Decision, err error) { done(f(final), err) })
	}
	return d
}

// settle waits for d, when it is left open, on this goroutine, having
// released w: for the answer to a challenge round, whose State is
// finished or kept by what the device answered.
func settle(w Responder, d Decision, err error) (Decision, error) {
	if d.wait == nil || err != nil {
		d.wait = nil
		return d, err
	}
	w.Release()
	type result struct {
		d   Decision
		err error
	}
	ch := make(chan result, 1)
	d.wait(func(d Decision, err error) { ch <- result{d, err} })
	r := <-ch
	return r.d, r.err
}
