package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/directory/ldaptest"
	"twostep/internal/leakcheck"
)

func TestFileLookup(t *testing.T) {
	f := openUsers(t, fmt.Sprintf(`users:
  alice:
    password: %q
    groups: [vpn-users, admins]
  bob:
    password: %q
    disabled: true
`, ssha("pw-alice"), ssha("pw-bob")))
	tests := []struct {
		name, user string
		want       User
		unknown    bool
	}{
		{"with groups", "alice", User{Name: "alice", Groups: []string{"vpn-users", "admins"}, State: OK, StateKnown: true}, false},
		{"disabled is found, and says so", "bob", User{Name: "bob", State: Disabled, StateKnown: true}, false},
		{"unknown", "mallory", User{}, true},
		{"names compare exactly", "Alice", User{}, true},
		{"empty", "", User{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Lookup(context.Background(), tt.user)
			if tt.unknown {
				if !errors.Is(err, ErrUnknownUser) {
					t.Fatalf("got %+v, %v, want ErrUnknownUser", got, err)
				}
				if !strings.Contains(err.Error(), f.Path()) {
					t.Errorf("got %q, want the file's path in it", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) || got.State != tt.want.State || got.StateKnown != tt.want.StateKnown {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("groups are a copy", func(t *testing.T) {
		u, _ := f.Lookup(context.Background(), "alice")
		u.Groups[0] = "changed"
		if again, _ := f.Lookup(context.Background(), "alice"); again.Groups[0] != "vpn-users" {
			t.Errorf("got %v, want the file's groups unchanged", again.Groups)
		}
	})
	t.Run("ended context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := f.Lookup(ctx, "alice"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnknownUser) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

func TestLDAPLookup(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	realms := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) {
		c.StripRealm = true
		c.DomainMap = map[string]string{"EXAMPLE": "example.edu"}
	})
	tests := []struct {
		name    string
		l       *LDAP
		user    string
		want    User
		unknown bool
	}{
		{"groups", l, "alice", User{Name: "alice", Groups: []string{"staff", "unix-admins", "vpn-users"}}, false},
		{"canonical name from the entry", l, "ALICE", User{Name: "alice", Groups: []string{"staff", "unix-admins", "vpn-users"}}, false},
		{"nested groups", l, "dave", User{Name: "dave", Groups: []string{"all-staff", "engineers", "from-memberof", "loop-a", "loop-b"}}, false},
		{"a locked account exists", l, "carol", User{Name: "carol"}, false},
		{"filter metacharacters", l, `a*b(c)\d`, User{Name: `a*b(c)\d`}, false},
		{"wildcard is not a search", l, "*", User{}, true},
		{"unknown", l, "mallory", User{}, true},
		{"empty", l, "", User{}, true},
		{"NUL", l, "alice\x00", User{}, true},
		{"realm stripped", realms, `EXAMPLE\alice`, User{Name: "alice", Groups: []string{"staff", "unix-admins", "vpn-users"}}, false},
		{"unmapped domain", realms, "alice@evil.example", User{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.l.Lookup(context.Background(), tt.user)
			if tt.unknown {
				if !errors.Is(err, ErrUnknownUser) {
					t.Fatalf("got %+v, %v, want ErrUnknownUser", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.StateKnown {
				t.Errorf("got state %s; OpenLDAP tells the state only to a bind", got.State)
			}
		})
	}

	t.Run("directory down is an error, not an unknown user", func(t *testing.T) {
		down := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.DialTimeout = 200 * time.Millisecond })
		srv.Stop()
		_, err := down.Lookup(context.Background(), "alice")
		if err == nil || errors.Is(err, ErrUnknownUser) {
			t.Errorf("got %v, want a connection error", err)
		}
	})
}
