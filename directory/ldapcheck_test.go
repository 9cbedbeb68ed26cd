package directory

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"twostep/directory/ldaptest"
	"twostep/internal/leakcheck"
)

// outcome renders a step as "step ok|weak|FAILED [key]" for comparison.
func outcome(c LDAPCheck) string {
	s := c.Step + " ok"
	switch {
	case c.Failed:
		s = c.Step + " FAILED"
	case c.Weak:
		s = c.Step + " weak"
	}
	if c.Key != "" {
		s += " [" + c.Key + "]"
	}
	return s
}

// TestCheckLDAP runs the doctor's steps against a real slapd: a good
// set-up passes each, and each kind of mistake stops at its step naming
// the setting to change.
func TestCheckLDAP(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t, ldaptest.WithTLS())
	tests := []struct {
		name string
		url  string
		user string
		edit func(*LDAPConfig)
		// later runs the check this long from now (certificates expire).
		later time.Duration
		want  []string
		// detail is found in the last step's detail.
		detail string
	}{
		{name: "good, plain on loopback", url: srv.URL(),
			want:   []string{"connect ok", "tls ok", "bind ok", "search ok", "groups ok"},
			detail: "groups found under dc=example,dc=edu"},
		{name: "good, a user and her groups", url: srv.URL(), user: "Alice",
			want:   []string{"connect ok", "tls ok", "bind ok", "search ok", "groups ok"},
			detail: `"alice" is in staff, unix-admins, vpn-users`},
		{name: "ldaps with the CA", url: srv.LDAPSURL(), edit: func(c *LDAPConfig) { c.CAFile = srv.CAFile },
			want: []string{"connect ok", "tls ok", "bind ok", "search ok", "groups ok"}},
		{name: "StartTLS with the CA", url: srv.URL(), edit: func(c *LDAPConfig) { c.CAFile, c.StartTLS = srv.CAFile, true },
			want: []string{"connect ok", "tls ok", "bind ok", "search ok", "groups ok"}},
		{name: "ldaps without the CA", url: srv.LDAPSURL(),
			want: []string{"connect ok", "tls FAILED [ca_file]"}, detail: "not signed by a CA this host trusts"},
		{name: "ldaps, certificate about to expire", url: srv.LDAPSURL(), edit: func(c *LDAPConfig) { c.CAFile = srv.CAFile }, later: 350 * 24 * time.Hour,
			want: []string{"connect ok", "tls weak", "bind ok", "search ok", "groups ok"}},
		{name: "ldaps, wrong server name", url: srv.LDAPSURL(), edit: func(c *LDAPConfig) { c.CAFile, c.ServerName = srv.CAFile, "ldap.example.edu" },
			want: []string{"connect ok", "tls FAILED [server_name]"}},
		{name: "ldaps, verification off", url: srv.LDAPSURL(), edit: func(c *LDAPConfig) { c.InsecureSkipVerify = true },
			want: []string{"connect ok", "tls weak [insecure_skip_verify]", "bind ok", "search ok", "groups ok"}},
		{name: "wrong service password", url: srv.URL(), edit: func(c *LDAPConfig) { c.BindPassword = "not-the-password" },
			want: []string{"connect ok", "tls ok", "bind FAILED [bind_password]"}, detail: "invalid credentials"},
		{name: "wrong base", url: srv.URL(), edit: func(c *LDAPConfig) { c.BaseDN = "dc=example,dc=org" },
			want: []string{"connect ok", "tls ok", "bind ok", "search FAILED [base_dn]"}},
		{name: "a filter that finds nobody", url: srv.URL(), edit: func(c *LDAPConfig) { c.UserFilter = "(&(objectClass=device)(cn=%s))" },
			want: []string{"connect ok", "tls ok", "bind ok", "search weak [user_filter]", "groups ok"}},
		{name: "an unknown user", url: srv.URL(), user: "mallory",
			want: []string{"connect ok", "tls ok", "bind ok", "search FAILED [user_filter]"}},
		{name: "no group under the group base", url: srv.URL(), edit: func(c *LDAPConfig) { c.GroupBaseDN = "ou=services,dc=example,dc=edu" },
			want: []string{"connect ok", "tls ok", "bind ok", "search ok", "groups weak [group_base_dn]"}},
		{name: "nobody listens", url: deadURL(t),
			want: []string{"connect FAILED [urls]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := LDAPConfig{URLs: []string{tt.url}, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword,
				BaseDN: ldaptest.BaseDN, DialTimeout: time.Second, OpTimeout: 2 * time.Second}
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			var got []string
			var last LDAPCheck
			err := CheckLDAP(context.Background(), cfg, tt.user, 5*time.Second, func(c LDAPCheck) {
				if c.URL != tt.url {
					t.Errorf("step %s: got URL %q, want %q", c.Step, c.URL, tt.url)
				}
				if (c.Failed || c.Weak) && c.Hint == "" {
					t.Errorf("step %s: %s without a hint", c.Step, outcome(c))
				}
				if strings.Contains(c.Detail, cfg.BindPassword) {
					t.Errorf("step %s shows the password: %s", c.Step, c.Detail)
				}
				got = append(got, outcome(c))
				last = c
			}, WithLDAPClock(func() time.Time { return time.Now().Add(tt.later) }))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q (last: %s)", got, tt.want, last.Detail)
			}
			if !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("last detail %q does not say %q", last.Detail, tt.detail)
			}
		})
	}
}

// TestCheckLDAPEveryServer: each configured server is checked on its
// own, a dead one does not hide a good one.
func TestCheckLDAPEveryServer(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	dead := deadURL(t)
	cfg := LDAPConfig{URLs: []string{dead, srv.URL()}, BindDN: ldaptest.ServiceDN, BindPassword: ldaptest.ServicePassword,
		BaseDN: ldaptest.BaseDN, DialTimeout: time.Second, OpTimeout: 2 * time.Second}
	got := map[string][]string{}
	if err := CheckLDAP(context.Background(), cfg, "", 5*time.Second, func(c LDAPCheck) { got[c.URL] = append(got[c.URL], outcome(c)) }); err != nil {
		t.Fatal(err)
	}
	if want := "[connect FAILED [urls]]"; fmt.Sprint(got[dead]) != want {
		t.Errorf("dead server: got %q, want %s", got[dead], want)
	}
	if want := "[connect ok tls ok bind ok search ok groups ok]"; fmt.Sprint(got[srv.URL()]) != want {
		t.Errorf("live server: got %q, want %s", got[srv.URL()], want)
	}
}
