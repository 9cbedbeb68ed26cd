package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/directory/ldaptest"
	"twostep/portal"
)

// doctorSetup is an installation for the doctor: a directory with a
// users file, a seed key file and a configuration made of sections.
type doctorSetup struct {
	dir      string
	clients  string
	dirSect  string
	cluster  string
	push     string
	extra    string
	endpoint []string
}

// goodClients is a client with a secret the doctor finds good.
const goodClients = `clients:
  - {name: vpn, networks: [10.0.0.1], secret: "a-long-random-secret-1234"}
`

func newDoctorSetup(t *testing.T, endpoints []string) *doctorSetup {
	t.Helper()
	s := &doctorSetup{dir: t.TempDir(), clients: goodClients, dirSect: fileDirectory, endpoint: endpoints}
	s.cluster = fmt.Sprintf("cluster:\n  endpoints: [%s]\n  seed_keys: seed.key\n  dial_timeout: 10s\n", strings.Join(endpoints, ", "))
	keys, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.write(t, "seed.key", string(keys))
	s.write(t, "users.yaml", clusterUsers)
	return s
}

func (s *doctorSetup) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// config writes the configuration and returns its path.
func (s *doctorSetup) config(t *testing.T) string {
	t.Helper()
	return s.write(t, "twostep.yaml", s.clients+s.dirSect+s.cluster+s.push+s.extra)
}

// doctorResult is one run of the doctor.
type doctorResult struct {
	findings []finding
	raw      string
	err      error
}

// runDoctor runs `twostepctl doctor -json` with c's clock (nil: the
// real one) and parses its findings.
func runDoctor(t *testing.T, now func() time.Time, config string, args ...string) doctorResult {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(""), &out, &errOut)
	if now != nil {
		c.now = now
	}
	err := c.exec(context.Background(), append([]string{"-config", config, "doctor", "-json", "-timeout", "3s"}, args...))
	var fs []finding
	if jerr := json.Unmarshal(out.Bytes(), &fs); jerr != nil {
		t.Fatalf("doctor -json: %v\n%s\nstderr: %s", jerr, out.String(), errOut.String())
	}
	return doctorResult{findings: fs, raw: out.String(), err: err}
}

// find returns the findings whose check starts with prefix.
func (r doctorResult) find(prefix string) []finding {
	var out []finding
	for _, f := range r.findings {
		if strings.HasPrefix(f.Check, prefix) {
			out = append(out, f)
		}
	}
	return out
}

// named returns the findings of the check name: exactly name, or name
// and its target ("cluster.member" finds "cluster.member member0").
func (r doctorResult) named(name string) []finding {
	name = strings.TrimSpace(name)
	var out []finding
	for _, f := range r.findings {
		if f.Check == name || strings.HasPrefix(f.Check, name+" ") {
			out = append(out, f)
		}
	}
	return out
}

// want fails unless exactly one finding is of the check prefix (named)
// and it has status, a detail containing detail and a fix containing fix.
func (r doctorResult) want(t *testing.T, prefix, status, detail, fix string) finding {
	t.Helper()
	fs := r.named(prefix)
	if len(fs) != 1 {
		t.Errorf("%s: got %d findings, want 1:\n%s", prefix, len(fs), r.raw)
		return finding{}
	}
	f := fs[0]
	if f.Status != status || !strings.Contains(f.Detail, detail) || !strings.Contains(f.Fix, fix) {
		t.Errorf("%s: got %+v, want status %s, detail with %q, fix with %q", prefix, f, status, detail, fix)
	}
	if (f.Status == statusOK) != (f.Fix == "") {
		t.Errorf("%s: status %s with fix %q: a fix goes with warn and FAIL only", prefix, f.Status, f.Fix)
	}
	return f
}

// noFail fails on any FAIL, and on an error from the run.
func (r doctorResult) noFail(t *testing.T) {
	t.Helper()
	for _, f := range r.findings {
		if f.Status == statusFail {
			t.Errorf("FAIL: %+v", f)
		}
	}
	if r.err != nil {
		t.Errorf("got %v, want exit status 0", r.err)
	}
}

