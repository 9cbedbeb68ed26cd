package trace

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"twostep/cluster"
	"twostep/directory"
	"twostep/notify"
)

// MaxEvents bounds the steps one record of a request keeps; the rest
// are counted (Dropped, and twostep_trace_events_dropped_total with
// cause request_full).
const MaxEvents = 128

// Request traces one request: the RADIUS layer's packets and answer, the
// engine's steps (challenge.Tracer, carried by the engine's Request), and
// the directory's, the store's and the notifier's calls, observed
// through the context (Context). A nil *Request traces nothing; every
// method may be called on it. Its methods are safe for concurrent use: a
// login waiting for a push is answered from another goroutine.
type Request struct {
	t       *Tracing
	arrived time.Time
	typed   string // the User-Name as sent

	mu sync.Mutex
	id string
	// user is the traced user the request belongs to; empty while the
	// directory's name is not known to match one.
	user    string
	events  []event
	sent    int // events handed to the writer already
	part    int
	dropped int
	ended   bool
}

// event is a step, and for a packet the attributes, made when the
// request turns out to be traced.
type event struct {
	cluster.TraceEvent
	attrs func() []cluster.TraceAttribute
}

// Context returns ctx carrying r as the observer of the store's, the
// directory's and the notifier's calls made with it. The observers only
// record what happened: nothing that decides travels in the context.
func (r *Request) Context(ctx context.Context) context.Context {
	if r == nil {
		return ctx
	}
	return notify.WithObserver(directory.WithObserver(cluster.WithObserver(ctx, r), r), r)
}

// Packet records a packet of the request: kind request or reply, what
// detail says of it (code, addresses, client), and its attributes, which
// attrs gives, secrets masked, if and when the request is traced.
func (r *Request) Packet(kind, detail string, attrs func() []cluster.TraceAttribute) {
	if r == nil {
		return
	}
	r.add(event{TraceEvent: cluster.TraceEvent{Kind: kind, Detail: detail}, attrs: attrs})
}

// Step records a step of the engine (challenge.Tracer).
func (r *Request) Step(kind, result, detail string) {
	if r == nil {
		return
	}
	r.add(event{TraceEvent: cluster.TraceEvent{Kind: kind, Result: result, Detail: detail}})
}

// Continues records that the request continues login id
// (challenge.Tracer): its records carry that id.
func (r *Request) Continues(id string) {
	if r == nil || id == "" {
		return
	}
	r.mu.Lock()
	r.id = id
	r.mu.Unlock()
}

// ObserveStore records a call to the cluster store (cluster.Observer).
func (r *Request) ObserveStore(c cluster.StoreCall) {
	if r == nil {
		return
	}
	e := cluster.TraceEvent{Kind: "store", Op: c.Operation, Result: c.Result, MS: ms(c.Duration)}
	switch c.Operation {
	case "commit":
		e.Keys = append(append(e.Keys, c.Puts...), c.Deletes...)
		var parts []string
		if len(c.Puts) > 0 {
			parts = append(parts, "put "+strings.Join(c.Puts, ", "))
		}
		if len(c.Deletes) > 0 {
			parts = append(parts, "delete "+strings.Join(c.Deletes, ", "))
		}
		if c.Compares > 0 {
			parts = append(parts, fmt.Sprintf("if %d revision(s) unchanged", c.Compares))
		}
		e.Detail = strings.Join(parts, "; ")
	case "list":
		e.Keys = []string{c.Key}
		e.Detail = fmt.Sprintf("%s: %d entries", c.Key, c.Entries)
	default:
		e.Keys = []string{c.Key}
		e.Detail = c.Key
	}
	r.add(event{TraceEvent: e})
}

// ObserveDirectory records a request to the directory
// (directory.Observer).
func (r *Request) ObserveDirectory(s directory.Step) {
	if r == nil {
		return
	}
	r.add(event{TraceEvent: cluster.TraceEvent{Kind: "directory", Op: s.Operation, Result: s.Result, MS: ms(s.Duration), Detail: s.Detail}})
}

// ObserveNotification records a push notification (notify.Observer).
func (r *Request) ObserveNotification(kind, result string, took time.Duration) {
	if r == nil {
		return
	}
	r.add(event{TraceEvent: cluster.TraceEvent{Kind: "notification", Op: kind, Result: result, MS: ms(took)}})
}

// add records e at the Tracing's clock, unless the request ended or its
// record is full.
func (r *Request) add(e event) {
	e.Time = r.t.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	if len(r.events)-r.sent >= MaxEvents {
		r.dropped++
		return
	}
	r.events = append(r.events, e)
}

// Flush hands what the request recorded so far to the writer, when it is
// traced: the request waits now (for a push), and its answer may be a
// minute away.
func (r *Request) Flush() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || r.user == "" || r.sent == len(r.events) {
		return
	}
	r.emit(false)
}

// End ends the request once its answer is decided: id is the login's
// correlation id as the answer's log line says it, user the directory's
// name of the user (empty when unknown). A request not traced from the
// start is traced now when user is; otherwise what it recorded is
// dropped. Later calls do nothing.
func (r *Request) End(id, user string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	if id != "" {
		r.id = id
	}
	if r.user == "" && user != "" {
		r.user = r.t.set.Load().match(user, r.t.now())
	}
	if r.user != "" {
		r.emit(true)
	}
	r.ended = true
	r.events = nil
}

// emit hands the events not sent yet to the writer as one record; r.mu
// is held.
func (r *Request) emit(final bool) {
	rec := cluster.TraceRecord{ID: r.id, User: r.user, Node: r.t.node, Arrived: r.arrived, Part: r.part, Final: final,
		Events: make([]cluster.TraceEvent, 0, len(r.events)-r.sent), Dropped: r.dropped}
	if r.typed != r.user {
		rec.TypedUser = r.typed
	}
	for _, e := range r.events[r.sent:] {
		if e.attrs != nil {
			e.Attributes = e.attrs()
		}
		rec.Events = append(rec.Events, e.TraceEvent)
	}
	r.t.metrics.drop(CauseRequestFull, r.dropped)
	r.sent, r.part, r.dropped = len(r.events), r.part+1, 0
	r.t.enqueue(rec)
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
