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
	// LastFailure is a keyed hash of the last wrong code, so that the same
	// wrong code sent again (a retransmission reaching another node, a
	// user pressing Enter twice) counts once. Never the code itself.
	LastFailure []byte `json:"last_failure,omitempty"`
	LastKeyID   string `json:"last_failure_kid,omitempty"`
	// LastFailureAt bounds that: the same code after SameCodeWindow counts
	// again, so a fixed guess tried on every new step is still counted.
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	// LockedAt is when the limit was reached; zero while not locked.
	LockedAt time.Time `json:"locked_at,omitzero"`
	// LockedUntil ends the lock; zero with LockedAt set means until an
	// admin unlocks.
	LockedUntil time.Time `json:"locked_until,omitzero"`
	Nonce       string    `json:"nonce"`
	rev         int64
}

// Locked reports whether the lockout holds at now.
func (l Lockout) Locked(now time.Time) bool {
	if l.LockedAt.IsZero() {
		return false
	}
	return l.LockedUntil.IsZero() || now.Before(l.LockedUntil)
}

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

// SameCodeWindow is how long the same wrong code counts once: long
// enough for a NAS's retransmissions and a user pressing Enter twice,
// shorter than a TOTP step's life in the window.
const SameCodeWindow = 45 * time.Second

// Fail counts one failed second factor with code for acct and returns the
// lockout after it. A code equal to the last failure counts once. An
// expired lock starts a fresh count.
func (a *Accounts) Fail(ctx context.Context, acct *Account, code string, p LockoutPolicy, now time.Time) (Lockout, error) {
	if p.Attempts <= 0 {
		return acct.Lockout, nil
	}
	cur := acct.Lockout
	for range 3 {
		next := cur
		if !next.LockedAt.IsZero() && !next.Locked(now) {
			next = Lockout{} // an expired lock: count afresh
		}
		if next.Locked(now) {
			return next, nil
		}
		if code != "" && next.LastFailure != nil && now.Sub(next.LastFailureAt) < SameCodeWindow &&
			a.keys.VerifyMAC(next.LastKeyID, lockoutPurpose, []byte(code), next.LastFailure) {
			return next, nil // the same wrong code again
		}
		next.Failures++
		next.LastFailureAt = now.UTC()
		if code != "" {
			next.LastKeyID, next.LastFailure = a.keys.MAC(lockoutPurpose, []byte(code))
		}
		if next.Failures >= p.Attempts {
			next.LockedAt = now.UTC()
			if p.Duration > 0 {
				next.LockedUntil = now.Add(p.Duration).UTC()
			}
		}
		err := a.writeLockout(ctx, acct.Name, cur.rev, &next)
		if err == nil {
			acct.Lockout = next
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return cur, err
		}
		if cur, err = a.readLockout(ctx, acct.Name); err != nil {
			return cur, err
		}
	}
	return cur, fmt.Errorf("cluster: lockout of %q: %w", acct.Name, ErrConflict)
}

// Unlock clears user's lockout, as an admin does; it reports whether
// there was anything to clear.
func (a *Accounts) Unlock(ctx context.Context, user string) (bool, error) {
	e, err := a.store.Get(ctx, lockoutKey(user))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: unlock %q: %w", user, err)
	}
	_, err = a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: e.Key, ModRevision: e.ModRevision}},
		Then: []Op{Delete(e.Key)},
	})
	if err != nil {
		return false, fmt.Errorf("cluster: unlock %q: %w", user, err)
	}
	return true, nil
}

// Lock locks user now, until an admin unlocks (for an admin, or a user
// reporting a fraudulent login).
func (a *Accounts) Lock(ctx context.Context, user string, now time.Time) error {
	// Every conflict is another node's failure count landing; a lock must
	// win over those, so it tries well past what contention needs.
	for range 100 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cluster: lock %q: %w", user, err)
		}
		cur, err := a.readLockout(ctx, user)
		if err != nil {
			return err
		}
		next := cur
		next.LockedAt, next.LockedUntil = now.UTC(), time.Time{}
		err = a.writeLockout(ctx, user, cur.rev, &next)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("cluster: lock %q: %w", user, ErrConflict)
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

func (a *Accounts) writeLockout(ctx context.Context, user string, rev int64, l *Lockout) error {
	l.Nonce = newNonce()
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	newRev, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: lockoutKey(user), ModRevision: rev}},
		Then: []Op{Put(lockoutKey(user), b)},
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("cluster: lockout of %q: %w", user, err)
	}
	l.rev = newRev
	return nil
}
