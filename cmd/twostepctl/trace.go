package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/configs"
	"twostep/directory"
)

const traceUsage = `Usage: twostepctl trace [-for 10m] [-config FILE] [-json] USER

Trace USER's logins on every node, live: radiusd -X for one user, in
production. Every twostepd of the cluster follows a request in etcd
(trace/requests/USER) and, for each of USER's requests, writes what it
did (trace/events/USER/…), which this command prints as it comes, one
block per request, grouped by login (the correlation id of the log lines
and of twostepctl logins), with the node and the milliseconds since the
login's first step:

  - the request: the client it matched, where it came from, every
    attribute by its dictionary name;
  - the directory: each search, group search and bind, with its result,
    what came back (the DN, the groups) and how long it took;
  - the policy rule that matched (group and action);
  - the second factor: the user's devices, each step (the passcode
    checked, the challenge round kept, the push sent, its notification
    and its answer), and every etcd read and write with its key, result
    and time;
  - the answer, with its attributes.

User-Password (and a passcode or push keyword after the separator),
CHAP, EAP, State, Proxy-State, Message-Authenticator, Tunnel-Password,
Microsoft's and other secret-bearing vendor attributes are masked:
their length is shown, never their value. Nothing shows a password, a
passcode, a verification number or a seed.

USER is the directory's name (looked up to find the canonical one, when
the directory answers) or the name as users type it; requests whose
User-Name is either, without case, or whose user the directory names so,
are traced. Other users' requests are not written anywhere.

The trace lasts -for (default 10m, at most 24h), or until Ctrl-C; the
nodes stop when this command exits, or within a minute should it be
killed (its request in etcd has a lease it renews). Needs only the
configuration and etcd; -json prints one JSON object per step instead
(time, id, node, user, typed_user, offset_ms, kind, op, result, ms,
detail, keys, attributes), the header on stderr.

Examples:
  twostepctl trace alice
  twostepctl trace -for 30m -json alice | jq -c 'select(.kind == "directory")'

Flags:
`

// Bounds of -for.
const (
	defaultTraceFor = 10 * time.Minute
	minTraceFor     = 10 * time.Second
)

func (c *cli) trace(ctx context.Context, args []string) error {
	f := c.storeFlags("trace", traceUsage)
	forFlag := f.fs.Duration("for", defaultTraceFor, "how long to trace (10s to 24h)")
	asJSON := f.fs.Bool("json", false, "print one JSON object per step, the header on stderr")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	if *forFlag < minTraceFor || *forFlag > cluster.MaxTraceFor {
		return fmt.Errorf("twostepctl trace: -for %s: want 10s to 24h", *forFlag)
	}
	typed := strings.TrimSpace(pos[0])
	if typed == "" {
		return errors.New("twostepctl trace: USER is empty")
	}
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return err
	}
	user := c.canonical(ctx, cfg, typed)
	octx, cancel := op(ctx)
	store, err := etcdstore.Open(octx, cfg.Cluster.Etcd)
	cancel()
	if err != nil {
		return (&session{cfg: cfg}).storeErr(err)
	}
	defer store.Close()
	t := &tracer{c: c, store: store, traces: cluster.NewTraces(store), p: newTracePrinter(c.stdout, *asJSON)}
	now := c.now()
	t.req = cluster.TraceRequest{User: user, Since: now, Until: now.Add(*forFlag), By: c.actor().Name}
	if !strings.EqualFold(typed, user) {
		t.req.Typed = typed
	}
	err = t.run(ctx)
	if err != nil {
		return (&session{cfg: cfg}).storeErr(err)
	}
	return nil
}

// canonical returns the directory's name for typed, lower-cased (the
// trace key's), or typed lower-cased when the directory does not know it
// or cannot be asked, which stderr notes: the nodes match the name as
// users type it too.
func (c *cli) canonical(ctx context.Context, cfg *configs.Config, typed string) string {
	dir, where, closeDir, err := openDirectory(cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "note: cannot open the directory (%v); tracing %q as given\n", err, typed)
		return strings.ToLower(typed)
	}
	defer closeDir()
	octx, cancel := op(ctx)
	defer cancel()
	u, err := dir.Lookup(octx, typed)
	switch {
	case errors.Is(err, directory.ErrUnknownUser):
		fmt.Fprintf(c.stderr, "note: %q is not in %s; tracing the name as given\n", typed, where)
	case err != nil:
		fmt.Fprintf(c.stderr, "note: cannot look %q up in %s (%v); tracing the name as given\n", typed, where, err)
	case u.Name != "":
		return strings.ToLower(u.Name)
	}
	return strings.ToLower(typed)
}

// tracer is one run of twostepctl trace.
type tracer struct {
	c      *cli
	store  cluster.Store
	traces *cluster.Traces
	req    cluster.TraceRequest
	p      *tracePrinter
	// seen holds the keys printed, so that a watch started again after a
	// loss, which lists what it missed, prints nothing twice.
	seen map[string]bool
}

