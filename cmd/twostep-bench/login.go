package main

import (
	"context"
	"time"
)

// loginKind is how a simulated user gives the second factor, if any.
type loginKind uint8

const (
	// loginPAP sends the password alone: one Access-Request.
	loginPAP loginKind = iota
	// loginAppend sends "password,123456": one Access-Request.
	loginAppend
	// loginChallenge sends the password, expects an Access-Challenge,
	// and answers it with the passcode and the challenge's State: two
	// Access-Requests per login.
	loginChallenge
)

// String names the kind as -login spells it.
func (k loginKind) String() string {
	switch k {
	case loginAppend:
		return "append"
	case loginChallenge:
		return "challenge"
	default:
		return "pap"
	}
}

// parseLoginKind reads a -login value.
func parseLoginKind(s string) (loginKind, bool) {
	for _, k := range []loginKind{loginPAP, loginAppend, loginChallenge} {
		if s == k.String() {
			return k, true
		}
	}
	return loginPAP, false
}

// loginResult is one login: its last outcome, the time from the first
// send to the last valid answer, and the requests it took.
type loginResult struct {
	o           outcome
	rtt         time.Duration
	requests    int // exchanges finished: answered, timed out or refused
	retx, stray int
	why         string
}

// login runs one login of tpl's user with code (empty for a password
// alone). A challenge login whose first answer is an Access-Challenge
// carrying a State answers it with code on the same socket, as a NAS
// does; any other first answer ends the login.
func (w *worker) login(ctx context.Context, tpl *template, code string, end time.Time) loginResult {
	var r loginResult
	w.id++
	var auth [16]byte
	w.rng.Read(auth[:])
	first := code
	if w.cfg.Login == loginChallenge {
		first = ""
	}
	pkt := w.sign.buildCode(w.out, tpl, first, w.id, &auth)
	sent := time.Now()
	if !w.step(ctx, pkt, end, &r) || r.o != outChallenge || w.cfg.Login != loginChallenge {
		return r
	}
	state := attribute(w.in[:w.inLen], attrState)
	if len(state) == 0 {
		r.o, r.why = outBad, "Access-Challenge without State"
		return r
	}
	w.id++
	w.rng.Read(auth[:])
	pkt = w.sign.buildAnswer(w.ans, tpl.name, code, state, w.cfg.RequireMA, w.id, &auth)
	if w.step(ctx, pkt, end, &r) {
		r.rtt = time.Since(sent)
	}
	return r
}

// step runs one exchange of a login into r (its rtt that of the
// exchange) and reports whether it got a valid answer.
func (w *worker) step(ctx context.Context, pkt []byte, end time.Time, r *loginResult) bool {
	o, rtt, retx, stray, why := w.exchange(ctx, pkt, end)
	r.o, r.rtt, r.why = o, rtt, why
	r.retx += retx
	r.stray += stray
	if o != outAbandoned {
		r.requests++
	}
	return o == outAccept || o == outReject || o == outChallenge
}
