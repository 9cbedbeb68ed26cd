package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"twostep/cluster"
)

// tracePrinter prints what twostepctl trace receives: one block per
// request, under a line that names its login whenever the login changes
// (two logins may interleave), each step with its node and the time since
// the login's first step this command saw; or, with -json, one JSON
// object per step.
type tracePrinter struct {
	w      io.Writer
	asJSON bool
	// start is the first step's time of each login seen: offsets count
	// from it (each node's steps by its own clock).
	start map[string]time.Time
	last  string // the login of the block printed last
	// requests and logins count what was shown, for the footer.
	requests, logins int
}

func newTracePrinter(w io.Writer, asJSON bool) *tracePrinter {
	return &tracePrinter{w: w, asJSON: asJSON, start: map[string]time.Time{}}
}

// traceLine is one step as -json prints it.
type traceLine struct {
	ID        string  `json:"id"`
	Node      string  `json:"node"`
	User      string  `json:"user"`
	TypedUser string  `json:"typed_user"`
	OffsetMS  float64 `json:"offset_ms"`
	cluster.TraceEvent
}

// header says what is traced, until when, and on which nodes; with -json
// it goes to stderr, so that stdout holds JSON alone.
func (p *tracePrinter) header(req cluster.TraceRequest, nodes []string, stderr io.Writer) {
	w := p.w
	if p.asJSON {
		w = stderr
	}
	who := req.User
	if req.Typed != "" {
		who += " (typed " + req.Typed + ")"
	}
	fmt.Fprintf(w, "Tracing %s on every node until %s; Ctrl-C ends it sooner.\n", who, req.Until.UTC().Format("2006-01-02 15:04:05 UTC"))
	switch {
	case nodes == nil:
		fmt.Fprintf(w, "Waiting for %s's next login on any node (the node registry could not be read)…\n", req.User)
	case len(nodes) == 0:
		fmt.Fprintf(w, "No node is up now (nodes/ is empty).\nWaiting for %s's next login on any of 0 nodes…\n", req.User)
	default:
		fmt.Fprintf(w, "Nodes up: %s.\nWaiting for %s's next login on any of %d node(s)…\n", strings.Join(nodes, ", "), req.User, len(nodes))
	}
}

// footer says that the trace ended, why, and what it showed; stopped
// tells whether the request was taken back (else its lease ends it).
func (p *tracePrinter) footer(req cluster.TraceRequest, why string, stopped bool, stderr io.Writer) {
	w := p.w
	if p.asJSON {
		w = stderr
	}
	nodes := "the nodes stop tracing now"
	if !stopped {
		nodes = "the nodes stop tracing within a minute"
	}
	fmt.Fprintf(w, "\nTrace of %s ended (%s): %s of %s shown; %s.\n", req.User, why,
		count(p.requests, "request", "requests"), count(p.logins, "login", "logins"), nodes)
}

// record prints one record a node wrote.
func (p *tracePrinter) record(rec cluster.TraceRecord) {
	if rec.Part == 0 {
		p.requests++
	}
	t0, ok := p.start[rec.ID]
	if !ok {
		t0 = rec.Arrived
		if len(rec.Events) > 0 && rec.Events[0].Time.Before(t0) {
			t0 = rec.Events[0].Time
		}
		p.start[rec.ID] = t0
		p.logins++
	}
	if p.asJSON {
		enc := json.NewEncoder(p.w)
		enc.SetEscapeHTML(false)
		for _, e := range rec.Events {
			e.Time = e.Time.UTC()
			_ = enc.Encode(traceLine{ID: rec.ID, Node: rec.Node, User: rec.User, TypedUser: rec.TypedUser,
				OffsetMS: float64(e.Time.Sub(t0).Microseconds()) / 1000, TraceEvent: e})
		}
		return
	}
	if rec.ID != p.last {
		p.last = rec.ID
		who := shown(rec.User)
		if rec.TypedUser != "" {
			who += " (typed " + shown(rec.TypedUser) + ")"
		}
		fmt.Fprintf(p.w, "\nlogin %s (%s), %s\n", shown(rec.ID), cluster.LoginReference(rec.ID), who)
	}
	node := shown(rec.Node)
	for _, e := range rec.Events {
		p.event(node, e.Time.Sub(t0), e)
	}
	if rec.Dropped > 0 {
		fmt.Fprintf(p.w, "  %-8s %d more step(s) not kept (%d per record)\n", node, rec.Dropped, maxShownEvents)
	}
	if !rec.Final {
		fmt.Fprintf(p.w, "  %-8s … waiting; the rest of this request comes with its answer\n", node)
	}
}

// maxShownEvents is trace.MaxEvents, said in the note on dropped steps.
const maxShownEvents = 128

// attrIndent lines a packet's attributes up under its step's text.
const attrIndent = "                                             "

// event prints one step: node, offset, what, and how it ended.
func (p *tracePrinter) event(node string, offset time.Duration, e cluster.TraceEvent) {
	what := shown(e.Kind)
	if e.Op != "" {
		what += " " + shown(e.Op)
	}
	var rest []string
	if e.Result != "" {
		rest = append(rest, shown(e.Result))
	}
	if e.MS > 0 {
		rest = append(rest, millis(e.MS))
	}
	if e.Detail != "" {
		rest = append(rest, shown(e.Detail))
	}
	fmt.Fprintf(p.w, "  %-8s %9s  %-22s %s\n", node, "+"+sinceText(offset), what, strings.Join(rest, "  "))
	for _, a := range e.Attributes {
		fmt.Fprintf(p.w, "%s%s = %s\n", attrIndent, shown(a.Name), shown(a.Value))
	}
}

// shown is s as the terminal may show it: s itself when it is printable,
// else quoted with Go's escapes. What the nodes write carries text that
// outsiders chose (a User-Name, an attribute), which must not move the
// cursor or recolour the admin's terminal.
func shown(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// millis writes a duration given in milliseconds.
func millis(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

// sinceText writes an offset from the login's start.
func sinceText(d time.Duration) string {
	if d < 0 {
		return "-" + sinceText(-d)
	}
	return millis(float64(d.Microseconds()) / 1000)
}
