package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/cluster"
	"twostep/cluster/etcdtest"
	"twostep/radiusd"
)

// These tests run the real twostepd binary, as an operator would, and talk
// to it with FreeRADIUS's radclient and with our own client side.

var daemonBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twostepd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBin = filepath.Join(dir, "twostepd")
	build := exec.Command("go", "build", "-o", daemonBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build twostepd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testSecret = "integration-secret-0123"

// demoUsers is configs/demo-users.yaml: demo-user / demo-password.
func demoUsers(t *testing.T) []byte {
	b, err := os.ReadFile("../../configs/demo-users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type daemonProc struct {
	cmd       *exec.Cmd
	dir       string
	radius    string // UDP address
	metrics   string // HTTP address
	mu        sync.Mutex
	log       bytes.Buffer
	exited    chan struct{}
	exitState *os.ProcessState
}

// writeConfig writes a config whose listeners use port 0; the daemon logs
// the addresses it bound.
func writeConfig(t *testing.T, dir, clients string) string {
	t.Helper()
	cfg := fmt.Sprintf(`log: {level: debug}
radius:
  listen: ["127.0.0.1:0"]
clients:
%s
directory:
  backend: file
  file: {path: users.yaml, watch: 100ms}
metrics: {listen: "127.0.0.1:0"}
%s`, clients, clusterYAML(t, dir))
	path := filepath.Join(dir, "twostep.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clusterYAML writes a seed key file into dir and returns the cluster and
// passcodes sections of a config: an embedded etcd on free loopback ports,
// and users without a device let in, as the RADIUS-layer tests expect.
func clusterYAML(t *testing.T, dir string) string {
	t.Helper()
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seed.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`cluster:
  embedded: {data_dir: etcd, client_url: "http://127.0.0.1:%d", peer_url: "http://127.0.0.1:%d"}
  seed_keys: seed.key
passcodes: {unenrolled: {action: allow}}
`, freePort(t), freePort(t))
}

// freePort returns a TCP port free on 127.0.0.1 a moment ago, for a
// listener the test configures (twostepd binds it later). Like
// wildcardPort it is below the kernel's ephemeral range, where an
// outgoing connection (to etcd, slapd, another node) could take it
// meanwhile, and never one this test process handed out before.
func freePort(t *testing.T) int {
	t.Helper()
	return pickPort(t, "127.0.0.1", "tcp")
}

// wildcardPort returns a port free for UDP and TCP on every address, below
// the kernel's ephemeral range: a RADIUS address's lock binds TCP too
// (radiusd.ListenGroup), and an ephemeral port may be any outgoing
// connection's local port a moment later, as 1812 never is.
func wildcardPort(t *testing.T) int {
	t.Helper()
	return pickPort(t, "", "udp", "tcp")
}

// handedOut are the ports pickPort returned in this process: parallel
// tests never get the same one.
var handedOut sync.Map

// pickPort returns a port between 20000 and 32000 that host can bind for
// every network in networks, and that no caller got before.
func pickPort(t *testing.T, host string, networks ...string) int {
	t.Helper()
	for range 200 {
		port := 20000 + mathrand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		free := true
		for _, network := range networks {
			var c io.Closer
			var err error
			addr := net.JoinHostPort(host, strconv.Itoa(port))
			if network == "udp" {
				c, err = net.ListenPacket(network, addr)
			} else {
				c, err = net.Listen(network, addr)
			}
			if err != nil {
				free = false
				break
			}
			c.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free for %v between 20000 and 32000", networks)
	return 0
}

func defaultClients() string {
	return fmt.Sprintf("  - {name: loopback, networks: [127.0.0.1], secret: %s}\n", testSecret)
}

func startDaemon(t *testing.T, clients string) *daemonProc {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDaemonConfig(t, writeConfig(t, dir, clients))
}

// startDaemonConfig starts twostepd on cfg and waits until it is ready.
func startDaemonConfig(t *testing.T, cfg string) *daemonProc {
	t.Helper()
	d := &daemonProc{dir: filepath.Dir(cfg), exited: make(chan struct{})}
	d.cmd = exec.Command(daemonBin, "-config", cfg)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan [2]string, 1)
	go func() {
		var radiusAddr, metricsAddr string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Bytes()
			d.mu.Lock()
			d.log.Write(line)
			d.log.WriteByte('\n')
			d.mu.Unlock()
			var e struct{ Message, Addr string }
			json.Unmarshal(line, &e)
			switch e.Message {
			case "radius listening":
				radiusAddr = e.Addr
			case "metrics listening":
				metricsAddr = e.Addr
			case "twostepd ready":
				addrs <- [2]string{radiusAddr, metricsAddr}
			}
		}
		d.cmd.Wait()
		d.exitState = d.cmd.ProcessState
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case a := <-addrs:
		d.radius, d.metrics = a[0], a[1]
	case <-d.exited:
		t.Fatalf("twostepd exited at start:\n%s", d.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("twostepd not ready after 30s:\n%s", d.logText())
	}
	return d
}

func (d *daemonProc) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// stop sends SIGTERM and waits; the process is killed by pid if it hangs.
func (d *daemonProc) stop(t *testing.T) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Errorf("twostepd ignored SIGTERM for 20s")
	}
}

// waitLog waits until the daemon's log contains s.
func (d *daemonProc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(d.logText(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log never contained %q:\n%s", s, d.logText())
}

func (d *daemonProc) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get("http://" + d.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// radclient runs FreeRADIUS's radclient, the peer every NAS vendor's
// behaviour is checked against.
func radclient(t *testing.T, addr, code, secret, attrs string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("radclient")
	if err != nil {
		t.Fatal("radclient not found: run `make test` as root, or `apt-get install -y freeradius-utils`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-x", "-r", "1", "-t", "2", addr, code, secret)
	cmd.Stdin = strings.NewReader(attrs)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestRadclient(t *testing.T) {
	d := startDaemon(t, defaultClients())
	cases := []struct {
		name, code, secret, attrs, want string
		fail                            bool
	}{
		{"accept", "auth", testSecret, "User-Name = demo-user\nUser-Password = demo-password\nMessage-Authenticator = 0x00\n", "Received Access-Accept", false},
		{"reject", "auth", testSecret, "User-Name = demo-user\nUser-Password = nope\nMessage-Authenticator = 0x00\n", "Received Access-Reject", true},
		{"unknown user", "auth", testSecret, "User-Name = nobody\nUser-Password = demo-password\nMessage-Authenticator = 0x00\n", "Received Access-Reject", true},
		{"proxy-state echoed", "auth", testSecret, "User-Name = demo-user\nUser-Password = demo-password\nProxy-State = 0x6f6e65\nProxy-State = 0x74776f\nMessage-Authenticator = 0x00\n", "Proxy-State = 0x6f6e65\n\tProxy-State = 0x74776f", false},
		{"chap refused with a reason", "auth", testSecret, "User-Name = demo-user\nCHAP-Password = demo-password\nMessage-Authenticator = 0x00\n", "CHAP", true},
		{"no message-authenticator: no answer", "auth", testSecret, "User-Name = demo-user\nUser-Password = demo-password\n", "No reply", true},
		{"wrong secret: no answer", "auth", "not-the-secret", "User-Name = demo-user\nUser-Password = demo-password\nMessage-Authenticator = 0x00\n", "No reply", true},
		{"status-server", "status", testSecret, "Message-Authenticator = 0x00\n", "Received Access-Accept", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := radclient(t, d.radius, tc.code, tc.secret, tc.attrs)
			if (err != nil) != tc.fail {
				t.Errorf("radclient error %v, want failure %v", err, tc.fail)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("radclient output lacks %q:\n%s", tc.want, out)
			}
		})
	}
	if strings.Contains(d.logText(), "demo-password") || strings.Contains(d.logText(), testSecret) {
		t.Errorf("the log contains a password or the secret:\n%s", d.logText())
	}
	if got := d.metric(t, `twostep_radius_packets_dropped_total{cause="missing_message_authenticator"}`); got != "1" {
		t.Errorf("missing M-A drops: got %q, want 1", got)
	}
}

// exchange sends raw bytes and waits 3 s for one answer.
func exchange(t *testing.T, conn *net.UDPConn, pkt []byte) []byte {
	t.Helper()
	return exchangeWithin(t, conn, pkt, 3*time.Second)
}

// exchangeWithin sends raw bytes and waits d for one answer.
func exchangeWithin(t *testing.T, conn *net.UDPConn, pkt []byte, d time.Duration) []byte {
	t.Helper()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func accessRequest(t *testing.T, secret, user, password string) []byte {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, password)
	b, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dial(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRetransmissionAnsweredFromCache(t *testing.T) {
	d := startDaemon(t, defaultClients())
	conn := dial(t, d.radius)
	req := accessRequest(t, testSecret, "demo-user", "demo-password")
	first := exchange(t, conn, req)
	second := exchange(t, conn, req)
	if first == nil || !bytes.Equal(first, second) {
		t.Fatalf("retransmission: got %x, want the first answer %x again", second, first)
	}
	if err := radiusd.VerifyResponse(first, req, []byte(testSecret)); err != nil {
		t.Fatal(err)
	}
	if first[0] != byte(radius.CodeAccessAccept) {
		t.Errorf("code: got %d, want Access-Accept", first[0])
	}
	if got := d.metric(t, `twostep_radius_requests_total{client="loopback",code="accept",reason="unenrolled_grace"}`); got != "1" {
		t.Errorf("decided requests: got %q, want 1 (the retransmission must not be decided again)", got)
	}
}

func TestUnknownClientDropped(t *testing.T) {
	d := startDaemon(t, fmt.Sprintf("  - {name: elsewhere, networks: [127.0.0.2], secret: %s}\n", testSecret))
	conn := dial(t, d.radius)
	if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got != nil {
		t.Fatalf("unknown client got an answer: %x", got)
	}
	if got := d.metric(t, `twostep_radius_packets_dropped_total{cause="unknown_client"}`); got != "1" {
		t.Errorf("unknown client drops: got %q, want 1", got)
	}
}

// TestReload changes the secret and the users file under a running daemon.
func TestReload(t *testing.T) {
	d := startDaemon(t, defaultClients())
	conn := dial(t, d.radius)
	if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got == nil || got[0] != byte(radius.CodeAccessAccept) {
		t.Fatalf("before reload: got %x, want Access-Accept", got)
	}
	const newSecret = "the-rotated-secret-4567"
	writeConfig(t, d.dir, fmt.Sprintf("  - {name: loopback, networks: [127.0.0.1], secret: %s}\n", newSecret))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "configuration reloaded")
	if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got != nil {
		t.Errorf("old secret after reload: got an answer %x, want none", got)
	}
	if got := exchange(t, conn, accessRequest(t, newSecret, "demo-user", "demo-password")); got == nil || got[0] != byte(radius.CodeAccessAccept) {
		t.Errorf("new secret after reload: got %x, want Access-Accept", got)
	}
	// writeConfig chose the embedded etcd's ports afresh: the cluster
	// section changed, which a restart applies; the clients, applied, are
	// no warning.
	d.waitLog(t, `"section":"cluster"`)
	if strings.Contains(d.logText(), `"section":"clients"`) {
		t.Errorf("the reloaded clients were warned about:\n%s", d.logText())
	}

	// Changes to the log, push and portal sections are each named in a
	// warning: they take effect at the next restart.
	path := filepath.Join(d.dir, "twostep.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "log: {level: debug}", "log: {level: info}", 1) +
		"push: {listen: \"127.0.0.1:0\"}\nportal: {listen: \"127.0.0.1:0\", tls: {self_signed: true}}\n"
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	for _, section := range []string{"log", "push", "portal"} {
		d.waitLog(t, `"message":"`+section+` settings changed; they take effect at the next restart"`)
	}

	// A users file disabling demo-user is picked up by the watcher.
	users := strings.Replace(string(demoUsers(t)), "groups: [vpn-users]", "groups: [vpn-users]\n    disabled: true", 1)
	if err := os.WriteFile(filepath.Join(d.dir, "users.yaml"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := exchange(t, conn, accessRequest(t, newSecret, "demo-user", "demo-password"))
		if got != nil && got[0] == byte(radius.CodeAccessReject) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("disabled user still accepted 10s after the users file changed:\n%s", d.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A broken config on SIGHUP changes nothing.
	os.WriteFile(filepath.Join(d.dir, "twostep.yaml"), []byte("clients: oops\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "reload refused")
	if got := exchange(t, conn, accessRequest(t, newSecret, "nobody", "x")); got == nil {
		t.Error("after a refused reload the daemon stopped answering")
	}
	for result, want := range map[string]string{"ok": "2", "error": "1"} {
		if got := d.metric(t, `twostep_config_reloads_total{result="`+result+`"}`); got != want {
			t.Errorf("reloads %s: got %q, want %s", result, got, want)
		}
	}
}

func TestStopsOnSIGTERM(t *testing.T) {
	d := startDaemon(t, defaultClients())
	resp, err := http.Get("http://" + d.metrics + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20s after SIGTERM")
	}
	if !d.exitState.Success() {
		t.Errorf("exit after SIGTERM: %v, want 0\n%s", d.exitState, d.logText())
	}
	if !strings.Contains(d.logText(), "twostepd stopped") {
		t.Errorf("no clean stop in the log:\n%s", d.logText())
	}
}

func TestCheckFlag(t *testing.T) {
	t.Run("demo config", func(t *testing.T) {
		// The demo's paths as in a checkout, with the seed key make run
		// would create.
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "configs"), 0o755)
		os.MkdirAll(filepath.Join(root, "var", "demo"), 0o755)
		for _, f := range []string{"demo.yaml", "demo-users.yaml"} {
			b, err := os.ReadFile(filepath.Join("../../configs", f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(root, "configs", f), b, 0o600)
		}
		key, _ := cluster.NewKeyFile(rand.Reader, time.Now())
		os.WriteFile(filepath.Join(root, "var", "demo", "seed.key"), key, 0o600)
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"-config", filepath.Join(root, "configs", "demo.yaml"), "-check"}, &out, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"OK", "client localhost", "warning: client localhost",
			"Message-Authenticator required: auto", "warning: client localhost has require_message_authenticator: auto"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-check output lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "testing123") {
			t.Error("-check printed the secret")
		}
	})
	t.Run("bad config lists every problem", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "bad.yaml")
		os.WriteFile(path, []byte("radius:\n  workers: -1\nclients: []\ndirectory: {backend: nis}\n"), 0o600)
		cmd := exec.Command(daemonBin, "-config", path, "-check")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("-check accepted a bad file:\n%s", out)
		}
		for _, want := range []string{"bad.yaml:2: radius.workers", "bad.yaml:3: clients", "bad.yaml:4: directory.backend"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	for _, flag := range []string{"-h", "-help", "--help"} {
		t.Run("help "+flag, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(daemonBin, flag)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("%s: %v, want exit status 0", flag, err)
			}
			if out := stdout.String(); !strings.Contains(out, "Usage: twostepd") || !strings.Contains(out, "-check") || !strings.Contains(out, "TWOSTEP_CONFIG") {
				t.Errorf("%s: stdout:\n%s", flag, out)
			}
			if stderr.Len() != 0 {
				t.Errorf("%s: stderr: got %q, want nothing", flag, stderr.String())
			}
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := exec.Command(daemonBin, "-chekc")
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Error("-chekc: exit status 0, want a failure")
		}
		if !strings.Contains(stderr.String(), "flag provided but not defined: -chekc") || !strings.Contains(stderr.String(), "Usage: twostepd") {
			t.Errorf("stderr:\n%s", stderr.String())
		}
	})
}

// TestWildcardListenersBothFamilies: 0.0.0.0 and [::] on one port, as
// configs/example.yaml lists them, must both bind.
func TestWildcardListenersBothFamilies(t *testing.T) {
	port := wildcardPort(t)
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		// A kernel without IPv6 is a property of the machine, not a
		// missing peer: nothing can be installed to fix it.
		t.Skipf("no IPv6 loopback on this machine (%v)", err)
	} else {
		c.Close()
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600)
	cfg := filepath.Join(dir, "twostep.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `log: {level: debug}
radius: {listen: ["0.0.0.0:%d", "[::]:%d"]}
clients: [{name: loopback, networks: [127.0.0.1, "::1"], secret: %s}]
directory: {backend: file, file: {path: users.yaml}}
metrics: {listen: "127.0.0.1:0"}
%s`, port, port, testSecret, clusterYAML(t, dir)), 0o600)
	d := startDaemonConfig(t, cfg)
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("[::1]:%d", port)} {
		conn := dial(t, addr)
		if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got == nil || got[0] != byte(radius.CodeAccessAccept) {
			t.Errorf("%s: got %x, want Access-Accept\n%s", addr, got, d.logText())
		}
	}
}

// TestEmbeddedEtcdClientCertificates: an embedded etcd that demands
// client and peer certificates serves twostepd, which reaches it with the
// client certificate of the cluster section.
func TestEmbeddedEtcdClientCertificates(t *testing.T) {
	dir := t.TempDir()
	pki := etcdtest.NewPKI(t, dir)
	os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600)
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "seed.key"), key, 0o600)
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(dir, "twostep.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `log: {level: debug}
radius: {listen: ["127.0.0.1:0"]}
clients: [{name: loopback, networks: [127.0.0.1], secret: %s}]
directory: {backend: file, file: {path: users.yaml}}
metrics: {listen: "127.0.0.1:0"}
cluster:
  embedded:
    data_dir: etcd
    client_url: %s
    peer_url: https://127.0.0.1:%d
    cert_file: %s
    key_file: %s
    client_ca_file: %s
    peer_cert_file: %s
    peer_key_file: %s
    peer_ca_file: %s
  ca_file: %s
  cert_file: %s
  key_file: %s
  seed_keys: seed.key
passcodes: {unenrolled: {action: allow}}
`, testSecret, clientURL, freePort(t),
		pki.ServerCert, pki.ServerKey, pki.CACert, pki.PeerCert, pki.PeerKey, pki.CACert,
		pki.CACert, pki.ClientCert, pki.ClientKey), 0o600)
	d := startDaemonConfig(t, cfg)
	if !strings.Contains(d.logText(), clientURL) {
		t.Errorf("the log does not name the embedded etcd at %s:\n%s", clientURL, d.logText())
	}
	// Letting in a user without a device takes a read of etcd; with the
	// default failmode (secure) an unreachable store would reject.
	conn := dial(t, d.radius)
	if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got == nil || got[0] != byte(radius.CodeAccessAccept) {
		t.Errorf("got %x, want Access-Accept\n%s", got, d.logText())
	}
}

// TestRADIUSAddressTaken starts a second twostepd on the RADIUS address of
// a running one: SO_REUSEPORT would let it join the port and take part of
// the NAS traffic, so it must fail its start, saying why, while the first
// keeps answering. Once the first has stopped, the second starts.
func TestRADIUSAddressTaken(t *testing.T) {
	first := startDaemon(t, defaultClients())
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, defaultClients())
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`listen: ["127.0.0.1:0"]`), fmt.Appendf(nil, "listen: [%q]", first.radius), 1)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, daemonBin, "-config", cfg).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a second twostepd on %s ran for 30s:\n%s", first.radius, out)
	}
	want := "radius listen " + first.radius + ": radiusd: the address is in use by another process"
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("second twostepd on %s: got %v, want an exit saying %q:\n%s", first.radius, err, want, out)
	}
	conn := dial(t, first.radius)
	if got := exchange(t, conn, accessRequest(t, testSecret, "demo-user", "demo-password")); got == nil || got[0] != byte(radius.CodeAccessAccept) {
		t.Errorf("the first twostepd after the second failed: got %x, want Access-Accept", got)
	}

	first.stop(t)
	second := startDaemonConfig(t, cfg)
	if second.radius != first.radius {
		t.Errorf("second twostepd on %s, want %s", second.radius, first.radius)
	}
}

// requestLine waits for the request log line that holds s and returns
// its fields.
func (d *daemonProc) requestLine(t *testing.T, s string) map[string]any {
	t.Helper()
	d.waitLog(t, s)
	for _, l := range strings.Split(d.logText(), "\n") {
		if strings.Contains(l, s) && strings.Contains(l, `"message":"radius request"`) {
			var line map[string]any
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			return line
		}
	}
	t.Fatalf("no radius request line holds %q:\n%s", s, d.logText())
	return nil
}
