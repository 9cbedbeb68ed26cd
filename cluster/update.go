package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Every read-modify-write of the cluster (a used step, an HOTP counter, a
// bypass code's use, a challenge's attempts, the lockout count, a push's
// answer, a session, a device list) runs through Retry, directly or by
// Update: read, decide, compare-and-swap on the revisions read, and on
// ErrConflict read again and decide again, until the context ends. There
// is no other loop and no fixed number of tries: a conflict is another
// writer's progress, so under any contention some writer finishes each
// round, and a request only gives up when its own deadline says so.
// (etcd's client/v3/concurrency STM and dex's storage Update* calls have
// the same shape.)

// ErrContended: the records kept changing under a read-modify-write until
// its context ended. Nothing was written. It is not ErrUnavailable: the
// store answered every call, so a client's fail mode does not apply, and
// a login that meets it is refused.
var ErrContended = errors.New("cluster: records kept changing until the deadline")

// Retry runs attempt until it returns anything but ErrConflict, and
// returns that. attempt reads what it decides on afresh each time it
// runs. Between rounds Retry pauses: not before the second round, then a
// random time up to a bound that doubles from 100µs to 25ms, so that
// contenders spread out instead of colliding again. When ctx ends first,
// between rounds or inside a later round's store call, it returns an
// error wrapping ErrContended (and not ErrUnavailable), saying what it
// was doing ("count a failure of \"alice\"").
//
// A conflict that a MeteredStore reported is counted on its Metrics
// (twostep_cluster_conflicts_retried_total) when Retry reads again after
// it: the count travels in the error, so Retry needs no store and keeps
// no state.
func Retry(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	var conflict error
	for round := 0; ; round++ {
		if round > 0 {
			if err := conflictPause(ctx, round); err != nil {
				return fmt.Errorf("cluster: %s: %w (%d rounds): %w", what, ErrContended, round, err)
			}
			countRetry(conflict)
		}
		err := attempt(ctx)
		if round > 0 && err != nil && !errors.Is(err, ErrConflict) && ctx.Err() != nil {
			// The deadline ended a run of conflicts inside a store call:
			// that is contention too, not an outage (%v: the store's
			// ErrUnavailable must not reach a fail mode).
			return fmt.Errorf("cluster: %s: %w (%d rounds): %v", what, ErrContended, round, err)
		}
		if !errors.Is(err, ErrConflict) {
			return err
		}
		conflict = err
	}
}

// Update is Retry for one transaction: decide reads what it needs from
// the store and returns the Txn that writes its outcome, comparing the
// revisions it read; Update commits it and, on ErrConflict, calls decide
// again. A Txn without ops commits nothing (the decision was to change
// nothing) and returns revision 0. An error from decide ends Update with
// that error as it is (decide wraps its own); a failed commit is wrapped
// with what.
func Update(ctx context.Context, s Store, what string, decide func(ctx context.Context) (Txn, error)) (int64, error) {
	var rev int64
	err := Retry(ctx, what, func(ctx context.Context) error {
		txn, err := decide(ctx)
		if err != nil || len(txn.Then) == 0 {
			rev = 0
			return err
		}
		rev, err = s.Commit(ctx, txn)
		if err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("cluster: %s: %w", what, err)
		}
		return err
	})
	return rev, err
}

// Bounds of the pause between conflicting rounds.
const (
	pauseBase = 100 * time.Microsecond
	pauseMax  = 25 * time.Millisecond
)

// conflictPause waits before round n (from 1): not at all for the first
// retry (it reads again at once: most conflicts are one other writer), then
// a random time up to pauseBase·2^(n-2), at most pauseMax ("full
// jitter"). It returns ctx's error when ctx has ended.
func conflictPause(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n < 2 {
		return nil
	}
	// n-2 doubles from the second retry on.
	bound := min(pauseBase<<min(n-2, 16), pauseMax)
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
