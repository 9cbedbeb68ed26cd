package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/directory/ldaptest"
	"twostep/radiusd"
)

// startLDAPDaemon starts twostepd against slapd, probing it every 200ms
// with an op_timeout of 1s, with a group policy.
func startLDAPDaemon(t *testing.T, slapd *ldaptest.Server) *daemonProc {
	t.Helper()
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
	return startDaemonConfig(t, path)
}

// readyz returns the status code of d's /readyz, 0 if it cannot be read.
func (d *daemonProc) readyz() int {
	resp, err := http.Get("http://" + d.metrics + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLDAPDirectory runs the daemon against a real slapd: passwords are
// checked there, and while slapd is down the node says it is not ready
// (no Status-Server answer, /readyz 503) so NASes fail over.
func TestLDAPDirectory(t *testing.T) {
	slapd := ldaptest.Start(t)
	d := startLDAPDaemon(t, slapd)

	auth := func(user, pw string) string {
		out, _ := radclient(t, d.radius, "auth", testSecret,
			fmt.Sprintf("User-Name = %q\nUser-Password = %q\nMessage-Authenticator = 0x00\n", user, pw))
		return out
	}
	status := func() string {
		out, _ := radclient(t, d.radius, "status", testSecret, "Message-Authenticator = 0x00\n")
		return out
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
	waitFor(t, "readyz 503 while slapd is down", func() bool { return d.readyz() == http.StatusServiceUnavailable })
	if out := status(); !strings.Contains(out, "No reply") {
		t.Errorf("Status-Server answered while the directory is down:\n%s", out)
	}
	if out := auth("alice", ldaptest.Password("alice")); strings.Contains(out, "Received Access-Accept") {
		t.Errorf("accepted while the directory is down:\n%s", out)
	}

	slapd.Restart()
	waitFor(t, "readyz 200 after slapd returns", func() bool { return d.readyz() == http.StatusOK })
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

// TestLDAPDirectoryFrozen freezes slapd (SIGSTOP) while logins arrive: the
// kernel still accepts connections to the frozen slapd, but the node
// turns unready (/readyz 503, no Status-Server answer) and stays so until
// slapd resumes (SIGCONT).
func TestLDAPDirectoryFrozen(t *testing.T) {
	slapd := ldaptest.Start(t)
	d := startLDAPDaemon(t, slapd)
	waitFor(t, "readyz 200", func() bool { return d.readyz() == http.StatusOK })

	slapd.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			slapd.Thaw()
		}
	}()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for range 2 {
		wg.Go(func() { loginLoop(ctx, d.radius) })
	}
	// health_interval 200ms + op_timeout 1s, and slack for a busy machine.
	deadline := time.Now().Add(3 * time.Second)
	for d.readyz() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("readyz not 503 3s after slapd froze")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		if code := d.readyz(); code != http.StatusServiceUnavailable {
			t.Fatalf("readyz %d while slapd is frozen", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, _ := radclient(t, d.radius, "status", testSecret, "Message-Authenticator = 0x00\n"); !strings.Contains(out, "No reply") {
		t.Errorf("Status-Server answered while slapd is frozen:\n%s", out)
	}

	slapd.Thaw()
	thawed = true
	waitFor(t, "readyz 200 after slapd resumes", func() bool { return d.readyz() == http.StatusOK })
}

// loginLoop sends alice's logins to addr, one at a time, until ctx ends.
func loginLoop(ctx context.Context, addr string) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
		rfc2865.UserName_SetString(p, "alice")
		rfc2865.UserPassword_SetString(p, ldaptest.Password("alice"))
		b, err := radiusd.SignRequest(p)
		if err != nil {
			return
		}
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		c.Read(buf)
	}
}

// TestLDAPLogNamesCanonicalUser: slapd matches user names without case,
// outer spaces or width; the request's log line names the user as the
// directory does, with what was typed beside it, and carries what the
// NAS said about itself and the user's address.
func TestLDAPLogNamesCanonicalUser(t *testing.T) {
	slapd := ldaptest.Start(t)
	d := startLDAPDaemon(t, slapd)
	tests := []struct {
		name, typed string
		wantTyped   bool
	}{
		{"as in the directory", "alice", false},
		{"upper case", "ALICE", true},
		{"trailing space", "alice ", true},
		{"fullwidth letters", "ａｌｉｃｅ", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			station := fmt.Sprintf("198.51.100.%d", 20+i)
			out, _ := radclient(t, d.radius, "auth", testSecret, fmt.Sprintf(
				"User-Name = %q\nUser-Password = %q\nNAS-Identifier = \"vpn-gw-1\"\nNAS-IP-Address = 192.0.2.10\nCalling-Station-Id = %q\nMessage-Authenticator = 0x00\n",
				tt.typed, ldaptest.Password("alice"), station))
			if !strings.Contains(out, "Received Access-Accept") {
				t.Fatalf("%q with alice's password: want Access-Accept\n%s\n%s", tt.typed, out, d.logText())
			}
			line := d.requestLine(t, `"calling_station_id":"`+station+`"`)
			want := map[string]any{"user": "alice", "nas_identifier": "vpn-gw-1", "nas_ip_address": "192.0.2.10", "calling_station_id": station}
			if tt.wantTyped {
				want["typed_user"] = tt.typed
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s: got %v, want %q in %v", k, line[k], v, line)
				}
			}
			if _, ok := line["typed_user"]; ok && !tt.wantTyped {
				t.Errorf("typed_user %v logged for a name typed as the directory has it", line["typed_user"])
			}
		})
	}
}
