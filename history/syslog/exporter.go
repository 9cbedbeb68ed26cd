package syslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"twostep/cluster"
	"twostep/confcheck"
)

// Options configure an Exporter or an AuditExporter.
type Options struct {
	// Config is the history.syslog section; it must be Enabled.
	Config Config
	// Node is this node's name (cluster.node_name): the node of every
	// login record, and the messages' HOSTNAME unless Config.Hostname
	// is set.
	Node string
	// Metrics receives the counts; nil counts nothing.
	Metrics *Metrics
	// Report, when set, is told when the receiver cannot be reached
	// (with why) and when it is reached again (nil), once per change:
	// the daemon logs it.
	Report func(kind string, err error)
	// QueueSize bounds the login records waiting; default
	// DefaultQueueSize.
	QueueSize int
	// Backoff is the first wait after the receiver could not be
	// reached, doubled at each further failure up to MaxBackoff;
	// defaults DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Renew is how often the audit exporter renews its claim and saves
	// its cursor; default cluster.AuditExportRenew.
	Renew time.Duration
}

// Defaults of Options.
const (
	DefaultQueueSize  = 8192
	DefaultBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
)

// sender formats messages of one kind and sends them on its link,
// waiting between tries while the receiver is down.
type sender struct {
	kind   string
	link   *link
	header header
	m      *Metrics
	report func(kind string, err error)

	backoff, maxBackoff time.Duration
	wait                time.Duration // before the next try
	down                bool          // the last try failed
	buf                 []byte
}

// newSender returns the sender of kind for o.
func newSender(o Options, kind string) (*sender, error) {
	cfg := o.Config.WithDefaults()
	if !cfg.Enabled() {
		return nil, errors.New("syslog: history.syslog.address is not set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	l := &link{network: cfg.Network, address: cfg.Address, kind: kind, m: o.Metrics}
	if cfg.Network == NetworkTLS {
		var ps confcheck.Problems
		l.tls = cfg.TLSConfig(&ps)
		if err := ps.Err(); err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
	}
	host := cfg.Hostname
	if host == "" {
		host = o.Node
	}
	s := &sender{kind: kind, link: l, header: newHeader(cfg.Facility, host, cfg.AppName, os.Getpid()), m: o.Metrics,
		report: o.Report, backoff: o.Backoff, maxBackoff: o.MaxBackoff}
	if s.backoff <= 0 {
		s.backoff = DefaultBackoff
	}
	if s.maxBackoff < s.backoff {
		s.maxBackoff = max(DefaultMaxBackoff, s.backoff)
	}
	s.wait = s.backoff
	return s, nil
}

// try sends one message of body (JSON) with severity, time t and msgID,
// once. It reports whether the message is done with (sent, or too
// large and counted); false means the receiver cannot be reached now,
// and the caller tries again after pause.
func (s *sender) try(ctx context.Context, severity int, t time.Time, msgID string, body []byte) bool {
	s.buf = s.header.appendMessage(s.buf[:0], severity, t, msgID, body)
	err := s.link.send(ctx, s.buf)
	switch {
	case err == nil:
		s.m.message(s.kind, ResultSent, 1)
	case errors.Is(err, errTooLarge):
		s.m.message(s.kind, ResultTooLarge, 1)
	default:
		if !s.down && s.report != nil && ctx.Err() == nil {
			s.report(s.kind, err)
		}
		s.down = true
		return false
	}
	if s.down && s.report != nil {
		s.report(s.kind, nil)
	}
	s.down, s.wait = false, s.backoff
	return true
}

// pause waits before the next try, longer after each failure; false
// when ctx ended first.
func (s *sender) pause(ctx context.Context) bool {
	t := time.NewTimer(s.wait)
	defer t.Stop()
	s.wait = min(2*s.wait, s.maxBackoff)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Exporter sends the login records of this node to syslog, off the
// login's path: Record hands a record over without waiting, Run sends
// what is queued on its own goroutine, and Shutdown flushes what is
// left. While the receiver cannot be reached, Run waits (backoff) and
// the records wait in the queue; when it is full, new ones are dropped
// and counted.
type Exporter struct {
	s    *sender
	node string
	now  func() time.Time

	queue    chan cluster.LoginRecord
	closed   atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New returns an Exporter of o that sends nothing until Run. Its error
// is the section's problems (a file that cannot be read).
func New(o Options) (*Exporter, error) {
	s, err := newSender(o, KindLogin)
	if err != nil {
		return nil, err
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return &Exporter{s: s, node: o.Node, now: time.Now, queue: make(chan cluster.LoginRecord, o.QueueSize),
		stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Record queues rec, stamped with this node (and the time, when it has
// none), without ever waiting: when the queue is full, or the exporter
// is shut down, rec is dropped and counted.
func (e *Exporter) Record(rec cluster.LoginRecord) {
	if e.closed.Load() {
		e.s.m.message(KindLogin, ResultShutdown, 1)
		return
	}
	rec.Node = e.node
	if rec.Time.IsZero() {
		rec.Time = e.now()
	}
	select {
	case e.queue <- rec:
		e.s.m.setQueued(len(e.queue))
	default:
		e.s.m.message(KindLogin, ResultQueueFull, 1)
	}
}

// Run sends queued records until Shutdown has flushed them, or until ctx
// ends, which drops what is still queued. The daemon passes a context
// that outlives the signal that stops it, so that Shutdown can flush.
func (e *Exporter) Run(ctx context.Context) {
	defer close(e.done)
	defer e.s.link.close()
	stopping := false
	for {
		var rec cluster.LoginRecord
		if stopping {
			select {
			case rec = <-e.queue:
			default:
				return
			}
		} else {
			select {
			case <-ctx.Done():
				e.s.m.message(KindLogin, ResultShutdown, e.discard())
				return
			case <-e.stop:
				stopping = true
				continue
			case rec = <-e.queue:
			}
		}
		e.s.m.setQueued(len(e.queue))
		if !e.send(ctx, rec) {
			e.s.m.message(KindLogin, ResultShutdown, 1+e.discard())
			return
		}
	}
}

// send sends rec, waiting and trying again while the receiver cannot be
// reached; false when ctx ended first.
func (e *Exporter) send(ctx context.Context, rec cluster.LoginRecord) bool {
	body, err := json.Marshal(rec)
	if err != nil { // a LoginRecord always marshals
		return true
	}
	severity := severityInfo
	if rec.Decision == "reject" {
		severity = severityNotice
	}
	for !e.s.try(ctx, severity, rec.Time, MsgIDLogin, body) {
		if !e.s.pause(ctx) {
			return false
		}
	}
	return true
}

// Shutdown stops Run once what is queued is sent, and waits for it as
// long as ctx allows. Records handed over after it are dropped. When ctx
// ends first it returns ctx's error, and the caller ends Run's context,
// which drops the rest.
func (e *Exporter) Shutdown(ctx context.Context) error {
	e.closed.Store(true)
	e.stopOnce.Do(func() { close(e.stop) })
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discard empties the queue and returns how many records it held.
func (e *Exporter) discard() int {
	n := 0
	for {
		select {
		case <-e.queue:
			n++
		default:
			e.s.m.setQueued(0)
			return n
		}
	}
}
