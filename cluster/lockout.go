package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Lockout counts a user's consecutive failed second factors, cluster-wide.
type Lockout struct {
	// Failures since the last success or unlock.
	Failures int `json:"failures"`
	// LastFailure is a keyed hash of the last wrong code and its
	// SameCodeStep, so that the same wrong code sent again within the step
	// (a retransmission reaching another node, a user pressing Enter
	// twice) counts once, and counts again in the next step, where it is
	// checked against another code. Never the code itself.
	LastFailure []byte `json:"last_failure,omitempty"`
	LastKeyID   string `json:"last_failure_kid,omitempty"`
	// LastFailureAt is when it was counted, for the help desk.
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	// LockedAt is when the limit was reached; zero while not locked.
	LockedAt time.Time `json:"locked_at,omitzero"`
	// LockedUntil ends the lock; zero with LockedAt set means until an
	// admin unlocks.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	// Cause says why the lock was set, so the user is told what to do;
	// records written before it existed lack it (see LockedBy).
	Cause LockCause `json:"cause,omitempty"`
	Nonce string    `json:"nonce"`
	rev   int64
}

// LockCause is why an account was locked.
type LockCause string

// Causes of a lock.
const (
	// LockFailures: too many wrong second factors in a row.
	LockFailures LockCause = "failures"
	// LockFraud: the user answered a push with "This wasn't me".
	LockFraud LockCause = "fraud"
	// LockAdmin: an admin locked the account (twostepctl lock).
	LockAdmin LockCause = "admin"
)

// LockedBy returns the cause of the lock. A record without one, written
// before causes were recorded, is read from its fields: Fail sets
// LockedAt and LastFailureAt to the same instant, or a LockedUntil, and
// Lock does neither; any other lock counts as an admin's, the cause that
// sends the user to the help desk.
func (l Lockout) LockedBy() LockCause {
	switch {
	case l.Cause == LockFailures, l.Cause == LockFraud, l.Cause == LockAdmin:
		return l.Cause
	case l.Cause == "" && !l.LockedAt.IsZero() && (!l.LockedUntil.IsZero() || l.LockedAt.Equal(l.LastFailureAt)):
		return LockFailures
	}
	return LockAdmin
}

// Locked reports whether the lockout holds at now.
func (l Lockout) Locked(now time.Time) bool {
	if l.LockedAt.IsZero() {
		return false
	}
	return l.LockedUntil.IsZero() || now.Before(l.LockedUntil)
}

// ErrLocked: the user's account is locked; a right second factor is
// refused too.
var ErrLocked = errors.New("cluster: the account is locked")

// LockoutPolicy says when failures lock a user and for how long.
type LockoutPolicy struct {
	// Attempts is the number of consecutive failures that locks; 0 turns
	// lockout off.
	Attempts int
	// Duration is how long a lock holds; 0 holds until an admin unlocks.
	Duration time.Duration
}

// lockoutPurpose keys the hashes of wrong codes.
const lockoutPurpose = "lockout failure"

// SameCodeStep is the time step within which the same wrong code counts
// once: a TOTP step, long enough for a NAS's retransmissions and a user
// pressing Enter twice. A fixed guess sent in every step counts every
// time, since each step checks it against another code.
const SameCodeStep = 30 * time.Second

// failureMessage is what the keyed hash of a wrong code covers: the code
// and its SameCodeStep.
func failureMessage(code string, now time.Time) []byte {
	return fmt.Appendf(nil, "%s\x00%d", code, now.Unix()/int64(SameCodeStep/time.Second))
}

// Fail counts one failed second factor with code for acct and returns the
// lockout after it. It reads the lockout afresh and writes the count with
// a compare on what it read, again and again while other failures land,
// so that no failure is lost however many arrive at once; only ctx ends
// it (ErrContended, or ErrUnavailable when the store does not answer),
// and then the caller must not answer the code as merely wrong. A code
// equal to the last failure counts once. An expired lock starts a fresh
// count.
func (a *Accounts) Fail(ctx context.Context, acct *Account, code string, p LockoutPolicy, now time.Time) (Lockout, error) {
	if p.Attempts <= 0 {
		return acct.Lockout, nil
	}
	var next Lockout
	rev, err := Update(ctx, a.store, fmt.Sprintf("count a failure of %q", acct.Name), func(ctx context.Context) (Txn, error) {
		cur, err := a.readLockout(ctx, acct.Name)
		if err != nil {
			return Txn{}, err
		}
		next = cur
		if !next.LockedAt.IsZero() && !next.Locked(now) {
			next = Lockout{rev: cur.rev} // an expired lock: count afresh
		}
		if next.Locked(now) {
			return Txn{}, nil
		}
		if code != "" && next.LastFailure != nil &&
			a.keys.VerifyMAC(next.LastKeyID, lockoutPurpose, failureMessage(code, now), next.LastFailure) {
			return Txn{}, nil // the same wrong code again
		}
		next.Failures++
		next.LastFailureAt = now.UTC()
		if code != "" {
			next.LastKeyID, next.LastFailure = a.keys.MAC(lockoutPurpose, failureMessage(code, now))
		}
		var ev []Op
		if next.Failures >= p.Attempts {
			next.LockedAt, next.Cause = now.UTC(), LockFailures
			if p.Duration > 0 {
				next.LockedUntil = now.Add(p.Duration).UTC()
			}
			if ev, err = a.event(now, ActionUserLock, acct.Name, lockText(next)); err != nil {
				return Txn{}, err
			}
		}
		txn, err := a.lockoutTxn(acct.Name, &next)
		if err != nil {
			return Txn{}, err
		}
		txn.Then = append(txn.Then, ev...)
		return txn, nil
	})
	if err != nil {
		return Lockout{}, err
	}
	if rev != 0 {
		next.rev = rev
	}
	acct.Lockout = next
	return next, nil
}

