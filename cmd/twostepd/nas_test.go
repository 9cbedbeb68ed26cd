package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/notify"
)

// These tests put real NAS software in front of twostepd, as Debian 12
// ships it: pam_radius_auth 2.0 driven by pamtester, and ocserv 1.1 (radcli
// 1.2) driven by openconnect. Neither sends Message-Authenticator.

// peerCommand returns the path of a test peer's command (also looked for
// in the sbin directories, where Debian puts ocserv and openconnect), or
// fails with the command that installs it.
func peerCommand(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	t.Fatalf("%s not found: run `make test` as root, or `apt-get install -y %s`", name, pkg)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// pamModule fails with the command that installs pam_radius_auth when
// the module is missing.
func pamModule(t *testing.T) {
	t.Helper()
	for _, pattern := range []string{"/lib/*/security/pam_radius_auth.so", "/usr/lib/*/security/pam_radius_auth.so", "/lib/security/pam_radius_auth.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
	}
	t.Fatal("pam_radius_auth.so not found: run `make test` as root, or `apt-get install -y libpam-radius-auth`")
}

// pamService writes a PAM service that asks twostepd through
// pam_radius_auth with the server file line server, and returns its
// name. Linux-PAM reads services from /etc/pam.d only: the file is
// removed when the test ends.
func pamService(t *testing.T, server string) string {
	t.Helper()
	pamModule(t)
	if os.Geteuid() != 0 {
		t.Fatal("pamtester's PAM service must be written to /etc/pam.d: run the tests as root (as `make test` does in CI)")
	}
	conf := filepath.Join(t.TempDir(), "pam_radius_auth.conf")
	if err := os.WriteFile(conf, []byte(server+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := fmt.Sprintf("twostep-test-%x", b)
	path := filepath.Join("/etc/pam.d", name)
	service := fmt.Sprintf("auth required pam_radius_auth.so conf=%s client_id=pamtest\naccount required pam_permit.so\n", conf)
	if err := os.WriteFile(path, []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// pamtester authenticates user through service, typing input, and returns
// its output and whether it authenticated.
func pamtester(t *testing.T, service, user, input string) (string, bool) {
	t.Helper()
	bin := peerCommand(t, "pamtester", "pamtester")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-v", service, user, "authenticate")
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "successfully authenticated")
}

// TestPAMRadius drives pam_radius_auth 2.0, which never sends
// Message-Authenticator and waits 3 s for one try: a client with
// require_message_authenticator auto takes it; one with true drops it,
// and the drop line says what to change; a push approved after the NAS
// gave up is logged as nas_gave_up with the client's configured wait.
func TestPAMRadius(t *testing.T) {
	// pam_radius_auth sends from 127.0.0.1, or from the server line's
	// source address: 127.0.0.3 is the client that requires the attribute.
	// pam-auto says its NAS waits 3 s and retransmits twice: pam_radius
	// does not retransmit.
	pc := startPushClusterWith(t, 1, fmt.Sprintf(`clients:
  - {name: pam-auto, networks: [127.0.0.1], secret: %[1]s, require_message_authenticator: auto, nas_timeout: 3s, nas_retries: 2}
  - {name: pam-strict, networks: [127.0.0.3], secret: %[1]s}
passcodes: {unenrolled: {action: allow}}
`, testSecret))
	d := pc.a
	_, port, _ := net.SplitHostPort(d.radius)

	t.Run("auto takes a request without Message-Authenticator", func(t *testing.T) {
		service := pamService(t, fmt.Sprintf("127.0.0.1:%s %s 3", port, testSecret))
		// carol0 has no device: the demo's grace lets her in.
		if out, ok := pamtester(t, service, clusterUser+"0", clusterPassword+"\n"); !ok {
			t.Fatalf("pamtester: want success\n%s\n%s", out, d.logText())
		}
		line := d.requestLine(t, `"user":"carol0"`)
		if line["client"] != "pam-auto" || line["decision"] != "accept" || line["nas_identifier"] != "pamtest" {
			t.Errorf("request line %v, want pam-auto's accept with NAS-Identifier pamtest", line)
		}
	})

	t.Run("true drops it, naming the option", func(t *testing.T) {
		service := pamService(t, fmt.Sprintf("127.0.0.1:%s %s 3 127.0.0.3", port, testSecret))
		if out, ok := pamtester(t, service, clusterUser+"1", clusterPassword+"\n"); ok {
			t.Fatalf("pamtester authenticated through a client that requires Message-Authenticator\n%s", out)
		}
		d.waitLog(t, `"client":"pam-strict","option":"require_message_authenticator","setting":"true"`)
		d.waitLog(t, "pam_radius_auth before 3.0 (Debian 12's 2.0)")
		if got := d.metric(t, `twostep_radius_packets_dropped_total{cause="missing_message_authenticator"}`); got != "1" {
			t.Errorf("missing_message_authenticator drops: got %q, want 1 (pam_radius sends once)", got)
		}
	})

	t.Run("an approval after the NAS gave up is logged as such", func(t *testing.T) {
		service := pamService(t, fmt.Sprintf("127.0.0.1:%s %s 3", port, testSecret))
		type result struct {
			out string
			ok  bool
		}
		done := make(chan result, 1)
		sent := time.Now()
		go func() {
			out, ok := pamtester(t, service, clusterUser, clusterPassword+"\n")
			done <- result{out, ok}
		}()
		m := pc.notification(t)
		// twostepd waits 8.1 s (3 s × 3 tries, less 10%); pam_radius
		// gives up after 3 s. The phone answers at 4.5 s.
		time.Sleep(time.Until(sent.Add(4500 * time.Millisecond)))
		if _, status, err := pc.answer(t, m, cluster.PushApproved); err != nil || status != 200 {
			t.Fatalf("approve: %d %v", status, err)
		}
		r := <-done
		if r.ok {
			t.Fatalf("pamtester authenticated after pam_radius gave up:\n%s", r.out)
		}
		line := d.requestLine(t, `"nas_gave_up":true`)
		want := map[string]any{"client": "pam-auto", "decision": "accept", "reason": "push_approved", "nas_timeout": "3s", "nas_retries": float64(2), "level": "warn", "user": clusterUser}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%s: got %v, want %v in %v", k, line[k], v, line)
			}
		}
		if ms, _ := line["since_last_copy_ms"].(float64); ms < 3000 {
			t.Errorf("since_last_copy_ms %v, want more than the 3 s pam_radius waited", line["since_last_copy_ms"])
		}
		if got := d.metric(t, `twostep_radius_nas_gave_up_total{client="pam-auto"}`); got != "1" {
			t.Errorf("twostep_radius_nas_gave_up_total: got %q, want 1", got)
		}
	})
}

// ocservCert writes a certificate and key for 127.0.0.1 into dir and
// returns their paths and the pin openconnect checks it with.
func ocservCert(t *testing.T, dir string) (certFile, keyFile, pin string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spki)
	return certFile, keyFile, "pin-sha256:" + base64.StdEncoding.EncodeToString(sum[:])
}

// startOcserv starts ocserv in the foreground on a free loopback port,
// authenticating through radcli against radiusAddr, and returns the URL
// openconnect connects to and the certificate's pin. It is stopped by pid
// (its process group: ocserv forks sec-mod and workers) when the test
// ends. radcli waits radiusTimeout seconds per try, radiusRetries tries.
func startOcserv(t *testing.T, radiusAddr string, radiusTimeout, radiusRetries int) (url, pin string, log *lockedBuffer) {
	t.Helper()
	bin := peerCommand(t, "ocserv", "ocserv")
	// ocserv's workers drop to nobody and must reach the sec-mod socket:
	// a directory of its own in /tmp, open to them (t.TempDir's parent is
	// not).
	dir, err := os.MkdirTemp("", "twostep-ocserv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pin := ocservCert(t, dir)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	servers := write("servers", fmt.Sprintf("%s %s\n", strings.Split(radiusAddr, ":")[0], testSecret), 0o600)
	radcli := write("radiusclient.conf", fmt.Sprintf(`nas-identifier ocserv-test
authserver %s
servers %s
dictionary /etc/radcli/dictionary
radius_timeout %d
radius_retries %d
bindaddr 127.0.0.1
`, radiusAddr, servers, radiusTimeout, radiusRetries), 0o644)
	port := freePort(t)
	conf := write("ocserv.conf", fmt.Sprintf(`auth = "radius[config=%s,groupconfig=false]"
listen-host = 127.0.0.1
tcp-port = %d
socket-file = %s
server-cert = %s
server-key = %s
isolate-workers = false
use-occtl = false
pid-file = %s
max-clients = 8
max-ban-score = 0
device = vpns
ipv4-network = 192.0.2.0/24
run-as-user = nobody
run-as-group = nogroup
`, radcli, port, filepath.Join(dir, "ocserv.sock"), certFile, keyFile, filepath.Join(dir, "ocserv.pid")), 0o644)

	log = &lockedBuffer{}
	cmd := exec.Command(bin, "-f", "-d", "2", "-c", conf)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("ocserv exited at start:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ocserv not listening after 15s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("https://127.0.0.1:%d", port), pin, log
}

// TestOcservPressEnter logs in through ocserv and openconnect with a phone
// slower than the NAS's wait: the password, then the Access-Challenge
// "Approve the login on your phone, then press Enter"; the phone approves;
// the user presses Enter, which radcli sends as a User-Password of length
// 0 with the State; the login is accepted and openconnect gets its cookie.
func TestOcservPressEnter(t *testing.T) {
	// ocserv's radcli waits 4 s per try and tries twice; the client entry
	// says so, so twostepd answers the challenge after 7.2 s. (With 2 s a
	// loaded test machine answered the Enter after radcli had given up
	// and sent it anew: the State, spent by the first, refused the second.)
	pc := startPushClusterWith(t, 1, fmt.Sprintf(`clients:
  - {name: ocserv, networks: [127.0.0.1], secret: %s, require_message_authenticator: auto, nas_timeout: 4s, nas_retries: 1}
`, testSecret))
	d := pc.a
	url, pin, ocservLog := startOcserv(t, d.radius, 4, 1)
	bin := peerCommand(t, "openconnect", "openconnect")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--authenticate", "--passwd-on-stdin", "-u", clusterUser, "--servercert", pin, url)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	io.WriteString(stdin, clusterPassword+"\n")

	var m notify.Message
	select {
	case m = <-pc.phone.Messages():
	case <-time.After(15 * time.Second):
		t.Fatalf("no push notification within 15s\nopenconnect:\n%s\nocserv:\n%s\ntwostepd:\n%s", out.String(), ocservLog.String(), d.logText())
	}
	// The phone is slower than the NAS: twostepd answers the challenge
	// first, and openconnect shows it.
	line := d.requestLine(t, `"reason":"push_waiting"`)
	if line["client"] != "ocserv" || line["decision"] != "challenge" || line["calling_station_id"] == nil {
		t.Errorf("first round: got %v, want ocserv's challenge with the user's address in calling_station_id", line)
	}
	if _, status, err := pc.answer(t, m, cluster.PushApproved); err != nil || status != 200 {
		t.Fatalf("approve: %d %v", status, err)
	}
	// Enter, read when openconnect shows the challenge's form (its
	// output reaches the pipe when it exits).
	io.WriteString(stdin, "\n")
	stdin.Close()

	select {
	case err := <-exited:
		if err != nil || !strings.Contains(out.String(), "COOKIE=") {
			t.Fatalf("openconnect: %v, want a cookie\n%s\nocserv:\n%s\ntwostepd:\n%s", err, out.String(), ocservLog.String(), d.logText())
		}
	case <-ctx.Done():
		t.Fatalf("openconnect still running after 60s\n%s\ntwostepd:\n%s", out.String(), d.logText())
	}
	if !strings.Contains(out.String(), "Approve the login on your phone, then press Enter.") {
		t.Errorf("openconnect did not show the challenge's message:\n%s", out.String())
	}
	accept := d.requestLine(t, `"reason":"push_approved"`)
	if accept["client"] != "ocserv" || accept["decision"] != "accept" || accept["nas_identifier"] != "ocserv-test" {
		t.Errorf("second round: got %v, want ocserv's accept", accept)
	}
	if strings.Contains(d.logText(), `"cause":"bad_user_password"`) {
		t.Errorf("the empty answer was dropped as a bad User-Password:\n%s", d.logText())
	}
}
