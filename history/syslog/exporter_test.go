package syslog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/cluster"
	"twostep/history/syslog"
	"twostep/history/syslog/rsyslogtest"
	"twostep/internal/leakcheck"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)

// loginFields are the JSON names of a login record, exactly.
var loginFields = []string{"client", "decision", "device", "factor", "from", "id", "nas_addr", "nas_id", "node", "reason", "time", "typed_user", "user"}

func record(i int) cluster.LoginRecord {
	return cluster.LoginRecord{Time: t0.Add(time.Duration(i) * time.Second), ID: fmt.Sprintf("%012x", i), User: "alice",
		Client: "vpn", NASID: "asa-1", NASAddr: "192.0.2.10", From: "198.51.100.7", Decision: "accept", Reason: "ok", Factor: "totp",
		Device: &cluster.LoginDevice{ID: "7f3c", Name: "phone"}}
}

// value reads the series name with the label values labels (in the
// order of the metric's labels) from reg; -1 when it is not there.
func value(reg *prometheus.Registry, name string, labels ...string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, labels) {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func messages(reg *prometheus.Registry, kind, result string) float64 {
	return value(reg, "twostep_history_syslog_messages_total", kind, result)
}

// started is an Exporter whose Run the test started; stop ends it.
type started struct {
	*syslog.Exporter
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

// start makes an exporter of cfg for node-1 and runs it until the test
// ends (Shutdown first, within 10 s).
func start(t *testing.T, cfg syslog.Config, o syslog.Options) *started {
	t.Helper()
	e := prepare(t, cfg, o)
	e.run()
	t.Cleanup(e.stop)
	return e
}

// prepare makes the exporter without running it.
func prepare(t *testing.T, cfg syslog.Config, o syslog.Options) *started {
	t.Helper()
	reg := prometheus.NewRegistry()
	o.Config, o.Node, o.Metrics = cfg, "node-1", syslog.NewMetrics(reg)
	if o.Backoff == 0 {
		o.Backoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	e, err := syslog.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &started{Exporter: e, reg: reg, done: make(chan struct{})}
}

func (e *started) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		e.Run(ctx)
		close(e.done)
	}()
}

func (e *started) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.Shutdown(ctx)
	e.cancel()
	<-e.done
}

