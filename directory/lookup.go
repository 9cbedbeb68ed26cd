package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// ErrUnknownUser is wrapped by Lookup when the directory has no such
// user. Admin tools branch on it to refuse enrolling a name that cannot
// log in; logins never see it (Authenticate answers UnknownUser).
var ErrUnknownUser = errors.New("directory: unknown user")

// Lookup returns the user called name, as the version of the file in
// force knows it, without checking a password: for admin tools that
// attach records to a user. A disabled user is found (the account exists
// and may be enabled again), with State Disabled. Names compare exactly,
// as in Authenticate.
func (f *File) Lookup(ctx context.Context, name string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, fmt.Errorf("directory: lookup %q: %w", name, context.Cause(ctx))
	}
	u, ok := f.cur.Load().users[name]
	if !ok {
		return User{}, fmt.Errorf("%w %q in %s", ErrUnknownUser, name, f.path)
	}
	st := OK
	if u.disabled {
		st = Disabled
	}
	return User{Name: u.name, Groups: slices.Clone(u.groups), State: st, StateKnown: true}, nil
}

// Lookup finds the user called name with the service account and returns
// the canonical name (UserAttribute of the entry) and groups, applying
// the realm rules as Authenticate does. It never binds as the user, so it
// neither needs nor checks a password. Under the Active Directory preset
// it tells the account's state (disabled, locked, expired) from the
// entry's attributes, as read by the service account (up to cache_ttl
// old); otherwise the state is not known: OpenLDAP's password policy
// tells it only to the user's bind. An error that does not wrap
// ErrUnknownUser is a directory that could not answer.
func (l *LDAP) Lookup(ctx context.Context, name string) (User, error) {
	unknown := fmt.Errorf("%w %q", ErrUnknownUser, name)
	if !validLDAPUsername(name) {
		return User{}, unknown
	}
	n, ok := normalizeUsername(&l.cfg, name)
	if !ok || !validLDAPUsername(n) {
		return User{}, unknown
	}
	u, err := l.lookup(ctx, n)
	if err != nil {
		return User{}, err
	}
	if u == nil {
		return User{}, unknown
	}
	out := User{Name: u.name, Groups: slices.Clone(u.groups)}
	if l.ad() {
		out.State, out.StateKnown = u.ad.status(l.now()), true
	}
	return out, nil
}