// Unlock clears user's lockout, as an admin does; it reports whether
// there was anything to clear.
func (a *Accounts) Unlock(ctx context.Context, user string) (bool, error) {
	found := false
	_, err := Update(ctx, a.store, fmt.Sprintf("unlock %q", user), func(ctx context.Context) (Txn, error) {
		rev, detail := int64(0), "was not locked; nothing to clear"
		e, err := a.store.Get(ctx, lockoutKey(user))
		found = err == nil
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Txn{}, fmt.Errorf("cluster: unlock %q: %w", user, err)
		default:
			// A record that does not read is removed all the same.
			rev, detail = e.ModRevision, "an unreadable lockout record removed"
			var l Lockout
			if json.Unmarshal(e.Value, &l) == nil {
				detail = clearedText(l, a.now())
			}
		}
		// An unlock of nobody is audited too: an admin looked at the
		// account. It writes only its event, while the lockout stays
		// absent.
		ev, err := a.event(time.Time{}, ActionUserUnlock, user, detail)
		if err != nil {
			return Txn{}, err
		}
		txn := Txn{If: []Compare{{Key: lockoutKey(user), ModRevision: rev}}, Then: ev}
		if found {
			txn.Then = append(txn.Then, Delete(lockoutKey(user)))
		}
		return txn, nil
	})
	return found && err == nil, err
}

// now is the clock of a's actor, for what a change decides without a
// time of its own; time.Now when a is not audited.
func (a *Accounts) now() time.Time {
	if a.by == nil {
		return time.Now()
	}
	return a.by.now()
}

// lockText says why and until when l locks, for audit events: "cause
// failures (5 in a row), until 2026-11-24T10:15:00Z".
func lockText(l Lockout) string {
	s := "cause " + string(l.LockedBy())
	if l.LockedBy() == LockFailures {
		s += fmt.Sprintf(" (%d in a row)", l.Failures)
	}
	if l.LockedUntil.IsZero() {
		return s + ", until an admin unlocks"
	}
	return s + ", until " + l.LockedUntil.UTC().Format(time.RFC3339)
}

// clearedText says what an unlock of l at now cleared.
func clearedText(l Lockout, now time.Time) string {
	failures := fmt.Sprintf("%d failures cleared", l.Failures)
	if l.Failures == 1 {
		failures = "1 failure cleared"
	}
	if l.Locked(now) {
		return fmt.Sprintf("was locked (%s, since %s); %s", lockText(l), l.LockedAt.UTC().Format(time.RFC3339), failures)
	}
	return "was not locked; " + failures
}

// Lock locks user now, until an admin unlocks, for cause: LockAdmin for
// an admin, LockFraud for a user reporting a fraudulent login (a lock
// already in force takes the new cause). Failures counted meanwhile
// conflict with it; it reads again and wins.
func (a *Accounts) Lock(ctx context.Context, user string, cause LockCause, now time.Time) error {
	if cause != LockAdmin && cause != LockFraud {
		return fmt.Errorf("cluster: lock %q: cause %q is not %q or %q", user, cause, LockAdmin, LockFraud)
	}
	_, err := Update(ctx, a.store, fmt.Sprintf("lock %q", user), func(ctx context.Context) (Txn, error) {
		cur, err := a.readLockout(ctx, user)
		if err != nil {
			return Txn{}, err
		}
		next := cur
		next.LockedAt, next.LockedUntil, next.Cause = now.UTC(), time.Time{}, cause
		ev, err := a.event(now, ActionUserLock, user, lockText(next))
		if err != nil {
			return Txn{}, err
		}
		txn, err := a.lockoutTxn(user, &next)
		if err != nil {
			return Txn{}, err
		}
		txn.Then = append(txn.Then, ev...)
		return txn, nil
	})
	return err
}

func (a *Accounts) readLockout(ctx context.Context, user string) (Lockout, error) {
	e, err := a.store.Get(ctx, lockoutKey(user))
	if errors.Is(err, ErrNotFound) {
		return Lockout{}, nil
	}
	if err != nil {
		return Lockout{}, fmt.Errorf("cluster: lockout of %q: %w", user, err)
	}
	var l Lockout
	if err := json.Unmarshal(e.Value, &l); err != nil {
		return Lockout{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
	}
	l.rev = e.ModRevision
	return l, nil
}

// lockoutTxn writes l in place of the record read at l.rev.
func (a *Accounts) lockoutTxn(user string, l *Lockout) (Txn, error) {
	l.Nonce = newNonce()
	b, err := json.Marshal(l)
	if err != nil {
		return Txn{}, err
	}
	return Txn{
		If:   []Compare{{Key: lockoutKey(user), ModRevision: l.rev}},
		Then: []Op{Put(lockoutKey(user), b)},
	}, nil
}