// TestExportLogins sends login records over each network to a real
// rsyslogd and reads them back as it parsed them: RFC 5424 headers, and a
// MSG that is the record's JSON with exactly the history's field names.
func TestExportLogins(t *testing.T) {
	rs := rsyslogtest.Start(t)
	tests := []struct {
		input string
		cfg   syslog.Config
	}{
		{rsyslogtest.InputUDP, syslog.Config{Network: "udp", Address: rs.UDPAddr}},
		{rsyslogtest.InputTCP, syslog.Config{Network: "tcp", Address: rs.TCPAddr}},
		{rsyslogtest.InputTLS, syslog.Config{Address: rs.TLSAddr, CAFile: rs.CAFile}}, // tls is the default
		{rsyslogtest.InputTLSClient, syslog.Config{Network: "tls", Address: rs.TLSClientAddr, CAFile: rs.CAFile,
			CertFile: rs.ClientCertFile, KeyFile: rs.ClientKeyFile, ServerName: "localhost", Facility: "local3", AppName: "vpn-2fa", Hostname: "vpn1.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			leakcheck.Check(t)
			e := start(t, tt.cfg, syslog.Options{})
			recs := []cluster.LoginRecord{record(0), record(1), record(2)}
			recs[1].Decision, recs[1].Reason, recs[1].Factor, recs[1].Device = "reject", "bad_password", "password", nil
			recs[1].TypedUser = `ALICE "the" ünïcödé\` + "\n<&>"
			recs[2].Decision, recs[2].Reason, recs[2].User = "challenge", "passcode_requested", ""
			for _, r := range recs {
				e.Record(r)
			}
			got := rs.Wait(t, 3, func(m rsyslogtest.Message) bool { return m.Input == tt.input })
			if len(got) != 3 {
				t.Fatalf("%d messages, want 3: %+v", len(got), got)
			}
			wantHost, wantApp, wantFacility := "node-1", "twostep", 10 // authpriv
			if tt.cfg.Hostname != "" {
				wantHost, wantApp, wantFacility = tt.cfg.Hostname, tt.cfg.AppName, 19 // local3
			}
			for i, m := range got {
				wantSeverity := 6 // informational
				if recs[i].Decision == "reject" {
					wantSeverity = 5 // notice
				}
				if m.MsgID != "login" || m.Hostname != wantHost || m.AppName != wantApp || m.Facility != wantFacility ||
					m.Severity != wantSeverity || m.ProcID != strconv.Itoa(os.Getpid()) || m.SD != "-" {
					t.Errorf("message %d: %+v; want MSGID login, %s, %s, facility %d, severity %d, our pid, no structured data",
						i, m, wantHost, wantApp, wantFacility, wantSeverity)
				}
				if ts, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil || !ts.Equal(recs[i].Time.Truncate(time.Microsecond)) {
					t.Errorf("message %d: timestamp %q (%v), want the record's time to the microsecond %s", i, m.Timestamp, err, recs[i].Time)
				}
				var fields map[string]any
				if err := json.Unmarshal([]byte(m.Msg), &fields); err != nil {
					t.Fatalf("message %d: MSG %q is not JSON: %v", i, m.Msg, err)
				}
				if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, loginFields) {
					t.Errorf("message %d: fields %v, want exactly %v", i, keys, loginFields)
				}
				var r cluster.LoginRecord
				if err := json.Unmarshal([]byte(m.Msg), &r); err != nil {
					t.Fatal(err)
				}
				want := recs[i]
				want.Node = "node-1"
				if !r.Time.Equal(want.Time) || fmt.Sprint(r.Device) != fmt.Sprint(want.Device) {
					t.Errorf("message %d: time %v device %v, want %v %v", i, r.Time, r.Device, want.Time, want.Device)
				}
				r.Time, want.Time, r.Device, want.Device = time.Time{}, time.Time{}, nil, nil
				if r != want {
					t.Errorf("message %d: got %+v, want %+v", i, r, want)
				}
			}
			if n := messages(e.reg, "login", "sent"); n != 3 {
				t.Errorf("sent %v, want 3", n)
			}
		})
	}
}

// TestExportReceiverDown: while the receiver is down the records wait
// (those beyond the queue are dropped and counted), the exporter tries
// again with backoff, says so once, and sends them when it is back.
func TestExportReceiverDown(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	rs.Stop()
	var mu sync.Mutex
	var reports []string
	report := func(kind string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprintf("%s %v", kind, err != nil))
	}
	e := prepare(t, syslog.Config{Network: "tcp", Address: rs.TCPAddr}, syslog.Options{QueueSize: 3, Report: report})
	for i := range 5 {
		e.Record(record(i))
	}
	if n := messages(e.reg, "login", "queue_full"); n != 2 {
		t.Errorf("queue_full %v, want 2 (a queue of 3)", n)
	}
	if n := value(e.reg, "twostep_history_syslog_queue_length"); n != 3 {
		t.Errorf("queue length %v, want 3", n)
	}
	e.run()
	t.Cleanup(e.stop)
	waitFor(t, "two failed connections", func() bool { return value(e.reg, "twostep_history_syslog_connects_total", "login", "error") >= 2 })
	rs.Restart()
	got := rs.Wait(t, 3, func(m rsyslogtest.Message) bool { return m.MsgID == "login" })
	for i, m := range got {
		var r cluster.LoginRecord
		if err := json.Unmarshal([]byte(m.Msg), &r); err != nil || r.ID != record(i).ID {
			t.Errorf("message %d: %s (%v), want record %d", i, m.Msg, err, i)
		}
	}
	if n := messages(e.reg, "login", "sent"); n != 3 {
		t.Errorf("sent %v, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(reports) != "[login true login false]" {
		t.Errorf("reports %v, want one that the receiver is down, then one that it is back", reports)
	}
}

// TestExportReceiverRestarts: a receiver that restarts between two
// records closed the connection; the second record finds that out and
// goes on a new connection instead of into the closed one.
func TestExportReceiverRestarts(t *testing.T) {
	for _, network := range []string{"tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			leakcheck.Check(t)
			rs := rsyslogtest.Start(t)
			cfg := syslog.Config{Network: "tcp", Address: rs.TCPAddr}
			input := rsyslogtest.InputTCP
			if network == "tls" {
				cfg = syslog.Config{Network: "tls", Address: rs.TLSAddr, CAFile: rs.CAFile}
				input = rsyslogtest.InputTLS
			}
			ours := func(m rsyslogtest.Message) bool { return m.Input == input }
			e := start(t, cfg, syslog.Options{})
			e.Record(record(1))
			rs.Wait(t, 1, ours)
			rs.Restart()
			e.Record(record(2))
			got := rs.Wait(t, 2, ours)
			if !strings.Contains(got[1].Msg, record(2).ID) {
				t.Errorf("after the restart: %s, want record 2", got[1].Msg)
			}
			if n := value(e.reg, "twostep_history_syslog_connects_total", "login", "ok"); n != 2 {
				t.Errorf("connections %v, want 2", n)
			}
		})
	}
}

// TestExportTooLarge: over UDP a message longer than 8 KiB is not sent,
// and counted; the next one is.
func TestExportTooLarge(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	e := start(t, syslog.Config{Network: "udp", Address: rs.UDPAddr}, syslog.Options{})
	big := record(1)
	big.TypedUser = strings.Repeat("x", 8200)
	e.Record(big)
	e.Record(record(2))
	got := rs.Wait(t, 1, nil)
	if len(got) != 1 || !strings.Contains(got[0].Msg, record(2).ID) {
		t.Errorf("received %+v, want record 2 alone", got)
	}
	if n := messages(e.reg, "login", "too_large"); n != 1 {
		t.Errorf("too_large %v, want 1", n)
	}
}

// TestExportShutdownBound: a flush that the receiver holds up past
// Shutdown's deadline gives up; ending Run's context drops what is left,
// and records handed over after Shutdown are dropped too.
func TestExportShutdownBound(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	rs.Stop()
	e := prepare(t, syslog.Config{Network: "tcp", Address: rs.TCPAddr}, syslog.Options{})
	e.run()
	for i := range 3 {
		e.Record(record(i))
	}
	sctx, scancel := context.WithCancel(context.Background())
	scancel() // the grace period is spent
	if err := e.Shutdown(sctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want its context's error", err)
	}
	e.Record(record(4))
	e.cancel()
	<-e.done
	if n := messages(e.reg, "login", "shutdown"); n != 4 {
		t.Errorf("shutdown %v, want 4", n)
	}
}

// TestNewRefusesBadFiles: the section's problems come back from New.
func TestNewRefusesBadFiles(t *testing.T) {
	_, err := syslog.New(syslog.Options{Config: syslog.Config{Address: "127.0.0.1:6514", CAFile: "/nonexistent/ca.pem"}})
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("New: %v, want the ca_file's problem", err)
	}
	if _, err := syslog.New(syslog.Options{}); err == nil {
		t.Error("New without an address: no error")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
