package directory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Observing one login's requests to the directory, for `twostepctl
// trace`: where the backends count a request on their Metrics they also
// tell the Observer that the request's context carries (WithObserver),
// as net/http/httptrace tells a ClientTrace. The observer learns what
// was asked and what came back (an entry's DN, the groups, a status),
// never a password. Observing changes nothing the backend does; a
// context without an Observer costs one context lookup per request.

// Step is one request the directory made for a login.
type Step struct {
	// Operation is authenticate (the whole password check), and with
	// LDAP also search (the user's entry), groups (the group searches)
	// and bind (the user's bind, with the wait for a pooled connection).
	Operation string
	// Result is ok, rejected, timeout or error, as the result label of
	// twostep_directory_requests_total says it; a search answered from
	// the DN cache is cached.
	Result string
	// Detail is what came back: a search's DN (or that no entry
	// matched), the groups, a bind's or a check's status.
	Detail string
	// Duration is how long it took.
	Duration time.Duration
}

// Observer is told of each request to the directory made with a context
// that carries it. It must not block, and must not change what the
// caller does.
type Observer interface {
	ObserveDirectory(s Step)
}

// observerKey is the context key of an Observer.
type observerKey struct{}

// WithObserver returns ctx carrying o: every request a backend makes
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

// observeCached tells ctx's Observer that the user's entry came from the
// DN cache, with no request to the server.
func observeCached(ctx context.Context, u *ldapUser) {
	if o := observerOf(ctx); o != nil {
		o.ObserveDirectory(Step{Operation: opSearch, Result: "cached", Detail: u.dn + " (from the DN cache); groups: " + groupList(u.groups)})
	}
}

// groupList names groups for an observer.
func groupList(groups []string) string {
	if len(groups) == 0 {
		return "none"
	}
	return strings.Join(groups, ", ")
}

// statusDetail says what a password check found: its status, and the
// canonical name when the directory named one.
func statusDetail(res Result) string {
	if res.User.Name == "" {
		return res.Status.String()
	}
	return res.Status.String() + " as " + res.User.Name
}

// searchDetail says what a user search found.
func searchDetail(res *ldap.SearchResult) string {
	switch {
	case res == nil:
		return "no answer"
	case len(res.Entries) == 0:
		return "no entry matches"
	case len(res.Entries) > 1:
		return fmt.Sprintf("%d entries match (ambiguous)", len(res.Entries))
	}
	return res.Entries[0].DN
}
