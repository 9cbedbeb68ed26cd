package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"twostep/internal/fakeclock"
	"twostep/internal/logbuf"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"twostep/loglimit"
)

// lockedBuffer is the shared logbuf.Buffer.
type lockedBuffer = logbuf.Buffer

func TestServerLogClassifies(t *testing.T) {
	tests := []struct {
		line       string
		cause      string
		level      zerolog.Level
		wantRemote string
	}{
		{"http: TLS handshake error from 192.0.2.7:51234: EOF", "tls_handshake", zerolog.DebugLevel, "192.0.2.7:51234"},
		{"http: TLS handshake error from [2001:db8::1]:443: tls: first record does not look like a TLS handshake", "tls_handshake", zerolog.DebugLevel, "[2001:db8::1]:443"},
		{"http2: server: error reading preface from client 192.0.2.7:5: bogus greeting", "http2", zerolog.WarnLevel, ""},
		{"timeout waiting for SETTINGS frames from 192.0.2.7:5", "http2", zerolog.WarnLevel, ""},
		{"http: panic serving 192.0.2.7:5: boom\ngoroutine 1", "panic", zerolog.ErrorLevel, ""},
		{"http: Accept error: too many open files; retrying in 5ms", "accept", zerolog.ErrorLevel, ""},
		{"http: superfluous response.WriteHeader call from x (y.go:1)", "other", zerolog.WarnLevel, ""},
	}
	for _, tt := range tests {
		t.Run(tt.cause, func(t *testing.T) {
			cause, level, remote := classifyServerError(tt.line)
			if cause != tt.cause || level != tt.level || remote != tt.wantRemote {
				t.Errorf("got %s, %s, %q, want %s, %s, %q", cause, level, remote, tt.cause, tt.level, tt.wantRemote)
			}
		})
	}
}

// TestWebServerFailedHandshakes makes many connections that fail the
// TLS handshake, as scanners and slowloris runs do: they are counted,
// logged as one JSON line a second, and nothing goes to the standard
// logger (net/http's plain-text default).
func TestWebServerFailedHandshakes(t *testing.T) {
	var plain lockedBuffer
	prev := log.Writer()
	log.SetOutput(&plain)
	t.Cleanup(func() { log.SetOutput(prev) })

	var out lockedBuffer
	clock := fakeclock.New(time.Now())
	reg := prometheus.NewRegistry()
	count := newServerErrors(reg)
	cert, err := selfSigned("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := newWebServer("portal", "127.0.0.1:0", http.NotFoundHandler(),
		&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		newServerLog("portal", zerolog.New(&out), loglimit.New(clock.Now), count))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- ws.serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws.shutdown(ctx)
		if err := <-served; err != nil {
			t.Error(err)
		}
	})

	handshakes := testutil.ToFloat64(count.WithLabelValues("portal", "tls_handshake"))
	fail := func(n int) {
		t.Helper()
		for i := range n {
			c, err := net.Dial("tcp", ws.addr())
			if err != nil {
				t.Fatal(err)
			}
			switch i % 3 {
			case 0: // plain HTTP to the HTTPS port
				c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			case 1: // not TLS at all
				c.Write([]byte("\x00\x01\x02\x03\x04\x05\x06\x07"))
			}
			c.Close() // case 2: nothing, then EOF
		}
		handshakes += float64(n)
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(count.WithLabelValues("portal", "tls_handshake")) < handshakes {
			if time.Now().After(deadline) {
				t.Fatalf("%v failed handshakes counted, want %v", testutil.ToFloat64(count.WithLabelValues("portal", "tls_handshake")), handshakes)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	lines := func() []map[string]any {
		t.Helper()
		var got []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			got = append(got, m)
		}
		return got
	}

	fail(300)
	got := lines()
	if len(got) != 1 {
		t.Fatalf("got %d lines for 300 failed handshakes in one second, want 1:\n%s", len(got), out.String())
	}
	if m := got[0]; m["cause"] != "tls_handshake" || m["server"] != "portal" || m["level"] != "debug" || m["suppressed"] != 0.0 ||
		!strings.HasPrefix(m["remote"].(string), "127.0.0.1:") || m["error"] == "" {
		t.Errorf("the line: %v", m)
	}
	clock.Advance(time.Second)
	fail(1)
	got = lines()
	if len(got) != 2 || got[1]["suppressed"] != 299.0 {
		t.Errorf("a second later: got %d lines, the last %v; want 2, the last with suppressed 299", len(got), got[len(got)-1])
	}
	if plain.String() != "" {
		t.Errorf("plain text went to the standard logger:\n%.500s", plain.String())
	}
}