// run asks the nodes to trace, prints what they write until the trace
// ends or ctx does, and then takes the request back.
func (t *tracer) run(ctx context.Context) error {
	t.seen = map[string]bool{}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	prefix := cluster.TraceEventsPrefix(t.req.User)
	// The watch is in place before the nodes are asked: no step is
	// missed.
	events, err := t.startWatch(wctx, prefix)
	if err != nil {
		return err
	}
	octx, cancel := op(ctx)
	err = t.traces.Ask(octx, &t.req)
	cancel()
	if err != nil {
		return err
	}
	t.p.header(t.req, t.nodes(ctx), t.c.stderr)
	why := t.follow(ctx, wctx, prefix, events)
	stopped := t.stop(ctx)
	t.p.footer(t.req, why, stopped, t.c.stderr)
	return nil
}

// follow prints the records written under prefix as events brings them,
// renewing the trace request, until it ends or ctx does; it says why it
// ended.
func (t *tracer) follow(ctx, wctx context.Context, prefix string, events <-chan cluster.WatchEvent) string {
	renew := time.NewTicker(cluster.TraceRenew)
	defer renew.Stop()
	end := time.NewTimer(t.req.Until.Sub(t.c.now()))
	defer end.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() != nil {
					return "interrupted"
				}
				// The watch was lost: start another, and list what
				// came meanwhile.
				var err error
				if events, err = t.rewatch(wctx, prefix); err != nil {
					fmt.Fprintf(t.c.stderr, "note: lost the watch of etcd (%v); trying again\n", err)
					events = t.retryLater(wctx)
				}
				continue
			}
			if !ev.Created && !ev.Deleted {
				t.show(ev.Entry)
			}
		case <-renew.C:
			octx, cancel := op(ctx)
			if err := t.traces.Ask(octx, &t.req); err != nil {
				fmt.Fprintf(t.c.stderr, "note: could not renew the trace request (the nodes stop within a minute unless the next renewal lands): %v\n", err)
			}
			cancel()
		case <-end.C:
			return "-for elapsed"
		case <-ctx.Done():
			return "interrupted"
		}
	}
}

// startWatch watches prefix and waits until the watch is in place.
func (t *tracer) startWatch(ctx context.Context, prefix string) (<-chan cluster.WatchEvent, error) {
	events := t.store.Watch(ctx, prefix)
	timer := time.NewTimer(opTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-events:
		if ok && ev.Created {
			return events, nil
		}
	case <-timer.C:
	}
	return nil, fmt.Errorf("watch %s: %w", prefix, cluster.ErrUnavailable)
}

// rewatch starts the watch again and prints what was written meanwhile.
func (t *tracer) rewatch(ctx context.Context, prefix string) (<-chan cluster.WatchEvent, error) {
	events, err := t.startWatch(ctx, prefix)
	if err != nil {
		return nil, err
	}
	octx, cancel := op(ctx)
	defer cancel()
	entries, err := t.store.List(octx, prefix)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		t.show(e)
	}
	return events, nil
}

// retryLater is a channel that closes after a second, so that the loop
// tries the watch again then.
func (t *tracer) retryLater(ctx context.Context) <-chan cluster.WatchEvent {
	ch := make(chan cluster.WatchEvent)
	go func() {
		defer close(ch)
		timer := time.NewTimer(time.Second)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
		}
	}()
	return ch
}

// show prints the record at e once.
func (t *tracer) show(e cluster.Entry) {
	if t.seen[e.Key] {
		return
	}
	t.seen[e.Key] = true
	rec, err := cluster.DecodeTraceRecord(e)
	if err != nil {
		fmt.Fprintf(t.c.stderr, "note: %v\n", err)
		return
	}
	t.p.record(rec)
}

// stop takes the trace request back, on a context of its own (Ctrl-C
// ended ctx), and reports whether it did.
func (t *tracer) stop(ctx context.Context) bool {
	octx, cancel := op(context.WithoutCancel(ctx))
	defer cancel()
	if err := t.traces.Stop(octx, &t.req); err != nil {
		fmt.Fprintf(t.c.stderr, "note: the trace request stays until its lease ends (within a minute): %v\n", err)
		return false
	}
	return true
}

// nodes names the nodes up (nodes/), sorted; nil when they cannot be
// read.
func (t *tracer) nodes(ctx context.Context) []string {
	octx, cancel := op(ctx)
	defer cancel()
	prefix := cluster.NodeKey("")
	entries, err := t.store.List(octx, prefix)
	if err != nil {
		return nil
	}
	names := []string{}
	for _, e := range entries {
		if name, err := url.PathUnescape(strings.TrimPrefix(e.Key, prefix)); err == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
