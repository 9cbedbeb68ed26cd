package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"

	"twostep/configs"
	"twostep/loglimit"
)

// jsonLines fails the test unless every line of out is one JSON object
// with a level and a message; it returns them.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var o map[string]any
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Errorf("not a JSON object: %q", sc.Text())
			continue
		}
		if _, ok := o["level"].(string); !ok {
			t.Errorf("no level: %q", sc.Text())
		}
		if _, ok := o["message"].(string); !ok {
			t.Errorf("no message: %q", sc.Text())
		}
		objs = append(objs, o)
	}
	return objs
}

// TestEtcdLogShape: the embedded etcd's lines come out as the daemon's:
// level, time, message, etcd's fields; warnings only at debug level.
func TestEtcdLogShape(t *testing.T) {
	tests := []struct {
		name  string
		level zerolog.Level
		want  int // lines of the three logged
	}{
		{"debug", zerolog.DebugLevel, 2},
		{"info", zerolog.InfoLevel, 1},
		{"error", zerolog.ErrorLevel, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			lg := etcdLog(newLogger(configs.Log{Level: tt.level, Format: "json"}, &b)).Named("etcd")
			lg.With(zap.String("member", "twostep")).Info("started", zap.Int("port", 2379))
			lg.Warn("slow fdatasync", zap.Duration("took", time.Second))
			lg.Error("failed to publish", zap.Error(fmt.Errorf("no leader")))
			lines := jsonLines(t, b.String())
			if len(lines) != tt.want {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), tt.want, b.String())
			}
			last := lines[len(lines)-1]
			for k, v := range map[string]any{"level": "error", "logger": "etcd", "message": "failed to publish", "error": "no leader"} {
				if last[k] != v {
					t.Errorf("%s: got %v, want %v (%s)", k, last[k], v, b.String())
				}
			}
			if _, ok := last["time"]; !ok {
				t.Errorf("no time: %s", b.String())
			}
		})
	}
}

// TestLibraryLogsRedirected: what libraries write to the standard
// library's log and to gRPC's comes out as the daemon's JSON lines.
func TestLibraryLogsRedirected(t *testing.T) {
	var b lockedBuffer
	zl := newLogger(configs.Log{Level: zerolog.DebugLevel, Format: "json"}, &b)
	restore := redirectLibraryLogs(zl, loglimit.New(time.Now))
	log.Printf("http2: server: error reading preface from client %s: bogus greeting", "192.0.2.1:4711")
	grpclog.Errorf("[transport] %s", "failed to receive the preface")
	grpclog.Info("[core] a line nobody needs")
	restore()
	lines := jsonLines(t, b.String())
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), b.String())
	}
	if got := lines[0]["message"]; got != "http2: server: error reading preface from client 192.0.2.1:4711: bogus greeting" || lines[0]["level"] != "warn" {
		t.Errorf("standard log: got %v", lines[0])
	}
	if got := lines[1]["message"]; got != "[transport] failed to receive the preface" || lines[1]["level"] != "error" || lines[1]["cause"] != "grpc" {
		t.Errorf("grpc: got %v", lines[1])
	}
}

// TestConsoleLogNoColor: log.format console writes no colour codes to a
// file or a pipe.
func TestConsoleLogNoColor(t *testing.T) {
	var b bytes.Buffer
	zl := newLogger(configs.Log{Level: zerolog.InfoLevel, Format: "console"}, &b)
	zl.Warn().Str("client", "vpn").Msg("shared secret of 12 bytes or fewer")
	if strings.Contains(b.String(), "\x1b[") {
		t.Errorf("colour codes in a buffer: %q", b.String())
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl := newLogger(configs.Log{Level: zerolog.InfoLevel, Format: "console"}, f)
	fl.Warn().Msg("to a file")
	got, _ := os.ReadFile(f.Name())
	if strings.Contains(string(got), "\x1b[") || !strings.Contains(string(got), "to a file") {
		t.Errorf("file: got %q, want the line without colour codes", got)
	}
}

var peerURLRE = regexp.MustCompile(`peer_url: "http://(127\.0\.0\.1:\d+)"`)

// TestDaemonLogJSON: in JSON mode every line twostepd writes is one JSON
// object, the embedded etcd's and the HTTP servers' complaints too.
func TestDaemonLogJSON(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, defaultClients())
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := peerURLRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no peer_url in\n%s", b)
	}
	peer := string(m[1])
	b = append(b, "portal: {listen: \"127.0.0.1:0\", tls: {self_signed: true}}\n"...)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}

	d := startDaemonConfig(t, cfg)
	// A stranger on etcd's peer port: etcd complains (at warn level, which
	// debug shows).
	if c, err := net.Dial("tcp", peer); err == nil {
		fmt.Fprint(c, "GET /raft/stream/msgapp/1234 HTTP/1.1\r\nHost: x\r\nX-Etcd-Cluster-ID: 1\r\n\r\n")
		time.Sleep(200 * time.Millisecond)
		c.Close()
	}
	// A broken HTTP/2 greeting on the portal: net/http complains.
	portalAddr := ""
	for _, o := range jsonLines(t, d.logText()) {
		if o["message"] == "portal listening: https://"+fmt.Sprint(o["addr"])+"/" {
			portalAddr = fmt.Sprint(o["addr"])
		}
	}
	c, err := tls.Dial("tcp", portalAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("portal at %q: %v", portalAddr, err)
	}
	fmt.Fprint(c, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	c.Close()
	d.waitLog(t, "error reading preface")
	d.waitLog(t, `"logger":"etcd"`)
	d.stop(t)

	lines := jsonLines(t, d.logText())
	if len(lines) < 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), d.logText())
	}
}

// TestDaemonLogConsole: log.format console to a pipe has no colour codes.
func TestDaemonLogConsole(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, defaultClients())
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("log: {level: debug}"), []byte("log: {level: debug, format: console}"), 1)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemonBin, "-config", cfg)
	var out lockedBuffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "twostepd ready") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	got := out.String()
	if !strings.Contains(got, "twostepd ready") || !strings.Contains(got, "WRN") {
		t.Fatalf("no console lines:\n%s", got)
	}
	if strings.Contains(got, "\x1b[") {
		t.Errorf("colour codes on a pipe:\n%q", got)
	}
}