// TestDoctorGood: a good set-up passes every check (the warning of an
// etcd without authentication aside) and exits 0; -json prints an array
// of objects of exactly check, status, detail, fix.
func TestDoctorGood(t *testing.T) {
	srv := etcdtest.Start(t)
	s := newDoctorSetup(t, srv.Endpoints())
	r := runDoctor(t, nil, s.config(t))
	r.noFail(t)
	r.want(t, "config", statusOK, "1 client, directory file, etcd cluster (1 endpoint), push off", "")
	r.want(t, "directory", statusOK, "3 users", "")
	r.want(t, "cluster.connect", statusOK, "keys under /twostep/", "")
	r.want(t, "cluster.member ", statusOK, "leader", "")
	r.want(t, "cluster.leader", statusOK, "1 of 1 members answer", "")
	r.want(t, "cluster.clock ", statusOK, "this machine's clock is", "")
	r.want(t, "cluster.auth", statusWarn, "off, and twostep presents neither a user nor a client certificate", "etcdctl auth enable")
	r.want(t, "cluster.readwrite", statusOK, "/twostep/doctor/", "")
	r.want(t, "seeds.keyfile", statusOK, "1 key", "")
	r.want(t, "seeds", statusOK, "no device or token seed stored yet", "")
	r.want(t, "push", statusOK, "off", "")
	r.want(t, "client.secret vpn", statusOK, "25 characters", "")
	r.want(t, "client.message_authenticator vpn", statusOK, "true", "")
	if n := len(r.find("cluster.isolation")); n != 0 {
		t.Errorf("isolation checked with authentication off: %d findings", n)
	}

	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.raw), &raw); err != nil {
		t.Fatal(err)
	}
	for _, obj := range raw {
		if len(obj) != 4 || obj["check"] == nil || obj["status"] == nil || obj["detail"] == nil || obj["fix"] == nil {
			t.Errorf("got %v, want the fields check, status, detail, fix", obj)
		}
		if st := obj["status"]; st != "ok" && st != "warn" && st != "FAIL" {
			t.Errorf("status %v", st)
		}
	}

	// Without -json: one line each, the status first; the same exit status.
	out, _, err := ctl(t, "", "-config", s.config(t), "doctor", "-user", "alice")
	if err != nil {
		t.Fatalf("got %v, want success:\n%s", err, out)
	}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "ok    ") && !strings.HasPrefix(line, "warn  ") {
			t.Errorf("line %q", line)
		}
	}
	for _, want := range []string{
		"ok    directory: users file " + filepath.Join(s.dir, "users.yaml") + `: 3 users; "alice" is in vpn-users` + "\n",
		"warn  cluster.auth: off, and twostep presents neither", "; fix: set cluster.username",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestDoctorLDAP runs the directory checks against slapd: a good
// configuration passes every step; a wrong service password FAILs at the
// bind with the key to change; a server whose CA is not trusted FAILs at
// TLS.
func TestDoctorLDAP(t *testing.T) {
	slapd := ldaptest.Start(t, ldaptest.WithTLS())
	srv := etcdtest.Start(t)
	section := func(url, password, extra string) string {
		return fmt.Sprintf("directory:\n  backend: ldap\n  ldap:\n    urls: [%q]\n    bind_dn: %q\n    bind_password: %q\n    base_dn: %q\n%s",
			url, slapd.ServiceDN, password, slapd.BaseDN, extra)
	}
	every := map[string]string{"directory.connect": statusOK, "directory.tls": statusOK, "directory.bind": statusOK, "directory.search": statusOK, "directory.groups": statusOK}
	tests := []struct {
		name     string
		url      string
		password string
		extra    string
		args     []string
		want     map[string]string // check -> status
		fix      map[string]string // check -> in the fix
		detail   string            // in the last finding's detail
	}{
		{name: "good", url: slapd.URL(), password: slapd.ServicePassword, args: []string{"-user", "ALICE"},
			want: every, detail: `"alice" is in staff, unix-admins, vpn-users`},
		{name: "good over ldaps", url: slapd.LDAPSURL(), password: slapd.ServicePassword, extra: fmt.Sprintf("    ca_file: %q\n", slapd.CAFile),
			want: every, detail: "groups found under dc=example,dc=edu"},
		{name: "wrong bind password", url: slapd.URL(), password: "not-the-password",
			want:   map[string]string{"directory.connect": statusOK, "directory.tls": statusOK, "directory.bind": statusFail},
			fix:    map[string]string{"directory.bind": "directory.ldap.bind_password: set bind_password"},
			detail: "invalid credentials"},
		{name: "a CA not trusted", url: slapd.LDAPSURL(), password: slapd.ServicePassword,
			want:   map[string]string{"directory.connect": statusOK, "directory.tls": statusFail},
			fix:    map[string]string{"directory.tls": "directory.ldap.ca_file: set ca_file"},
			detail: "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newDoctorSetup(t, srv.Endpoints())
			s.dirSect = section(tt.url, tt.password, tt.extra)
			r := runDoctor(t, nil, s.config(t), tt.args...)
			found := r.find("directory")
			if len(found) != len(tt.want) {
				t.Fatalf("got %d directory findings, want %d:\n%s", len(found), len(tt.want), r.raw)
			}
			fails := false
			for _, f := range found {
				step, url, _ := strings.Cut(f.Check, " ")
				if url != tt.url {
					t.Errorf("check %q does not name the server %s", f.Check, tt.url)
				}
				if want := tt.want[step]; f.Status != want {
					t.Errorf("%s: got %s (%s; fix: %s), want %s", f.Check, f.Status, f.Detail, f.Fix, want)
				}
				if fix := tt.fix[step]; !strings.Contains(f.Fix, fix) {
					t.Errorf("%s: got the fix %q, want %q in it", f.Check, f.Fix, fix)
				}
				fails = fails || f.Status == statusFail
			}
			if last := found[len(found)-1]; !strings.Contains(last.Detail, tt.detail) {
				t.Errorf("%s: got %q, want %q in it", last.Check, last.Detail, tt.detail)
			}
			if strings.Contains(r.raw, slapd.ServicePassword) || strings.Contains(r.raw, "not-the-password") {
				t.Errorf("the report shows a password:\n%s", r.raw)
			}
			if fails != (r.err != nil) {
				t.Errorf("FAIL in the report: %v; run error: %v", fails, r.err)
			}
		})
	}
}

