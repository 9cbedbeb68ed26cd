package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostep/cluster"
)

// Lockout: wrong second factors counted cluster-wide before they are
// answered, and what a locked user is told.

// ReasonLockedOut: the account is locked.
const ReasonLockedOut Reason = "locked_out"

// Messages of a locked account, by who locked it.
const (
	msgLockedOut   = "Too many wrong passcodes: your account is locked. Contact the help desk to unlock it."
	msgLockedFraud = "Your account is locked: you reported a login as not yours. Contact the help desk."
	msgLockedAdmin = "Your account is locked by the help desk. Contact them to unlock it."
)

// ErrUncounted: a wrong second factor whose failure could not be
// recorded toward lockout in time (the records kept changing under a
// burst of guesses until the request's deadline, or the store stopped
// answering). Such a code is never answered as merely wrong: the request
// ends in an error, which the RADIUS layer answers with a plain Reject
// (no "try again") and counts as an error, and the client's fail mode
// does not apply.
var ErrUncounted = errors.New("challenge: a wrong second factor could not be counted toward lockout")

// fail counts a wrong second factor and says whether it locked the user.
// The answer waits for the count, so that between two unlocks at most
// the lockout's attempts of wrong codes are answered, at any concurrency.
func (e *Engine) fail(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, error) {
	l, err := e.sf.accounts.Fail(ctx, acct, code, e.sf.cfg.Lockout, now)
	if err != nil {
		// %v, not %w: the store's ErrUnavailable must not reach a fail
		// mode that would let this wrong code in.
		return Decision{}, fmt.Errorf("%w: %v", ErrUncounted, err)
	}
	if l.Locked(now) {
		if l.LockedBy() == cluster.LockFailures && l.LockedAt.Equal(now.UTC()) {
			// Fail stamps a lock it sets with now: this failure locked.
			e.metrics.locked(cluster.LockFailures)
		}
		return e.lockedOut(l), nil
	}
	return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, nil
}

// lockedOut is the answer to a locked user: why, and what to do (for
// wrong codes, until when). A user who reported a login as not theirs,
// or whom the help desk locked, must not be told of wrong passcodes.
// Each call is one refused login, counted (twostep_lockouts_total).
func (e *Engine) lockedOut(l cluster.Lockout) Decision {
	e.metrics.lockedOut(l.LockedBy())
	msg := msgLockedOut
	switch {
	case l.LockedBy() == cluster.LockFraud:
		msg = msgLockedFraud
	case l.LockedBy() == cluster.LockAdmin:
		msg = msgLockedAdmin
	case !l.LockedUntil.IsZero():
		msg = fmt.Sprintf("Too many wrong passcodes: your account is locked until %s UTC. Contact the help desk to unlock it sooner.",
			l.LockedUntil.UTC().Format("2006-01-02 15:04"))
	}
	return Decision{Outcome: Reject, Reason: ReasonLockedOut, Message: msg}
}
