package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// The answer to a challenge round: a request carrying State, decided on
// whichever node it reaches.

// msgWrongCode asks again after a wrong passcode.
const msgWrongCode = "Wrong passcode. Try again:"

// answerRound decides a request carrying State: the passcode typed in answer
// to an Access-Challenge, perhaps on another node than the one that asked.
// Each answer first spends one of the challenge's attempts (a
// compare-and-swap, so parallel answers cannot check more codes than the
// attempts allow), then checks the code.
func (e *Engine) answerRound(ctx context.Context, req *Request, w Responder) (dec Decision, err error) {
	var account, login string // the waiting login's, once its record is trusted
	defer func() {
		dec = dec.then(func(d Decision) Decision {
			if d.User == "" {
				d.User = account
			}
			if d.LoginID == "" {
				d.LoginID = login
			}
			return d
		})
	}()
	timedOut := Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgLoginOver}
	if e.sf == nil {
		return timedOut, nil
	}
	now := e.now()
	p, err := e.sf.challenges.Get(ctx, req.State)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		req.step("round", "unknown", "no login waits with this State: finished, expired, or never asked")
		return timedOut, nil
	case errors.Is(err, cluster.ErrTampered):
		req.step("round", "tampered", "the round's record fails its integrity check (see the log)")
		timedOut.Err = err // for the log, at error level
		return timedOut, nil
	}
	if err != nil {
		// Without the store the State cannot be trusted, whatever the
		// fail mode: the password of the first round is not in this
		// request.
		req.step("round", "error", "the cluster store did not answer")
		return e.storeDown(err)
	}
	if p.User != req.User || p.Client != req.Client || p.NAS != req.Source.Addr().String() {
		req.step("round", "mismatch", "the round was asked of another User-Name, client or NAS")
		return timedOut, nil
	}
	account = p.Account
	req.continues(p.Login)
	req.stepf("round", "found", func() string {
		return fmt.Sprintf("login %s of %s, %d attempt(s) left, until %s", p.Login, p.Account, p.AttemptsLeft, p.Expires.UTC().Format(time.RFC3339))
	})
	if p.Login != "" && p.Login != req.ID {
		// This round belongs to the login the record names: the rounds
		// and pushes it starts keep that login's id.
		login = p.Login
		r := *req
		r.ID = login
		req = &r
	}
	if p.Expired(now) {
		req.step("round", "expired", "")
		d := Decision{Outcome: Reject, Reason: ReasonChallengeExpired, Message: msgTimedOut}
		d.Err = e.sf.challenges.Finish(ctx, p)
		return d, nil
	}
	var data roundData
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return Decision{}, fmt.Errorf("challenge: pending login: %w", err)
	}
	if data.Push != nil && e.push != nil {
		// A retransmission of an answer that started a push on another
		// node follows that push, without spending an attempt or sending
		// a second push.
		if d, ok, err := e.joinPush(ctx, req); ok {
			return d, err
		}
	}
	last := p.AttemptsLeft <= 1
	if last {
		err = e.sf.challenges.Take(ctx, p)
	} else {
		err = e.sf.challenges.Retry(ctx, p)
	}
	switch {
	case errors.Is(err, cluster.ErrConflict):
		req.step("round", "lost", "another answer to this State took the attempt first")
		return timedOut, nil // another answer to this State won the round
	case err != nil:
		return e.storeDown(err)
	}

	acct, err := e.sf.accounts.Load(ctx, p.Account)
	if err != nil {
		return e.storeDown(err)
	}
	if acct.Lockout.Locked(now) {
		req.stepf("lockout", "locked", func() string { return lockDetail(acct.Lockout) })
		d := e.lockedOut(acct.Lockout)
		d.Err = e.sf.challenges.Finish(ctx, p)
		return d, nil
	}
	code, isCode := otp.Normalize(req.Password)
	var d Decision
	handled := false
	if data.Push != nil && e.push != nil {
		if d, handled, err = e.pushAnswerPending(ctx, req, w, round{p, data}, acct); err != nil {
			return Decision{}, err
		}
		if handled && d.Outcome == Ask {
			if !bytes.Equal(d.State, req.State) {
				// A new State (the menu started a push): this one is done.
				d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
			}
			return d, nil
		}
	}
	switch {
	case handled:
	case isCode:
		vctx, cancel := nasContext(ctx, req)
		defer cancel()
		if d, err = e.verify(vctx, acct, code, now); err != nil {
			req.step("passcode", "error", "the check could not be completed or counted (see the log)")
			return e.storeDown(err)
		}
		req.stepf("passcode", string(d.Reason), func() string { return passcodeDetail(acct, d) })
	default:
		// Not a passcode at all (an empty box, a word): it spends an
		// attempt but is not a guess, so lockout does not count it.
		req.step("passcode", "not_a_code", "the answer is not a passcode (an empty box or a word): an attempt spent, no lockout count")
		d = Decision{Outcome: Reject, Reason: ReasonBadPasscode}
	}
	if handled && d.Outcome == Reject && d.Reason != ReasonBadPasscode {
		// The push was denied, timed out or went wrong: the login ends.
		if !last {
			d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
		}
		return d, nil
	}
	if d.Outcome == Accept {
		d.Attributes = data.Reply
		if !last {
			if err := e.sf.challenges.Finish(ctx, p); err != nil {
				d.Err = errors.Join(d.Err, err) // the step is spent: the State is useless anyway
			}
		}
		return d, nil
	}
	if last || d.Reason == ReasonLockedOut {
		if !last {
			d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
		}
		return d, nil
	}
	return Decision{Outcome: Ask, Reason: d.Reason, Message: msgWrongCode, State: req.State, Err: d.Err}, nil
}