// TestDoctorEtcdAuth: with etcd's authentication on and a user limited to
// the prefix by a role, the outside read is refused (ok); root passes
// with a warning that names it; a username configured while etcd's
// authentication is off FAILs.
func TestDoctorEtcdAuth(t *testing.T) {
	srv := etcdtest.Start(t)
	etcdtest.EnableAuth(t, srv.Endpoints(), etcdstore.DefaultPrefix, "twostep", "twostep-pw")
	withUser := func(s *doctorSetup, user, password string) {
		s.cluster += fmt.Sprintf("  username: %s\n  password: %s\n", user, password)
	}

	t.Run("a user limited to the prefix", func(t *testing.T) {
		s := newDoctorSetup(t, srv.Endpoints())
		withUser(s, "twostep", "twostep-pw")
		r := runDoctor(t, nil, s.config(t))
		r.noFail(t)
		r.want(t, "cluster.auth", statusOK, `on; twostep logs in as "twostep" (roles: twostep)`, "")
		r.want(t, "cluster.readwrite", statusOK, "wrote, read and deleted", "")
		r.want(t, "cluster.isolation", statusOK, `a read outside /twostep/ is refused: "twostep" reaches the prefix only`, "")
		if strings.Contains(r.raw, "twostep-pw") {
			t.Errorf("the report shows the password:\n%s", r.raw)
		}
	})
	t.Run("root", func(t *testing.T) {
		s := newDoctorSetup(t, srv.Endpoints())
		withUser(s, "root", etcdtest.RootPassword)
		r := runDoctor(t, nil, s.config(t))
		r.noFail(t)
		r.want(t, "cluster.isolation", statusWarn, `"root" may read every key, not only /twostep/: role root`, "never root")
	})
	t.Run("a wrong password", func(t *testing.T) {
		s := newDoctorSetup(t, srv.Endpoints())
		withUser(s, "twostep", "wrong-pw")
		r := runDoctor(t, nil, s.config(t))
		r.want(t, "cluster.connect", statusFail, "authentication failed", "username and password")
		if r.err == nil {
			t.Error("exit status 0 with a FAIL")
		}
	})
	t.Run("authentication off, a username configured", func(t *testing.T) {
		open := etcdtest.Start(t)
		s := newDoctorSetup(t, open.Endpoints())
		withUser(s, "twostep", "twostep-pw")
		r := runDoctor(t, nil, s.config(t))
		r.want(t, "cluster.auth", statusFail, `off in etcd, though cluster.username is "twostep"`, "etcdctl auth enable")
		if n := len(r.find("cluster.isolation")); n != 0 {
			t.Errorf("isolation checked with authentication off: %d findings", n)
		}
		if r.err == nil || !strings.Contains(r.err.Error(), "1 check FAILed") {
			t.Errorf("got %v, want 1 check FAILed", r.err)
		}
	})
}

