package peer

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// need fails the test, with the command to run, when a package is
// missing: tests install nothing (make peers does, for the tests;
// scripts/bench.sh for the benchmark).
func need(t *testing.T, needs ...Need) {
	t.Helper()
	if m := Missing(needs...); len(m) > 0 {
		t.Fatalf("missing %s; run: sudo apt-get install -y %s", strings.Join(m, " "), strings.Join(m, " "))
	}
}

func TestTwostepdYAML(t *testing.T) {
	retries := 2
	c := Twostepd{
		Log:       TwostepdLog{Level: "warn"},
		Radius:    TwostepdRadius{Listen: []string{"127.0.0.1:1812"}, Workers: 256, DuplicateTTL: "10s", RejectDelay: "0s"},
		Clients:   []TwostepdClient{{Name: "bench", Networks: []string{"127.0.0.1/32"}, Secret: "s3cret", RequireMessageAuthenticator: true, Mode: "append", NASTimeout: "30s", NASRetries: &retries}},
		Directory: TwostepdDirectory{Backend: "ldap", LDAP: &TwostepdLDAP{URLs: []string{"ldap://127.0.0.1:389"}, BindDN: "cn=x", BindPasswordFile: "pw", BaseDN: "dc=x", UserFilter: "(uid=%s)", CacheTTL: "0s"}},
		Cluster:   TwostepdCluster{Embedded: &TwostepdEmbedded{DataDir: "etcd", ClientURL: "http://127.0.0.1:2379", PeerURL: "http://127.0.0.1:2380"}, SeedKeys: "seed.key"},
		Push:      &TwostepdPush{Listen: "127.0.0.1:8443", Timeout: "2m"},
	}
	p := filepath.Join(t.TempDir(), "t.yaml")
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	want := `log:
  level: warn
radius:
  listen:
    - 127.0.0.1:1812
  workers: 256
  duplicate_ttl: 10s
  reject_delay: 0s
clients:
  - name: bench
    networks:
      - 127.0.0.1/32
    secret: s3cret
    require_message_authenticator: true
    mode: append
    nas_timeout: 30s
    nas_retries: 2
directory:
  backend: ldap
  ldap:
    urls:
      - ldap://127.0.0.1:389
    bind_dn: cn=x
    bind_password_file: pw
    base_dn: dc=x
    user_filter: (uid=%s)
    group_search: false
    cache_ttl: 0s
cluster:
  embedded:
    data_dir: etcd
    client_url: http://127.0.0.1:2379
    peer_url: http://127.0.0.1:2380
  seed_keys: seed.key
push:
  listen: 127.0.0.1:8443
  limit:
    count: 0
  timeout: 2m
`
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds the secret)", fi.Mode())
	}
}

func TestPorts(t *testing.T) {
	var p Ports
	seen := map[int]bool{}
	for range 50 {
		n, err := p.Pick()
		if err != nil {
			t.Fatal(err)
		}
		if seen[n] || n < 20000 || n >= 32768 {
			t.Fatalf("port %d: given twice, or outside 20000-32767", n)
		}
		seen[n] = true
	}
}

func TestMissing(t *testing.T) {
	got := Missing(Need{"b-pkg", []string{"/nonexistent/b"}}, Need{"a-pkg", []string{"sh", "/nonexistent/a"}}, Need{"b-pkg", []string{"no-such-program-x"}}, Need{"here", []string{"sh"}})
	if strings.Join(got, " ") != "a-pkg b-pkg" {
		t.Errorf("got %v, want [a-pkg b-pkg]", got)
	}
}

func TestProc(t *testing.T) {
	p, err := Start("sleep", filepath.Join(t.TempDir(), "sleep.log"), "sleep", "60")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	state := func() byte {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/stat")
		if err != nil {
			return 0
		}
		i := strings.LastIndexByte(string(b), ')')
		return b[i+2]
	}
	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return state() == 'T' }, "paused")
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return state() == 'S' }, "resumed")
	p.Pause()
	start := time.Now()
	p.Stop() // a paused process stops too, at once
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop of a paused process took %v", d)
	}
	p.Stop()
	if err := p.WaitReady(t.Context(), time.Second, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitReady after the exit: got %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after 2s", what)
		}
	}
}

// TestFreeRADIUS writes the files site from Debian's configuration,
// starts it, and checks it as the benchmark does.
func TestFreeRADIUS(t *testing.T) {
	need(t, NeedFreeRADIUS, NeedRadclient)
	bin, _ := Find("freeradius")
	if _, err := FreeRADIUSVersion(bin); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	salt := []byte("0123456789abcdef")
	sum := sha512.Sum512(append([]byte("pw-alice"), salt...))
	users := filepath.Join(dir, "authorize")
	os.WriteFile(users, []byte("alice\tPassword-With-Header := \"{SSHA512}"+base64.StdEncoding.EncodeToString(append(sum[:], salt...))+"\"\n"), 0o600)
	var ports Ports
	port, _ := ports.Pick()
	f := FreeRADIUS{Dir: filepath.Join(dir, "raddb"), Port: port, Secret: "a-secret-of-16-characters", Threads: 2, Authorize: users}
	if err := f.Write(); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second Write: got %v, want a refusal", err)
	}
	conf, _ := os.ReadFile(filepath.Join(f.Dir, "radiusd.conf"))
	for _, want := range []string{"\n\tstart_servers = 2\n", "\nmax_requests = 1048576\n", "\nproxy_requests = no\n", "\nraddbdir = " + f.Dir + "\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("radiusd.conf lacks %q", want)
		}
	}
	p, err := f.Start(t.Context(), bin, filepath.Join(dir, "freeradius.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := CheckRadclient(ctx, "127.0.0.1:"+strconv.Itoa(port), f.Secret, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	if err := CheckRadclient(ctx, "127.0.0.1:"+strconv.Itoa(port), f.Secret, "alice", "wrong"); err == nil {
		t.Error("a wrong password passed the check")
	}
}

func TestFreeRADIUSRefuses(t *testing.T) {
	err := FreeRADIUS{Dir: t.TempDir(), Secret: "short", Threads: 0, LDAP: &FreeRADIUSLDAP{Pool: 0, Password: "it's"}}.Write()
	for _, want := range []string{"16 characters", "threads 0", "pool 0", "may not hold", "exists"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}

// TestSlapdAndEtcd starts the benchmark's directory and store.
func TestSlapdAndEtcd(t *testing.T) {
	need(t, NeedSlapd, NeedEtcd)
	dir := t.TempDir()
	s, err := StartSlapd(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Pid() == 0 || !strings.HasPrefix(s.URL(), "ldap://127.0.0.1:") {
		t.Errorf("slapd: pid %d, URL %s", s.Pid(), s.URL())
	}
	if pw, err := os.ReadFile(s.PasswordFile); err != nil || string(pw) != s.ServicePassword {
		t.Errorf("password file: %q, %v", pw, err)
	}
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Errorf("service bind: %v", err)
	}
	if SlapdVersion() == "" {
		t.Error("no slapd version")
	}
	edir := filepath.Join(dir, "etcd")
	os.Mkdir(edir, 0o700)
	e, err := StartEtcd(t.Context(), edir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop()
	if e.Pid() == 0 || !strings.HasPrefix(e.URL(), "http://127.0.0.1:") {
		t.Errorf("etcd: pid %d, URL %s", e.Pid(), e.URL())
	}
	if EtcdVersion() == "" {
		t.Error("no etcd version")
	}
}
