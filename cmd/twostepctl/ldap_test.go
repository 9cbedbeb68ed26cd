package main

import (
	"fmt"
	"strings"
	"testing"

	"twostep/directory/ldaptest"
)

// TestLDAPDirectory: with the ldap backend, users are looked up with the
// service account, and records are kept under the directory's canonical
// name, as twostepd keeps them.
func TestLDAPDirectory(t *testing.T) {
	slapd := ldaptest.Start(t)
	// The NAS secret comes from a variable this shell lacks: tools never
	// need it, while the bind password is resolved for the lookups.
	tc := newTestClusterWith(t, fmt.Sprintf(`directory:
  backend: ldap
  ldap:
    urls: [%q]
    bind_dn: %q
    bind_password: %q
    base_dn: %q
`, slapd.URL(), slapd.ServiceDN, slapd.ServicePassword, slapd.BaseDN))

	var got enrolled
	if err := decodeJSON(mustCtl(t, "", "-config", tc.config, "enroll", "-confirm=false", "-json", "ALICE"), &got); err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || !strings.Contains(got.URI, ":alice?") {
		t.Errorf("got user %q, want the canonical alice (uri account too)", got.User)
	}
	if n := len(tc.load(t, "alice").Devices); n != 1 {
		t.Errorf("got %d devices, want 1", n)
	}
	if out := mustCtl(t, "", "-config", tc.config, "status", "Alice"); !strings.Contains(out, "found in LDAP, groups: staff,unix-admins,vpn-users") || !strings.Contains(out, "user:        alice\n") ||
		!strings.Contains(out, "it tells whether the account is locked or expired only at a login") {
		t.Errorf("status: got:\n%s", out)
	}
	_, _, err := ctl(t, "", "-config", tc.config, "enroll", "-confirm=false", "mallory")
	if err == nil || !strings.Contains(err.Error(), `user "mallory" does not exist in LDAP; nothing changed`) {
		t.Errorf("got %v, want an unknown user", err)
	}

	slapd.Stop()
	_, _, err = ctl(t, "", "-config", tc.config, "enroll", "-confirm=false", "alice")
	if err == nil || !strings.Contains(err.Error(), `cannot look "alice" up in LDAP`) {
		t.Errorf("directory down: got %v, want a lookup error", err)
	}
	// Records stay reachable while the directory is down.
	out, errOut, err := ctl(t, "", "-config", tc.config, "devices", "alice")
	if err != nil || !strings.Contains(out, "authenticator") || !strings.Contains(errOut, "using the name as given") {
		t.Errorf("devices: got %v\n%s%s", err, out, errOut)
	}
}