// TestDoctorCluster: every member of a three-member cluster is checked;
// one stopped FAILs while the others and their leader pass.
func TestDoctorCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	s := newDoctorSetup(t, c.Endpoints())
	r := runDoctor(t, nil, s.config(t))
	r.noFail(t)
	if ms := r.find("cluster.member "); len(ms) != 3 {
		t.Errorf("got %d members, want 3:\n%s", len(ms), r.raw)
	}
	if cs := r.find("cluster.clock "); len(cs) != 3 {
		t.Errorf("got %d clocks, want 3:\n%s", len(cs), r.raw)
	}
	r.want(t, "cluster.leader", statusOK, "3 of 3 members answer", "")

	c.StopMember(2)
	r = runDoctor(t, nil, s.config(t))
	r.want(t, "cluster.member member2", statusFail, c.Endpoints()[2]+" (id ", "etcdctl member remove")
	r.want(t, "cluster.member member0", statusOK, "etcd ", "")
	r.want(t, "cluster.leader", statusOK, "2 of 3 members answer", "")
	if cs := r.find("cluster.clock "); len(cs) != 2 {
		t.Errorf("got %d clocks, want those of the 2 members that run:\n%s", len(cs), r.raw)
	}
	if r.err == nil {
		t.Error("exit status 0 with a member stopped")
	}
}

// TestDoctorClock: this machine's clock, set off against the members',
// warns beyond a second and FAILs where fresh TOTP codes would be refused:
// 15 s behind (window_ahead 0), 45 s ahead (window_back 1).
func TestDoctorClock(t *testing.T) {
	srv := etcdtest.Start(t)
	s := newDoctorSetup(t, srv.Endpoints())
	config := s.config(t)
	tests := []struct {
		skew   time.Duration
		status string
		detail string
	}{
		{-5 * time.Second, statusWarn, "behind"},
		{-20 * time.Second, statusFail, "beyond 15s most fresh TOTP codes are refused here"},
		{30 * time.Second, statusWarn, "ahead of"},
		{time.Minute, statusFail, "beyond 45s"},
	}
	for _, tt := range tests {
		t.Run(tt.skew.String(), func(t *testing.T) {
			r := runDoctor(t, func() time.Time { return time.Now().Add(tt.skew) }, config)
			r.want(t, "cluster.clock ", tt.status, tt.detail, "run NTP")
		})
	}
}

