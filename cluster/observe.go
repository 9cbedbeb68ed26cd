package cluster

import (
	"context"
	"time"
)

// Observing one login's store calls, for `twostepctl trace`: a
// MeteredStore that counts a call also tells the Observer that the
// call's context carries (WithObserver), as net/http/httptrace tells a
// ClientTrace. The observer sees what the call was about and how it
// ended, never a value: keys name records by user, device id, random id
// or hash (challenges/<sha256(State)>), which etcdctl shows anyway.
// Observing changes nothing the call does; a context without an
// Observer costs one context lookup per call.

// StoreCall is one call to the store as an Observer sees it.
type StoreCall struct {
	// Operation is get, list or commit.
	Operation string
	// Key is the key a get read, or the prefix a list read.
	Key string
	// Puts and Deletes are the keys a commit wrote; Compares how many
	// revisions it compared first.
	Puts, Deletes []string
	Compares      int
	// Entries is how many entries a list returned.
	Entries int
	// Result is ok, not_found, conflict, unavailable or error, as the
	// result label of twostep_cluster_operations_total says it.
	Result string
	// Duration is how long the store took.
	Duration time.Duration
}

// Observer is told of each store call made with a context that carries
// it. It must not block, and must not change what the caller does.
type Observer interface {
	ObserveStore(c StoreCall)
}

// observerKey is the context key of an Observer.
type observerKey struct{}

// WithObserver returns ctx carrying o: every call a MeteredStore makes
// with it, or with a context derived from it, is told to o. A nil o
// returns ctx.
func WithObserver(ctx context.Context, o Observer) context.Context {
	if o == nil {
		return ctx
	}
	return context.WithValue(ctx, observerKey{}, o)
}

// observerOf returns the Observer ctx carries, or nil.
func observerOf(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}

// observeCommit tells ctx's Observer, when there is one, of a commit of
// txn that began at start and ended with err.
func observeCommit(ctx context.Context, txn Txn, start time.Time, err error) {
	o := observerOf(ctx)
	if o == nil {
		return
	}
	c := StoreCall{Operation: opCommit, Compares: len(txn.If), Result: resultOf(err), Duration: time.Since(start)}
	for _, op := range txn.Then {
		if op.Delete {
			c.Deletes = append(c.Deletes, op.Key)
		} else {
			c.Puts = append(c.Puts, op.Key)
		}
	}
	o.ObserveStore(c)
}

// observeRead tells ctx's Observer, when there is one, of a get or list
// of key that began at start, returned entries and ended with err.
func observeRead(ctx context.Context, op, key string, entries int, start time.Time, err error) {
	if o := observerOf(ctx); o != nil {
		o.ObserveStore(StoreCall{Operation: op, Key: key, Entries: entries, Result: resultOf(err), Duration: time.Since(start)})
	}
}
