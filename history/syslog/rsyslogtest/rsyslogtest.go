// Package rsyslogtest runs a real rsyslogd (Debian's rsyslog, with
// rsyslog-gnutls for TLS) for tests: a private configuration in a temp
// dir, inputs on free loopback ports (imudp; imtcp plain; imtcp over TLS
// with the gtls driver, one input without and one with client
// certificates), every message written as one JSON line that keeps the
// RFC 5424 header fields and the MSG apart, and a process the test stops
// by pid. It never installs anything: a test whose rsyslogd is missing
// fails with the command to run (`make peers` installs it).
package rsyslogtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// installCommand is what a non-root user is told to run.
const installCommand = "sudo apt-get install -y rsyslog rsyslog-gnutls"

// Inputs of the server (Message.Input).
const (
	InputUDP       = "udp"
	InputTCP       = "tcp"
	InputTLS       = "tls"
	InputTLSClient = "tls-client" // TLS that demands a client certificate signed by the CA
)

// probeMsgID marks the datagrams Start sends until one is written: the
// server is then ready. Messages leaves them out.
const probeMsgID = "rsyslogtest-probe"

// Server is a running rsyslogd. Its methods are safe for concurrent use.
type Server struct {
	// UDPAddr, TCPAddr, TLSAddr and TLSClientAddr are the inputs'
	// 127.0.0.1:port.
	UDPAddr, TCPAddr, TLSAddr, TLSClientAddr string
	// serverCert, serverKey are rsyslogd's own (writeCerts).
	serverCert, serverKey string
	// CAFile signs the server's certificate (for 127.0.0.1 and
	// localhost) and the client certificate in ClientCertFile and
	// ClientKeyFile, which TLSClientAddr demands.
	CAFile, ClientCertFile, ClientKeyFile string

	t   testing.TB
	dir string
	out string // the messages file

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Message is one message as rsyslogd parsed it.
type Message struct {
	Input     string `json:"input"`
	Facility  int    `json:"facility,string"`
	Severity  int    `json:"severity,string"`
	Timestamp string `json:"timestamp"`
	Hostname  string `json:"hostname"`
	AppName   string `json:"app_name"`
	ProcID    string `json:"procid"`
	MsgID     string `json:"msgid"`
	SD        string `json:"sd"`
	Msg       string `json:"msg"`
}

// Path finds rsyslogd, which lives in /usr/sbin (not on every PATH).
func Path() string {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if p := filepath.Join(dir, "rsyslogd"); fileExists(p) {
			return p
		}
	}
	return ""
}

