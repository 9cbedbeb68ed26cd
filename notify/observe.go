package notify

import (
	"context"
	"time"
)

// Observing one login's notifications, for `twostepctl trace`: Dispatch
// tells the Observer that the notification's context carries
// (WithObserver) where it counts the notification, as
// net/http/httptrace tells a ClientTrace. The observer learns the kind,
// the result and the time taken, never an endpoint or a key. Observing
// changes nothing Dispatch does.

// Observer is told of each notification sent with a context that carries
// it. It must not block, and must not change what the caller does.
type Observer interface {
	// ObserveNotification tells of one notification of kind (webpush,
	// webhook, alert; app: nothing was sent, the app lists waiting
	// logins), its result (ok, gone, refused, error; app: not_sent) and
	// how long it took.
	ObserveNotification(kind, result string, took time.Duration)
}

// observerKey is the context key of an Observer.
type observerKey struct{}

// WithObserver returns ctx carrying o: every notification Dispatch sends
// with it is told to o. A nil o returns ctx.
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
