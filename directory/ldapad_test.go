package directory

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Diagnostic messages of failed simple binds (result 49) as recorded from
// Active Directory and Samba AD. AD ends its messages with a NUL byte.
var adDiagnostics = []struct {
	name, msg string
	want      Status
	wantOK    bool
}{
	{"2022, bad password", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563\x00", BadPassword, true},
	{"2019, bad password", "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v3839\x00", BadPassword, true},
	{"2016, locked", "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 775, v2580\x00", Locked, true},
	{"2022, user not found", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 525, v4563\x00", UnknownUser, true},
	{"2022, logon hours", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 530, v4563\x00", LogonDenied, true},
	{"2022, workstation", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 531, v4563\x00", LogonDenied, true},
	{"2022, password expired", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 532, v4563\x00", PasswordExpired, true},
	{"2008 R2, disabled", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1\x00", Disabled, true},
	{"2003, account expired", "80090308: LdapErr: DSID-0C090334, comment: AcceptSecurityContext error, data 701, vece\x00", AccountExpired, true},
	{"2019, must change", "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 773, v3839\x00", PasswordExpired, true},
	{"2000, no NUL", "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v893", BadPassword, true},
	{"upper-case code", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52E, v4563", BadPassword, true},
	{"other code", "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52f, v4563", BadPassword, true},
	{"Samba 4.4+, bad password", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1", BadPassword, true},
	{"Samba 4.4+, disabled", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 533, v1db1", Disabled, true},
	{"Samba 4.4+, locked", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 775, v1db1", Locked, true},
	{"Samba 4.4+, must change", "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1", PasswordExpired, true},
	{"old Samba, logon failure", "Simple Bind Failed: NT_STATUS_LOGON_FAILURE", BadPassword, true},
	{"old Samba, disabled", "Simple Bind Failed: NT_STATUS_ACCOUNT_DISABLED", Disabled, true},
	{"old Samba, locked", "Simple Bind Failed: NT_STATUS_ACCOUNT_LOCKED_OUT", Locked, true},
	{"old Samba, password expired", "Simple Bind Failed: NT_STATUS_PASSWORD_EXPIRED", PasswordExpired, true},
	{"old Samba, must change", "Simple Bind Failed: NT_STATUS_PASSWORD_MUST_CHANGE", PasswordExpired, true},
	{"old Samba, account expired", "Simple Bind Failed: NT_STATUS_ACCOUNT_EXPIRED", AccountExpired, true},
	{"old Samba, logon hours", "Simple Bind Failed: NT_STATUS_INVALID_LOGON_HOURS", LogonDenied, true},
	{"old Samba, workstation", "Simple Bind Failed: NT_STATUS_INVALID_WORKSTATION", LogonDenied, true},
	{"old Samba, no such user", "Simple Bind Failed: NT_STATUS_NO_SUCH_USER", UnknownUser, true},
	{"OpenLDAP, empty", "", BadPassword, false},
	{"not a bind failure", "000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\x00", BadPassword, false},
}

func TestADBindStatus(t *testing.T) {
	for _, tt := range adDiagnostics {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := adBindStatus(tt.msg)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got %v, %v, want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzADBindStatus(f *testing.F) {
	for _, tt := range adDiagnostics {
		f.Add(tt.msg)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		st, ok := adBindStatus(msg)
		if st == OK {
			t.Errorf("%q: a failed bind read as OK", msg)
		}
		if !ok && st != BadPassword {
			t.Errorf("%q: unknown message read as %v", msg, st)
		}
	})
}

func TestBindStatus(t *testing.T) {
	invalid := func(msg string) error {
		return &ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials, Err: errors.New(msg)}
	}
	policy := func(code int8) *ldap.SimpleBindResult {
		pp := ldap.NewControlBeheraPasswordPolicy()
		pp.Error = code
		return &ldap.SimpleBindResult{Controls: []ldap.Control{pp}}
	}
	grace := ldap.NewControlBeheraPasswordPolicy()
	grace.Grace = 2
	tests := []struct {
		name    string
		res     *ldap.SimpleBindResult
		err     error
		want    Status
		wantErr bool
	}{
		{"success", &ldap.SimpleBindResult{}, nil, OK, false},
		{"success in grace", &ldap.SimpleBindResult{Controls: []ldap.Control{grace}}, nil, OK, false},
		{"success, change after reset", policy(ppolicyChangeAfterReset), nil, PasswordExpired, false},
		{"ppolicy password expired", policy(ppolicyPasswordExpired), invalid(""), PasswordExpired, false},
		{"ppolicy account locked", policy(ppolicyAccountLocked), invalid(""), Locked, false},
		{"ppolicy, no error", policy(-1), invalid(""), BadPassword, false},
		{"OpenLDAP wrong password", &ldap.SimpleBindResult{}, invalid(""), BadPassword, false},
		{"AD disabled", &ldap.SimpleBindResult{}, invalid(adDiagnostics[7].msg), Disabled, false},
		{"AD, no result", nil, invalid(adDiagnostics[2].msg), Locked, false},
		{"other result", nil, &ldap.Error{ResultCode: ldap.LDAPResultBusy, Err: errors.New("busy")}, BadPassword, true},
		{"network", nil, &ldap.Error{ResultCode: ldap.ErrorNetwork, Err: errors.New("reset")}, BadPassword, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bindStatus(tt.res, tt.err)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v, want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestADAccountStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// 133000000000000000 is 2022-06-18, 140000000000000000 is 2044-08-23.
	tests := []struct {
		name  string
		attrs map[string][]string
		want  Status
	}{
		{"normal account", map[string][]string{adUAC: {"512"}, adExpires: {"9223372036854775807"}}, OK},
		{"no attributes", nil, OK},
		{"password never expires", map[string][]string{adUAC: {"66048"}, adExpires: {"0"}}, OK},
		{"disabled", map[string][]string{adUAC: {"514"}}, Disabled},
		{"disabled, never expires", map[string][]string{adUAC: {"66050"}}, Disabled},
		{"disabled and locked", map[string][]string{adUAC: {"514"}, adUACComputed: {"16"}}, Disabled},
		{"locked (computed)", map[string][]string{adUAC: {"512"}, adUACComputed: {"16"}, adLockoutTime: {"134150000000000000"}}, Locked},
		{"lapsed lockout (computed clear)", map[string][]string{adUAC: {"512"}, adUACComputed: {"0"}, adLockoutTime: {"134150000000000000"}}, OK},
		{"lockoutTime, no computed flags", map[string][]string{adUAC: {"512"}, adLockoutTime: {"134150000000000000"}}, Locked},
		{"lockoutTime zero", map[string][]string{adUAC: {"512"}, adLockoutTime: {"0"}}, OK},
		{"stored lockout bit", map[string][]string{adUAC: {"528"}}, Locked},
		{"account expired", map[string][]string{adUAC: {"512"}, adExpires: {"133000000000000000"}}, AccountExpired},
		{"account expires later", map[string][]string{adUAC: {"512"}, adExpires: {"140000000000000000"}}, OK},
		{"account expires now", map[string][]string{adExpires: {fileTimeString(now)}}, AccountExpired},
		{"account expires in a second", map[string][]string{adExpires: {fileTimeString(now.Add(time.Second))}}, OK},
		{"password expired (computed)", map[string][]string{adUAC: {"512"}, adUACComputed: {"8388608"}}, PasswordExpired},
		{"expired account and password", map[string][]string{adUACComputed: {"8388608"}, adExpires: {"133000000000000000"}}, AccountExpired},
		{"garbage", map[string][]string{adUAC: {"x"}, adExpires: {"-"}, adLockoutTime: {"?"}}, OK},
		{"negative accountExpires", map[string][]string{adExpires: {"-1"}}, OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ldap.NewEntry("CN=Alice,OU=Staff,DC=example,DC=edu", tt.attrs)
			if got := parseADAccount(e).status(now); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// fileTimeString writes t as AD's accountExpires.
func fileTimeString(t time.Time) string {
	return strconv.FormatInt(t.Unix()*fileTimeUnitsPerSec+int64(t.Nanosecond()/100)+fileTimeUnixEpoch, 10)
}

func TestFileTime(t *testing.T) {
	if got := fileTime(fileTimeUnixEpoch); !got.Equal(time.Unix(0, 0)) {
		t.Errorf("got %v, want the Unix epoch", got)
	}
	want := time.Date(2022, 6, 18, 4, 26, 40, 0, time.UTC)
	if got := fileTime(133000000000000000); !got.Equal(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLDAPPreset(t *testing.T) {
	base := LDAPConfig{URLs: []string{"ldap://127.0.0.1"}, BaseDN: "DC=example,DC=edu"}
	tests := []struct {
		name                string
		edit                func(*LDAPConfig)
		wantFilter, wantAtt string
	}{
		{"default is openldap", nil, defaultUserFilter, defaultUserAttribute},
		{"openldap", func(c *LDAPConfig) { c.Preset = PresetOpenLDAP }, defaultUserFilter, defaultUserAttribute},
		{"ad", func(c *LDAPConfig) { c.Preset = PresetActiveDirectory }, adUserFilter, adUserAttribute},
		{"ad, overridden", func(c *LDAPConfig) {
			c.Preset, c.UserFilter, c.UserAttribute = PresetActiveDirectory, "(&(objectClass=user)(mail=%s))", "mail"
		}, "(&(objectClass=user)(mail=%s))", "mail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			if tt.edit != nil {
				tt.edit(&c)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			d := c.withDefaults()
			if d.UserFilter != tt.wantFilter || d.UserAttribute != tt.wantAtt {
				t.Errorf("got %s %s, want %s %s", d.UserFilter, d.UserAttribute, tt.wantFilter, tt.wantAtt)
			}
			if d.GroupNameAttribute != "cn" || d.MemberOfAttribute != "memberOf" {
				t.Errorf("got group name %s, memberOf %s, want cn, memberOf", d.GroupNameAttribute, d.MemberOfAttribute)
			}
		})
	}
	c := base
	c.Preset = "samba"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "preset") {
		t.Errorf("preset samba: got %v, want an error naming preset", err)
	}
}

func TestADFilters(t *testing.T) {
	tests := []struct {
		name, template, value, want string
	}{
		{"sAMAccountName", adUserFilter, "alice",
			"(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=alice)(userPrincipalName=alice)))"},
		{"UPN", adUserFilter, "alice@example.edu",
			"(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=alice@example.edu)(userPrincipalName=alice@example.edu)))"},
		{"injection in both places", adUserFilter, "*)(objectClass=*",
			`(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=\2a\29\28objectClass=\2a)(userPrincipalName=\2a\29\28objectClass=\2a)))`},
		{"nested groups of a DN with a comma", adNestedGroupFilter, `CN=Smith\, John,OU=Staff,DC=example,DC=edu`,
			`(&(objectCategory=group)(member:1.2.840.113556.1.4.1941:=CN=Smith\5c, John,OU=Staff,DC=example,DC=edu))`},
		{"direct groups", adGroupFilter, "CN=Alice,DC=example,DC=edu",
			"(&(objectCategory=group)(member=CN=Alice,DC=example,DC=edu))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ldapFilter(tt.template, tt.value)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, err := ldap.CompileFilter(got); err != nil {
				t.Errorf("CompileFilter(%s): %v", got, err)
			}
		})
	}
}