// TestDoctorSeeds: a seed key file that does not open a stored seed
// FAILs, naming the user and device, never the seed.
func TestDoctorSeeds(t *testing.T) {
	srv := etcdtest.Start(t)
	s := newDoctorSetup(t, srv.Endpoints())
	config := s.config(t)
	keys, err := cluster.LoadKeyring(filepath.Join(s.dir, "seed.key"))
	if err != nil {
		t.Fatal(err)
	}
	store := srv.Open(t)
	secret := []byte("0123456789abcdefghij")
	if _, err := cluster.NewAccounts(store, keys).AddDevice(context.Background(), "alice", cluster.Device{
		Name: "phone", Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: secret, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	r := runDoctor(t, nil, config)
	r.noFail(t)
	r.want(t, "seeds", statusOK, "1 seed opens (1 with "+keys.ActiveID()+")", "")

	other, err := cluster.NewKeyFile(rand.Reader, time.Now().Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s.write(t, "seed.key", string(other))
	r = runDoctor(t, nil, config)
	fs := r.find("seeds")
	if len(fs) != 3 || fs[1].Status != statusFail || fs[2].Status != statusFail {
		t.Fatalf("got %+v, want the key file, the device and the sum", fs)
	}
	if d := fs[1].Detail; !strings.Contains(d, `alice's device "phone" (users/alice/devices/`) || !strings.Contains(d, "sealed with key "+keys.ActiveID()+", which") {
		t.Errorf("device: got %q", d)
	}
	if !strings.Contains(fs[1].Fix, "put the line of key "+keys.ActiveID()+" back in") {
		t.Errorf("fix: got %q", fs[1].Fix)
	}
	if !strings.Contains(fs[2].Detail, "1 of 1 seeds do not open") {
		t.Errorf("sum: got %q", fs[2].Detail)
	}
	noSecret(t, "the report", r.raw, secret)
	if r.err == nil {
		t.Error("exit status 0 with a seed that does not open")
	}
}

// TestDoctorClients: a short secret and require_message_authenticator
// false or auto warn (exit 0); a secret the shell lacks FAILs the
// configuration, and the checks of the rest still run.
func TestDoctorClients(t *testing.T) {
	srv := etcdtest.Start(t)
	s := newDoctorSetup(t, srv.Endpoints())
	s.clients = `clients:
  - {name: short, networks: [10.0.0.1], secret: "testing123"}
  - {name: legacy, networks: [10.0.0.2], secret: "a-long-random-secret-1234", require_message_authenticator: "false"}
  - {name: pam, networks: [10.0.0.3], secret: "a-long-random-secret-5678", require_message_authenticator: auto}
`
	r := runDoctor(t, nil, s.config(t))
	r.noFail(t)
	r.want(t, "client.secret short", statusWarn, "10 characters", "clients[0].secret_file")
	r.want(t, "client.secret legacy", statusOK, "25 characters", "")
	r.want(t, "client.message_authenticator short", statusOK, "true", "")
	r.want(t, "client.message_authenticator legacy", statusWarn, "false: requests without Message-Authenticator can be forged", "clients[1].require_message_authenticator: auto")
	r.want(t, "client.message_authenticator pam", statusWarn, "auto (the NAS has not sent it yet)", "clients[2].require_message_authenticator: true once")

	// The cluster has seen the NAS send it.
	store := srv.Open(t)
	if err := cluster.NewClientRecords(store, "node1", nil).RecordMessageAuthenticator(context.Background(), "pam"); err != nil {
		t.Fatal(err)
	}
	r = runDoctor(t, nil, s.config(t))
	r.want(t, "client.message_authenticator pam", statusWarn, "the NAS has sent it", "true once")

	s.clients = clientsYAML // secret_env of a variable this shell lacks
	r = runDoctor(t, nil, s.config(t))
	r.want(t, "config", statusFail, "clients[0].secret_env: environment variable A_VARIABLE_THE_ADMIN_SHELL_LACKS is empty or not set", "-check")
	r.want(t, "cluster.connect", statusOK, "answers", "")
	if n := len(r.find("client.secret")); n != 0 {
		t.Errorf("secrets checked though unread: %d findings", n)
	}
	if r.err == nil {
		t.Error("exit status 0 with the configuration FAILed")
	}
}

// TestDoctorPush: the VAPID key parses and matches; each node in
// push.urls is asked, and one that does not answer FAILs.
func TestDoctorPush(t *testing.T) {
	srv := etcdtest.Start(t)
	s := newDoctorSetup(t, srv.Endpoints())
	api := httptest.NewServer(portal.NewPushAPI(nil, portal.APIConfig{}, zerolog.Nop()))
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	vapid := filepath.Join(s.dir, "vapid.key")
	mustCtl(t, "", "vapid-key", "-out", vapid)
	s.push = fmt.Sprintf("push:\n  listen: 127.0.0.1:0\n  urls: [%s, %s]\n  webpush: {vapid_key_file: vapid.key, subject: \"mailto:helpdesk@example.edu\"}\n", api.URL, dead)
	r := runDoctor(t, nil, s.config(t))
	r.want(t, "push.vapid", statusOK, "a P-256 key whose public key matches", "")
	r.want(t, "push.url "+api.URL, statusOK, "the approval API answers", "")
	r.want(t, "push.url "+dead, statusFail, "connection refused", "start twostepd there with push.listen")
	if r.err == nil {
		t.Error("exit status 0 with a node that does not answer")
	}

	s.write(t, "vapid.key", "not a key\n")
	r = runDoctor(t, nil, s.config(t))
	r.want(t, "push.vapid", statusFail, "not base64url of 32 bytes", "vapid-key -out")
}

// TestDoctorUnreadable: a configuration that cannot be read is one FAIL,
// with what to do, and nothing else is checked.
func TestDoctorUnreadable(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "twostep.yaml")
	if err := os.WriteFile(broken, []byte("clients:\n  - {name: vpn, networks: [10.0.0.1], secret: x, secrte: y}\ndirectory: {backend: nis}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{filepath.Join(dir, "missing.yaml"), []string{"no such file"}},
		{broken, []string{`clients[0].secrte: unknown key; did you mean "secret"?`, `directory.backend: unknown backend "nis"`}},
	} {
		r := runDoctor(t, nil, tt.path)
		if len(r.findings) != len(tt.want) {
			t.Fatalf("got %d findings, want %d:\n%s", len(r.findings), len(tt.want), r.raw)
		}
		for i, f := range r.findings {
			if f.Check != "config" || f.Status != statusFail || !strings.Contains(f.Detail, tt.want[i]) || f.Fix == "" {
				t.Errorf("got %+v, want a config FAIL with %q", f, tt.want[i])
			}
		}
		if r.err == nil {
			t.Error("exit status 0")
		}
	}
}
