package syslog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/history/syslog"
	"twostep/history/syslog/rsyslogtest"
	"twostep/internal/leakcheck"
)

// auditFields are the JSON names of an exported audit event, exactly.
var auditFields = []string{"action", "actor", "detail", "nonce", "time", "user"}

// auditNode is one node's audit exporter, running until stop.
type auditNode struct {
	name   string
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

// startAuditNode runs node's audit exporter over store (and trail, when
// not nil) to cfg, renewing every 50 ms.
func startAuditNode(t *testing.T, store cluster.Store, trail syslog.Trail, node string, cfg syslog.Config) *auditNode {
	t.Helper()
	reg := prometheus.NewRegistry()
	if trail == nil {
		trail = cluster.NewAudit(store, 0)
	}
	x, err := syslog.NewAuditExporter(syslog.Options{Config: cfg, Node: node, Metrics: syslog.NewMetrics(reg),
		Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Renew: 50 * time.Millisecond},
		cluster.NewAuditExport(store, node, nil), trail)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &auditNode{name: node, reg: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		x.Run(ctx)
		close(n.done)
	}()
	t.Cleanup(n.stop)
	return n
}

func (n *auditNode) stop() {
	n.cancel()
	<-n.done
}

func (n *auditNode) exporting() bool {
	return value(n.reg, "twostep_history_syslog_audit_exporter") == 1
}

// events records count audit events for user through store.
func events(t *testing.T, store cluster.Store, user string, count int) {
	t.Helper()
	audit := cluster.NewAudit(store, 0)
	for i := range count {
		e := cluster.Event{Time: time.Now(), Action: "user.lock", Actor: "twostepctl root@h", User: user, Detail: fmt.Sprintf("cause admin; %d", i)}
		if err := audit.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

// auditMessages waits for count audit messages and returns their
// events by nonce, failing on a nonce seen twice.
func auditMessages(t *testing.T, rs *rsyslogtest.Server, count int) (map[string]cluster.Event, []rsyslogtest.Message) {
	t.Helper()
	got := rs.Wait(t, count, func(m rsyslogtest.Message) bool { return m.MsgID == "audit" })
	byNonce := map[string]cluster.Event{}
	for _, m := range got {
		var fields map[string]any
		if err := json.Unmarshal([]byte(m.Msg), &fields); err != nil {
			t.Fatalf("MSG %q is not JSON: %v", m.Msg, err)
		}
		if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, auditFields) {
			t.Errorf("fields %v, want exactly %v", keys, auditFields)
		}
		var e cluster.Event
		json.Unmarshal([]byte(m.Msg), &e)
		if _, dup := byNonce[e.Nonce]; dup {
			t.Errorf("event %+v sent twice", e)
		}
		byNonce[e.Nonce] = e
		if m.Severity != 5 || m.Facility != 10 || m.AppName != "twostep" {
			t.Errorf("message %+v: want notice, authpriv, twostep", m)
		}
	}
	return byNonce, got
}

// TestAuditExportOnce: two nodes follow one trail; the one holding the
// claim exports each event once, under its name; when it stops, the
// other takes over from where it was, and nothing is lost.
func TestAuditExportOnce(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	store := memstore.New()
	cfg := syslog.Config{Network: "tcp", Address: rs.TCPAddr}
	events(t, store, "before", 2) // before the first claim: not exported
	a := startAuditNode(t, store, nil, "node-a", cfg)
	b := startAuditNode(t, store, nil, "node-b", cfg)
	waitFor(t, "one node exporting", func() bool { return a.exporting() || b.exporting() })
	holder, other := a, b
	if b.exporting() {
		holder, other = b, a
	}

	events(t, store, "alice", 10)
	byNonce, got := auditMessages(t, rs, 10)
	for _, m := range got {
		if m.Hostname != holder.name {
			t.Errorf("message from %s, want every one from %s, which holds the claim", m.Hostname, holder.name)
		}
	}
	for _, e := range byNonce {
		if e.User != "alice" || e.Action != "user.lock" || e.Actor != "twostepctl root@h" {
			t.Errorf("event %+v, want alice's lock by twostepctl", e)
		}
	}
	if other.exporting() {
		t.Errorf("%s exports too", other.name)
	}

	holder.stop() // hands the claim over
	waitFor(t, other.name+" exporting", other.exporting)
	events(t, store, "bob", 5)
	byNonce, got = auditMessages(t, rs, 15)
	if len(got) != 15 {
		t.Errorf("%d messages, want 15", len(got))
	}
	for _, m := range got[10:] {
		if m.Hostname != other.name {
			t.Errorf("after the handover: a message from %s, want %s", m.Hostname, other.name)
		}
	}
	for _, e := range byNonce {
		if e.User == "before" {
			t.Errorf("an event from before the first claim was exported: %+v", e)
		}
	}
}

// TestAuditExportReceiverDown: events written while the receiver is down
// wait in the trail, and are sent once it is back, none lost, none twice.
func TestAuditExportReceiverDown(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	store := memstore.New()
	n := startAuditNode(t, store, nil, "node-a", syslog.Config{Network: "tls", Address: rs.TLSAddr, CAFile: rs.CAFile})
	waitFor(t, "exporting", n.exporting)
	events(t, store, "alice", 3)
	auditMessages(t, rs, 3)
	rs.Stop()
	events(t, store, "bob", 4)
	waitFor(t, "a failed connection", func() bool { return value(n.reg, "twostep_history_syslog_connects_total", "audit", "error") >= 1 })
	rs.Restart()
	events(t, store, "carol", 1)
	byNonce, _ := auditMessages(t, rs, 8)
	users := map[string]int{}
	for _, e := range byNonce {
		users[e.User]++
	}
	if users["alice"] != 3 || users["bob"] != 4 || users["carol"] != 1 {
		t.Errorf("events by user %v, want alice 3, bob 4, carol 1", users)
	}
	if s := messages(n.reg, "audit", "sent"); s < 8 {
		t.Errorf("sent %v, want 8 or more", s)
	}
}

// losingTrail is a trail whose Follow the test can make lose its watch.
type losingTrail struct {
	syslog.Trail
	mu   sync.Mutex
	lose context.CancelFunc
}

var errLost = errors.New("the watch was lost")

func (l *losingTrail) Follow(ctx context.Context, after int64, out chan<- cluster.AuditEntry) error {
	fctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	l.lose = cancel
	l.mu.Unlock()
	err := l.Trail.Follow(fctx, after, out)
	if ctx.Err() == nil {
		return errLost
	}
	return err
}

func (l *losingTrail) loseWatch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lose()
}

// TestAuditExportWatchLost: when the watch is lost the exporter follows
// again from the last event it sent: nothing twice, nothing lost.
func TestAuditExportWatchLost(t *testing.T) {
	leakcheck.Check(t)
	rs := rsyslogtest.Start(t)
	store := memstore.New()
	trail := &losingTrail{Trail: cluster.NewAudit(store, 0)}
	n := startAuditNode(t, store, trail, "node-a", syslog.Config{Network: "udp", Address: rs.UDPAddr})
	waitFor(t, "exporting", n.exporting)
	events(t, store, "alice", 3)
	auditMessages(t, rs, 3)
	trail.loseWatch()
	events(t, store, "bob", 3)
	byNonce, _ := auditMessages(t, rs, 6)
	if len(byNonce) != 6 {
		t.Errorf("%d events, want 6", len(byNonce))
	}
}