// gtlsInstalled reports whether rsyslog's gtls stream driver is there
// (Debian's rsyslog-gnutls).
func gtlsInstalled() bool {
	m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_gtls.so")
	return len(m) > 0 || fileExists("/usr/lib/rsyslog/lmnsd_gtls.so")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Start starts rsyslogd and registers its stop with t.Cleanup. It fails
// the test if rsyslogd is missing or cannot be started; it never skips.
func Start(t testing.TB) *Server {
	t.Helper()
	if Path() == "" || !gtlsInstalled() {
		t.Fatalf("rsyslogtest: rsyslogd or its gtls driver is not installed; run `make peers` as root, or: %s", installCommand)
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.out = filepath.Join(s.dir, "messages.json")
	if err := s.writeCerts(); err != nil {
		t.Fatalf("rsyslogtest: certificates: %v", err)
	}
	// Free ports are found by listening on :0 and closing; another
	// process may take one in between, so try a few times.
	var err error
	for range 5 {
		if err = s.pickPorts(); err != nil {
			break
		}
		if err = s.start(); err == nil || !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		t.Fatalf("rsyslogtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) pickPorts() error {
	var err error
	for _, a := range []*string{&s.TCPAddr, &s.TLSAddr, &s.TLSClientAddr} {
		if *a, err = freeAddr("tcp"); err != nil {
			return err
		}
	}
	s.UDPAddr, err = freeAddr("udp")
	return err
}

func freeAddr(network string) (string, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

var confTemplate = template.Must(template.New("rsyslog.conf").Parse(`# rsyslogtest: a private rsyslogd on loopback.
global(
  workDirectory="{{.Dir}}"
  net.enableDNS="off"
  defaultNetstreamDriverCAFile="{{.CA}}"
  defaultNetstreamDriverCertFile="{{.Cert}}"
  defaultNetstreamDriverKeyFile="{{.Key}}"
)
module(load="imudp")
module(load="imtcp")

# Every message as one JSON line: the header fields, the structured
# data and the MSG each on their own.
template(name="json" type="list" option.jsonf="on") {
  property(outname="input" name="inputname" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app_name" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
ruleset(name="received") {
  action(type="omfile" file="{{.Out}}" template="json")
}

input(type="imudp" address="127.0.0.1" port="{{.UDP}}" name="udp" ruleset="received")
input(type="imtcp" address="127.0.0.1" port="{{.TCP}}" name="tcp" ruleset="received")
input(type="imtcp" address="127.0.0.1" port="{{.TLS}}" name="tls" ruleset="received"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="{{.TLSClient}}" name="tls-client" ruleset="received"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")

# rsyslogd's own messages.
*.* action(type="omfile" file="{{.Dir}}/rsyslogd.log")
`))

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// start writes the configuration for the chosen ports, starts rsyslogd
// and waits until a probe datagram is written.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("rsyslogd is already running")
	}
	conf := filepath.Join(s.dir, "rsyslog.conf")
	var b bytes.Buffer
	err := confTemplate.Execute(&b, map[string]string{
		"Dir": s.dir, "CA": s.CAFile, "Cert": s.serverCert, "Key": s.serverKey,
		"Out": s.out, "UDP": port(s.UDPAddr), "TCP": port(s.TCPAddr), "TLS": port(s.TLSAddr), "TLSClient": port(s.TLSClientAddr),
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(conf, b.Bytes(), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "stderr.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	// -n: in the foreground, so its pid is ours; -i: its own pid file,
	// not the system's.
	cmd := exec.Command(Path(), "-n", "-f", conf, "-i", filepath.Join(s.dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rsyslogd: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := s.waitReady(p.done, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		out, _ := os.ReadFile(logPath)
		own, _ := os.ReadFile(filepath.Join(s.dir, "rsyslogd.log"))
		return fmt.Errorf("rsyslogd on %s: %w\n%s%s", s.UDPAddr, err, out, own)
	}
	s.proc = p
	return nil
}

// errExited is rsyslogd exiting while Start waits for it (a port taken,
// a bad configuration).
var errExited = errors.New("rsyslogd exited")

// waitReady waits until every TCP input takes a connection and a probe
// datagram sent to the UDP input is written to the messages file (it is
// sent again every 100 ms: rsyslogd may not listen yet), or rsyslogd
// exits, or the time is up.
func (s *Server) waitReady(exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	probe := fmt.Sprintf("<14>1 - - rsyslogtest - %s - %d", probeMsgID, time.Now().UnixNano())
	tcpReady := false
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		if !tcpReady {
			tcpReady = true
			for _, a := range []string{s.TCPAddr, s.TLSAddr, s.TLSClientAddr} {
				c, err := net.DialTimeout("tcp", a, time.Second)
				if err != nil {
					tcpReady = false
					break
				}
				c.Close()
			}
		}
		if tcpReady {
			if c, err := net.Dial("udp", s.UDPAddr); err == nil {
				c.Write([]byte(probe))
				c.Close()
			}
			if b, _ := os.ReadFile(s.out); bytes.Contains(b, []byte(probe[strings.LastIndexByte(probe, ' ')+1:])) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Messages returns the messages received so far, in the order written,
// without Start's probes.
func (s *Server) Messages() ([]Message, error) {
	f, err := os.Open(s.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 0 && line[len(line)-1] != '}' {
			break // a line still being written
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("rsyslogtest: line %q: %w", line, err)
		}
		if m.MsgID != probeMsgID {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// Wait returns the messages that match, once there are at least n of
// them; it fails the test when they do not come within 15 seconds.
func (s *Server) Wait(t testing.TB, n int, match func(Message) bool) []Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		all, err := s.Messages()
		if err != nil {
			t.Fatal(err)
		}
		var got []Message
		for _, m := range all {
			if match == nil || match(m) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			own, _ := os.ReadFile(filepath.Join(s.dir, "rsyslogd.log"))
			t.Fatalf("rsyslogtest: %d matching messages after 15s, want %d; all %d received: %+v\nrsyslogd's own log:\n%s", len(got), n, len(all), all, own)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops rsyslogd: SIGTERM, then SIGKILL if it has not exited within
// 5 s. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Restart starts rsyslogd again on the same ports, after Stop (or stops
// it first), appending to the same messages file.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	// The ports were rsyslogd's until just now; it may need a moment to
	// get them back.
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("rsyslogtest: restart: %v", err)
}

// Pid is rsyslogd's process id; 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}
