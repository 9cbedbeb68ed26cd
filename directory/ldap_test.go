package directory

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"twostep/confcheck"
	"twostep/directory/ldapclient"
	"twostep/directory/ldaptest"
	"twostep/internal/leakcheck"
)

// newTestLDAP returns a backend for srv's default directory, changed by
// edit, and closes it when the test ends.
func newTestLDAP(t *testing.T, urls []string, edit func(*LDAPConfig), opts ...LDAPOption) *LDAP {
	t.Helper()
	cfg := LDAPConfig{
		URLs:         urls,
		BindDN:       ldaptest.ServiceDN,
		BindPassword: ldaptest.ServicePassword,
		BaseDN:       ldaptest.BaseDN,
		DialTimeout:  time.Second,
		OpTimeout:    2 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	l, err := NewLDAP(cfg, opts...)
	if err != nil {
		t.Fatalf("NewLDAP: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestLDAPAuthenticate(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	pw := ldaptest.Password
	tests := []struct {
		name, user, password string
		want                 Result
	}{
		{"alice", "alice", pw("alice"), Result{Status: OK, User: User{Name: "alice", Groups: []string{"staff", "unix-admins", "vpn-users"}}}},
		{"bob", "bob", pw("bob"), Result{Status: OK, User: User{Name: "bob", Groups: []string{"vpn-users"}}}},
		{"name case from the entry", "ALICE", pw("alice"), Result{Status: OK, User: User{Name: "alice", Groups: []string{"staff", "unix-admins", "vpn-users"}}}},
		{"wrong password", "alice", "pw-bob", Result{Status: BadPassword, User: User{Name: "alice"}}},
		{"password of another case", "alice", "PW-ALICE", Result{Status: BadPassword, User: User{Name: "alice"}}},
		{"unknown user", "mallory", "whatever", Result{Status: UnknownUser}},
		{"empty password", "alice", "", Result{Status: BadPassword}},
		{"locked account", "carol", pw("carol"), Result{Status: Locked, User: User{Name: "carol"}}},
		{"password reset, must change", "erin", pw("erin"), Result{Status: PasswordExpired, User: User{Name: "erin"}}},
		{"password reset, wrong password", "erin", "wrong", Result{Status: BadPassword, User: User{Name: "erin"}}},
		{"password expired", "frank", pw("frank"), Result{Status: PasswordExpired, User: User{Name: "frank"}}},
		{"password expired, wrong password", "frank", "wrong", Result{Status: BadPassword, User: User{Name: "frank"}}},
		{"nested groups, memberOf and a loop", "dave", pw("dave"), Result{Status: OK, User: User{Name: "dave", Groups: []string{"all-staff", "engineers", "from-memberof", "loop-a", "loop-b"}}}},
		{"quote in uid", "o'brien", pw("o'brien"), Result{Status: OK, User: User{Name: "o'brien"}}},
		{"comma in DN", "jsmith", pw("jsmith"), Result{Status: OK, User: User{Name: "jsmith", Groups: []string{"vpn-users"}}}},
		{"filter metacharacters in uid", `a*b(c)\d`, pw(`a*b(c)\d`), Result{Status: OK, User: User{Name: `a*b(c)\d`}}},
		{"non-ASCII uid", "zoë", pw("zoë"), Result{Status: OK, User: User{Name: "zoë"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Authenticate(context.Background(), tt.user, tt.password)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Status != tt.want.Status || got.User.Name != tt.want.User.Name ||
				!slices.Equal(got.User.Groups, tt.want.User.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLDAPLockedWithWrongPassword(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	got, err := l.Authenticate(context.Background(), "carol", "wrong")
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	// slapd's ppolicy checks the lock before the password and says
	// accountLocked either way, so unlike the file backend a locked
	// account shows as Locked even to a wrong password (as AD's 775 does).
	if got.Status != Locked {
		t.Fatalf("got %v, want %v", got.Status, Locked)
	}
}

func TestLDAPInjection(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	tests := []struct {
		name, user string
		traffic    bool // whether the name may reach the directory
	}{
		{"star", "*", true},
		{"prefix star", "a*", true},
		{"suffix star", "alic*", true},
		{"close and reopen", "*)(uid=*", true},
		{"or clause", "alice)(|(uid=*", true},
		{"backslash", `alice\`, true},
		{"escaped star", `\2a`, true},
		{"open paren", "(alice", true},
		{"NUL", "alice\x00", false},
		{"NUL in the middle", "al\x00ice", false},
		{"too long", strings.Repeat("a", 257), false},
		{"not UTF-8", "alice\xff", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.searches.Load()
			got, err := l.Authenticate(context.Background(), tt.user, ldaptest.Password("alice"))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Status != UnknownUser {
				t.Errorf("got %v, want %v", got.Status, UnknownUser)
			}
			if n := l.searches.Load() - before; !tt.traffic && n != 0 {
				t.Errorf("got %d searches, want none", n)
			}
		})
	}
}

func TestLDAPAmbiguousUser(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	_, err := l.Authenticate(context.Background(), "twin", "pw-twin1")
	if !errors.Is(err, ErrAmbiguousUser) {
		t.Fatalf("got %v, want %v", err, ErrAmbiguousUser)
	}
	if strings.Contains(err.Error(), "pw-twin1") {
		t.Errorf("error %q contains the password", err)
	}
}

func TestLDAPCache(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.CacheTTL = time.Minute }, WithLDAPClock(clock))
	ctx := context.Background()
	auth := func(password string, want Status) {
		t.Helper()
		got, err := l.Authenticate(ctx, "alice", password)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if got.Status != want {
			t.Fatalf("got %v, want %v", got.Status, want)
		}
	}
	auth(ldaptest.Password("alice"), OK)
	first := l.searches.Load()
	if first == 0 {
		t.Fatal("no search counted")
	}
	auth(ldaptest.Password("alice"), OK)
	if n := l.searches.Load(); n != first {
		t.Errorf("cache hit: got %d searches, want %d", n, first)
	}
	// A wrong password is checked by the directory, never by the cache...
	auth("wrong", BadPassword)
	// ...and drops the entry, so the next login searches afresh.
	auth(ldaptest.Password("alice"), OK)
	if n := l.searches.Load(); n != 2*first {
		t.Errorf("after a failed login: got %d searches, want %d", n, 2*first)
	}
	now.Add(int64(2 * time.Minute))
	auth(ldaptest.Password("alice"), OK)
	if n := l.searches.Load(); n != 3*first {
		t.Errorf("after the TTL: got %d searches, want %d", n, 3*first)
	}
}

func TestLDAPCacheOff(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, nil)
	for range 2 {
		if _, err := l.Authenticate(context.Background(), "bob", ldaptest.Password("bob")); err != nil {
			t.Fatal(err)
		}
	}
	// bob per login: the user, his groups, and the groups of vpn-users
	// (none).
	if n := l.searches.Load(); n != 6 {
		t.Errorf("got %d searches, want 6", n)
	}
}

// deadURL returns an ldap:// URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "ldap://" + addr
}

func TestLDAPFailover(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{deadURL(t), srv.URL()}, nil)
	for i := range 3 {
		got, err := l.Authenticate(context.Background(), "alice", ldaptest.Password("alice"))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if got.Status != OK {
			t.Fatalf("login %d: got %v, want %v", i, got.Status, OK)
		}
	}
}

func TestLDAPAllServersDown(t *testing.T) {
	leakcheck.Check(t)
	l := newTestLDAP(t, []string{deadURL(t), deadURL(t)}, nil)
	_, err := l.Authenticate(context.Background(), "alice", "secret-password")
	if err == nil {
		t.Fatal("Authenticate with no server succeeded")
	}
	if strings.Contains(err.Error(), "secret-password") {
		t.Errorf("error %q contains the password", err)
	}
	if l.Healthy() {
		t.Error("Healthy after failed dials")
	}
	if err := l.Ping(context.Background()); err == nil {
		t.Error("Ping with no server succeeded")
	}
}

func TestLDAPKillRestart(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.CacheTTL = time.Minute })
	ctx := context.Background()
	if got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice")); err != nil || got.Status != OK {
		t.Fatalf("before kill: got %v, %v", got.Status, err)
	}
	srv.Kill()
	start := time.Now()
	if _, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice")); err == nil {
		t.Fatal("Authenticate with slapd killed succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("error after %v, want under 1s", d)
	}
	if err := l.Ping(ctx); err == nil || l.Healthy() {
		t.Errorf("Ping with slapd killed: got %v, healthy %v", err, l.Healthy())
	}
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
		if err == nil && got.Status == OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered 5s after restart: %v, %v", got.Status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := l.Ping(ctx); err != nil || !l.Healthy() {
		t.Errorf("Ping after restart: got %v, healthy %v", err, l.Healthy())
	}
}

// TestLDAPRestartIdleBindConns checks that bind connections left idle
// across a restart of the directory cost no login: a bind connection
// cannot tell it is dead before it is used, so the pool retries such a
// login on a fresh connection, never on another idle one.
func TestLDAPRestartIdleBindConns(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.CacheTTL = time.Minute })
	ctx := context.Background()
	const n = 4 // logins at once: as many idle bind connections
	login := func() error {
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
				if err == nil && got.Status != OK {
					err = errors.New("status " + got.Status.String())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := login(); err != nil {
		t.Fatalf("before restart: %v", err)
	}
	srv.Restart()
	for i := range 3 {
		if err := login(); err != nil {
			t.Fatalf("round %d after restart: %v", i, err)
		}
	}
}

func TestLDAPFrozen(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	const opTimeout = 300 * time.Millisecond
	tests := []struct {
		name  string
		cache bool // with the cache warm only the bind meets the frozen server
	}{
		{"search", false},
		{"bind", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) {
				c.OpTimeout = opTimeout
				if tt.cache {
					c.CacheTTL = time.Minute
				}
			})
			ctx := context.Background()
			if got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice")); err != nil || got.Status != OK {
				t.Fatalf("before freeze: got %v, %v", got.Status, err)
			}
			srv.Freeze()
			thawed := false
			defer func() {
				if !thawed {
					srv.Thaw()
				}
			}()
			// More logins at once than pool slots: none may wait past its
			// own bound, and none may stay behind.
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					defer cancel()
					start := time.Now()
					_, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
					if err == nil {
						errs <- errors.New("succeeded against a frozen slapd")
					} else if d := time.Since(start); d > 2*time.Second+500*time.Millisecond {
						errs <- errors.New("returned after " + d.String())
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			srv.Thaw()
			thawed = true
			deadline := time.Now().Add(5 * time.Second)
			for {
				got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
				if err == nil && got.Status == OK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not recovered 5s after thaw: %v, %v", got.Status, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestLDAPContextDeadline(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.OpTimeout = time.Minute })
	srv.Freeze()
	defer srv.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
	if err == nil {
		t.Fatal("Authenticate against a frozen slapd succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, want about 200ms (the context's deadline)", d)
	}
}

func TestLDAPContextCancel(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.OpTimeout = time.Minute })
	srv.Freeze()
	defer srv.Thaw()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want %v", err, context.Canceled)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v, want about 200ms", d)
	}
}

func TestLDAPConfigErrors(t *testing.T) {
	_, err := NewLDAP(LDAPConfig{
		URLs:           []string{"http://x", "ldap://"},
		BindDN:         "not a dn",
		UserFilter:     "(uid=%s)(cn=%s)",
		SearchPoolSize: -1,
		CertFile:       "/nonexistent.pem",
		DomainMap:      map[string]string{"EXAMPLE": ""},
	})
	var ps confcheck.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want a confcheck.Problems", err)
	}
	for _, want := range []string{"urls[0]", "urls[1]", "base_dn: required", "bind_dn", "bind_password",
		"user_filter", "search_pool_size", "cert_file: set without key_file", "domain_map"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := NewLDAP(LDAPConfig{URLs: []string{"ldap://127.0.0.1"}, BaseDN: ldaptest.BaseDN}); err != nil {
		t.Errorf("minimal configuration: %v", err)
	}
}

func TestLDAPRealm(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) {
		c.StripRealm = true
		c.DomainMap = map[string]string{"EXAMPLE": "example.edu", "example.edu": "example.edu"}
	})
	tests := []struct {
		user string
		want Status
	}{
		{"alice", OK},
		{`EXAMPLE\alice`, OK},
		{`example\alice`, OK},
		{"alice@example.edu", OK},
		{"alice@EXAMPLE.EDU", OK},
		{`OTHER\alice`, UnknownUser},
		{"alice@other.edu", UnknownUser},
		{`EXAMPLE\`, UnknownUser},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got, err := l.Authenticate(context.Background(), tt.user, ldaptest.Password("alice"))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Status != tt.want {
				t.Errorf("got %v, want %v", got.Status, tt.want)
			}
		})
	}
}

func TestNormalizeUsername(t *testing.T) {
	tests := []struct {
		name   string
		cfg    LDAPConfig
		in     string
		want   string
		wantOK bool
	}{
		{"no rules keep the name", LDAPConfig{}, `EXAMPLE\alice`, `EXAMPLE\alice`, true},
		{"strip at", LDAPConfig{StripRealm: true}, "alice@example.edu", "alice", true},
		{"strip backslash", LDAPConfig{StripRealm: true}, `EXAMPLE\alice`, "alice", true},
		{"last at", LDAPConfig{StripRealm: true}, "a@b@example.edu", "a@b", true},
		{"map to realm", LDAPConfig{DomainMap: map[string]string{"example": "example.edu"}}, `EXAMPLE\alice`, "alice@example.edu", true},
		{"unmapped domain", LDAPConfig{DomainMap: map[string]string{"example": "example.edu"}}, "alice@evil.com", "", false},
		{"bare name with a map", LDAPConfig{DomainMap: map[string]string{"example": "example.edu"}}, "alice", "alice", true},
		{"empty user", LDAPConfig{StripRealm: true}, "@example.edu", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := normalizeUsername(&tt.cfg, tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %q, %v, want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestLDAPFilter(t *testing.T) {
	tests := []struct {
		template string
		values   []string
		want     string
	}{
		{defaultUserFilter, []string{"alice"}, "(&(objectClass=inetOrgPerson)(uid=alice))"},
		{defaultUserFilter, []string{"*)(uid=*"}, `(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))`},
		{"(uid=%s)", []string{`a\b`}, `(uid=a\5cb)`},
		{"(|(member=%s)(memberUid=%s))", []string{"cn=Smith\\, John,dc=x", "jsmith"}, `(|(member=cn=Smith\5c, John,dc=x)(memberUid=jsmith))`},
		{"(|(uid=%s)(mail=%s))", []string{"a*"}, `(|(uid=a\2a)(mail=a\2a))`},
		{"(|(uid=%s)(mail=%s)(cn=%s))", []string{"a", "b"}, `(|(uid=a)(mail=b)(cn=%s))`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := ldapFilter(tt.template, tt.values...); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLDAPTLS(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t, ldaptest.WithTLS())
	tests := []struct {
		name   string
		url    string
		edit   func(*LDAPConfig)
		wantOK bool
	}{
		{"ldaps with the CA", srv.LDAPSURL(), func(c *LDAPConfig) { c.CAFile = srv.CAFile }, true},
		{"StartTLS with the CA", srv.URL(), func(c *LDAPConfig) { c.CAFile, c.StartTLS = srv.CAFile, true }, true},
		{"ldaps without the CA", srv.LDAPSURL(), nil, false},
		{"StartTLS without the CA", srv.URL(), func(c *LDAPConfig) { c.StartTLS = true }, false},
		{"ldaps, wrong server name", srv.LDAPSURL(), func(c *LDAPConfig) { c.CAFile, c.ServerName = srv.CAFile, "ldap.example.edu" }, false},
		{"ldaps, verification off (tests only)", srv.LDAPSURL(), func(c *LDAPConfig) { c.InsecureSkipVerify = true }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLDAP(t, []string{tt.url}, tt.edit)
			got, err := l.Authenticate(context.Background(), "alice", ldaptest.Password("alice"))
			if tt.wantOK {
				if err != nil || got.Status != OK {
					t.Fatalf("got %v, %v, want %v", got.Status, err, OK)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want a TLS error", got.Status)
			}
		})
	}
}

// TestLDAPActiveDirectoryState runs the AD preset against slapd holding
// AD's account state attributes, as a directory synced from AD would:
// slapd lets the binds through, and the entry's state is told only to
// the right password.
func TestLDAPActiveDirectoryState(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) {
		c.Preset = PresetActiveDirectory
		// slapd has neither AD's person schema nor its in-chain matching
		// rule: the filter is overridden (two %s, like AD's), groups come
		// from memberOf only.
		c.UserFilter = "(&(objectClass=inetOrgPerson)(|(uid=%s)(mail=%s)))"
		c.UserAttribute = "uid"
		c.GroupSearch = new(bool)
	}, WithLDAPClock(now))
	pw := ldaptest.Password
	tests := []struct {
		name, user, password string
		want                 Result
	}{
		{"no state attributes", "alice", pw("alice"), Result{Status: OK, User: User{Name: "alice"}}},
		{"second %s (mail)", "alice@example.edu", pw("alice"), Result{Status: OK, User: User{Name: "alice"}}},
		{"memberOf only", "dave", pw("dave"), Result{Status: OK, User: User{Name: "dave", Groups: []string{"from-memberof"}}}},
		{"disabled, right password", "gina", pw("gina"), Result{Status: Disabled, User: User{Name: "gina"}}},
		{"disabled, wrong password", "gina", "wrong", Result{Status: BadPassword, User: User{Name: "gina"}}},
		{"account expired, right password", "hal", pw("hal"), Result{Status: AccountExpired, User: User{Name: "hal"}}},
		{"account expired, wrong password", "hal", "wrong", Result{Status: BadPassword, User: User{Name: "hal"}}},
		{"ppolicy still read", "carol", pw("carol"), Result{Status: Locked, User: User{Name: "carol"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Authenticate(context.Background(), tt.user, tt.password)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.Status != tt.want.Status || got.User.Name != tt.want.User.Name ||
				!slices.Equal(got.User.Groups, tt.want.User.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// Lookup tells an admin tool the state the entry shows, without a
	// password; slapd's ppolicy lock (carol) shows only to a bind.
	for _, tt := range []struct {
		user string
		want Status
	}{{"alice", OK}, {"gina", Disabled}, {"hal", AccountExpired}, {"carol", OK}} {
		t.Run("lookup "+tt.user, func(t *testing.T) {
			u, err := l.Lookup(context.Background(), tt.user)
			if err != nil || u.State != tt.want || !u.StateKnown {
				t.Errorf("got %+v, %v, want state %s", u, err, tt.want)
			}
		})
	}
}

// TestLDAPHealthFrozen freezes slapd (SIGSTOP) under login traffic while
// Ping runs every health interval, as the daemon's health loop does.
// Healthy turns false within the interval and OpTimeout, and stays false
// while logins keep opening connections, which the kernel still accepts
// for the frozen server; it turns true again after SIGCONT.
func TestLDAPHealthFrozen(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	const (
		opTimeout = 300 * time.Millisecond
		interval  = 100 * time.Millisecond
		// slack for a loaded machine, on top of interval + opTimeout.
		slack = time.Second
	)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.OpTimeout = opTimeout })
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Go(func() {
		for ctx.Err() == nil {
			l.Ping(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				l.Authenticate(ctx, "alice", ldaptest.Password("alice"))
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	waitHealthy := func(want bool, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for l.Healthy() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Healthy not %v after %v", want, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitHealthy(true, 5*time.Second)

	srv.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			srv.Thaw()
		}
	}()
	waitHealthy(false, interval+opTimeout+slack)
	for end := time.Now().Add(5 * (interval + opTimeout)); time.Now().Before(end); {
		if l.Healthy() {
			t.Fatal("Healthy again while slapd is frozen")
		}
		time.Sleep(2 * time.Millisecond)
	}

	srv.Thaw()
	thawed = true
	waitHealthy(true, 5*time.Second)
}

// setPassword changes the password of dn in srv's directory, as its
// administrator.
func setPassword(t *testing.T, srv *ldaptest.Server, dn, password string) {
	t.Helper()
	c, err := ldap.DialURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(ldaptest.AdminDN, ldaptest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("userPassword", []string{password})
	if err := c.Modify(req); err != nil {
		t.Fatal(err)
	}
}

// TestLDAPHealthServiceAccount refuses the service account's password, as
// configured or after a change in the directory: Ping fails and Healthy
// is false, and stays false through logins, though every dial succeeds.
func TestLDAPHealthServiceAccount(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name     string
		password string // configured
		change   bool   // changed by the directory's admin after a healthy start
	}{
		{"wrong password configured", "not-the-secret", false},
		{"password changed in the directory", ldaptest.ServicePassword, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := ldaptest.Start(t)
			l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.BindPassword = tt.password })
			ctx := context.Background()
			if tt.change {
				// Idle connections bound before the change stay bound.
				if got, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice")); err != nil || got.Status != OK {
					t.Fatalf("before the change: got %v, %v", got.Status, err)
				}
				if err := l.Ping(ctx); err != nil || !l.Healthy() {
					t.Fatalf("Ping before the change: got %v, healthy %v", err, l.Healthy())
				}
				setPassword(t, srv, ldaptest.ServiceDN, "changed-secret")
			}
			if err := l.Ping(ctx); !errors.Is(err, errServiceBind) {
				t.Errorf("Ping: got %v, want %v", err, errServiceBind)
			}
			if l.Healthy() {
				t.Error("Healthy after a failed Ping")
			}
			for i := range 3 {
				if _, err := l.Authenticate(ctx, "alice", ldaptest.Password("alice")); !errors.Is(err, errServiceBind) {
					t.Errorf("login %d: got %v, want %v", i, err, errServiceBind)
				}
				if l.Healthy() {
					t.Fatalf("Healthy after login %d", i)
				}
			}
		})
	}
}

// TestLDAPQueueGivesUp freezes slapd under more logins than search
// connections: the logins queued behind the hung ones give up after
// OpTimeout with the pool's error, not at their own deadline a minute
// away, and the directory is no longer healthy.
func TestLDAPQueueGivesUp(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) {
		c.OpTimeout = 500 * time.Millisecond
		c.SearchPoolSize = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Ping(ctx); err != nil || !l.Healthy() {
		t.Fatalf("Ping: got %v, healthy %v", err, l.Healthy())
	}
	srv.Freeze()
	defer srv.Thaw()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = l.Authenticate(ctx, "alice", ldaptest.Password("alice")) })
	}
	wg.Wait()
	queued := 0
	for i, err := range errs {
		switch {
		case err == nil:
			t.Errorf("login %d succeeded against a frozen slapd", i)
		case errors.Is(err, context.DeadlineExceeded):
			t.Errorf("login %d waited for its own deadline: %v", i, err)
		case errors.Is(err, ldapclient.ErrPoolWait):
			queued++
		}
	}
	if queued == 0 {
		t.Errorf("no login gave up waiting for a connection: %v", errors.Join(errs...))
	}
	if l.Healthy() {
		t.Error("Healthy after logins that timed out")
	}
}
