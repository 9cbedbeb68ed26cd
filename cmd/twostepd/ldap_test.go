package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/directory/ldaptest"
)

// TestLDAPDirectory runs the daemon against a real slapd: passwords are
// checked there, and while slapd is down the node says it is not ready
// (no Status-Server answer, /readyz 503) so NASes fail over.
func TestLDAPDirectory(t *testing.T) {
	slapd := ldaptest.Start(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ldap-password"), []byte(slapd.ServicePassword+"\n"), 0o600)
	cfg := fmt.Sprintf(`log: {level: debug}
radius: {listen: ["127.0.0.1:0"]}
clients:
  - {name: loopback, networks: [127.0.0.1], secret: %s}
directory:
  backend: ldap
  health_interval: 200ms
  ldap:
    urls: [%q]
    bind_dn: %q
    bind_password_file: ldap-password
    base_dn: %q
    op_timeout: 1s
    dial_timeout: 1s
metrics: {listen: "127.0.0.1:0"}
policy:
  default: deny
  groups:
    - group: unix-admins
      reply:
        - {name: Class, value: admins}
        - {name: Fortinet-Group-Name, value: fw-admins}
    - group: all-staff
      action: exempt
    - group: vpn-users
      reply: [{name: Class, value: users}]
%s`, testSecret, slapd.URL(), slapd.ServiceDN, slapd.BaseDN, clusterYAML(t, dir))
	path := filepath.Join(dir, "twostep.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	d := startDaemonConfig(t, path)

	auth := func(user, pw string) string {
		out, _ := radclient(t, d.radius, "auth", testSecret,
			fmt.Sprintf("User-Name = %q\nUser-Password = %q\nMessage-Authenticator = 0x00\n", user, pw))
		return out
	}
	status := func() string {
		out, _ := radclient(t, d.radius, "status", testSecret, "Message-Authenticator = 0x00\n")
		return out
	}
	readyz := func() int {
		resp, err := http.Get("http://" + d.metrics + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if out := auth("alice", ldaptest.Password("alice")); !strings.Contains(out, "Received Access-Accept") {
		t.Fatalf("alice with her LDAP password: want Access-Accept\n%s\n%s", out, d.logText())
	}
	// Group policy: the first matching rule decides and sends its
	// attributes (radclient names Fortinet's from its own dictionary).
	policy := []struct{ user, want string }{
		{"alice", "Fortinet-Group-Name = \"fw-admins\""},
		{"alice", "Class = 0x61646d696e73"},
		{"bob", "Class = 0x7573657273"},
		{"dave", "Received Access-Accept"},
		{"zoë", "You are not allowed to use this service."},
	}
	for _, p := range policy {
		if out := auth(p.user, ldaptest.Password(p.user)); !strings.Contains(out, p.want) {
			t.Errorf("%s: want %q in\n%s", p.user, p.want, out)
		}
	}
	if out := auth("alice", "wrong"); !strings.Contains(out, "Received Access-Reject") {
		t.Errorf("wrong password: want Access-Reject\n%s", out)
	}
	if out := auth("*", "x"); !strings.Contains(out, "Received Access-Reject") {
		t.Errorf("wildcard user: want Access-Reject\n%s", out)
	}

	slapd.Kill()
	waitFor(t, "readyz 503 while slapd is down", func() bool { return readyz() == http.StatusServiceUnavailable })
	if out := status(); !strings.Contains(out, "No reply") {
		t.Errorf("Status-Server answered while the directory is down:\n%s", out)
	}
	if out := auth("alice", ldaptest.Password("alice")); strings.Contains(out, "Received Access-Accept") {
		t.Errorf("accepted while the directory is down:\n%s", out)
	}

	slapd.Restart()
	waitFor(t, "readyz 200 after slapd returns", func() bool { return readyz() == http.StatusOK })
	if out := status(); !strings.Contains(out, "Received Access-Accept") {
		t.Errorf("Status-Server after recovery:\n%s", out)
	}
	if out := auth("alice", ldaptest.Password("alice")); !strings.Contains(out, "Received Access-Accept") {
		t.Errorf("after recovery: want Access-Accept\n%s", out)
	}
	if strings.Contains(d.logText(), slapd.ServicePassword) || strings.Contains(d.logText(), ldaptest.Password("alice")) {
		t.Error("the log contains an LDAP password")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
