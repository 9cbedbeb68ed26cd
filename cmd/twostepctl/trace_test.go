package main

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/configs"
	"twostep/internal/logbuf"
)

// traceRun is a `twostepctl trace` running in-process against a test
// cluster, as an admin runs it in a terminal.
type traceRun struct {
	store          cluster.Store
	stdout, stderr *logbuf.Buffer
	interrupt      context.CancelFunc // Ctrl-C
	done           chan error
}

// startTrace runs twostepctl with args against tc until interrupt.
func startTrace(t *testing.T, tc *testCluster, args ...string) *traceRun {
	t.Helper()
	return startTraceAfter(t, tc, nil, args...)
}

// startTraceAfter is startTrace with setup run on the store first: what
// the command reads once at its start (the nodes up) is there before it.
func startTraceAfter(t *testing.T, tc *testCluster, setup func(cluster.Store), args ...string) *traceRun {
	t.Helper()
	cfg, err := configs.LoadForTools(tc.config)
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.Open(context.Background(), cfg.Cluster.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if setup != nil {
		setup(store)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &traceRun{store: store, stdout: &logbuf.Buffer{}, stderr: &logbuf.Buffer{}, interrupt: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- run(ctx, append([]string{"-config", tc.config}, args...), strings.NewReader(""), r.stdout, r.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// until waits for cond, failing after 10 s with the output.
func (r *traceRun) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\nstdout:\n%s\nstderr:\n%s", what, r.stdout.String(), r.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// request returns the trace request for user as the nodes read it.
func (r *traceRun) request(user string) (cluster.TraceRequest, error) {
	e, err := r.store.Get(context.Background(), cluster.TraceRequestKey(user))
	if err != nil {
		return cluster.TraceRequest{}, err
	}
	return cluster.DecodeTraceRequest(e)
}

// write writes records as the nodes do.
func (r *traceRun) write(t *testing.T, recs ...cluster.TraceRecord) {
	t.Helper()
	if err := cluster.NewTraces(r.store).WriteTraces(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// stop interrupts the command (Ctrl-C) and returns its error.
func (r *traceRun) stop(t *testing.T) error {
	t.Helper()
	r.interrupt()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("twostepctl trace ignored Ctrl-C")
	}
	return nil
}

// traceRecords are what two nodes write of one login asked on node-1
// (a push sent and waited for, then its answer) and answered on node-2,
// and of another login.
func traceRecords(at time.Time) []cluster.TraceRecord {
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	return []cluster.TraceRecord{
		{ID: "3f9ac21b5d7e", User: "alice", TypedUser: "ALICE", Node: "node-1", Arrived: at, Written: ms(5), Seq: 1, Part: 0, Events: []cluster.TraceEvent{
			{Time: at, Kind: "request", Detail: "Access-Request id 7 from 192.0.2.10:4000, client vpn",
				Attributes: []cluster.TraceAttribute{{Name: "User-Name", Value: `"ALICE"`}, {Name: "User-Password", Value: "<masked, 16 bytes>"}}},
			{Time: ms(3), Kind: "directory", Op: "search", Result: "ok", MS: 2.5, Detail: "uid=alice,ou=people,dc=example,dc=org"},
			{Time: ms(4), Kind: "push", Result: "waiting", Detail: "for phone's answer, up to 9s"},
		}},
		{ID: "3f9ac21b5d7e", User: "alice", TypedUser: "ALICE", Node: "node-1", Arrived: at, Written: ms(2100), Seq: 2, Part: 1, Final: true, Events: []cluster.TraceEvent{
			{Time: ms(2000), Kind: "push", Result: "approved", Detail: "phone answered approved through node-2"},
			{Time: ms(2001), Kind: "reply", Detail: "Access-Accept (push_approved, factor push, device phone)"},
		}},
		{ID: "aaaabbbbcccc", User: "alice", Node: "node-2", Arrived: ms(3000), Written: ms(3010), Seq: 1, Final: true, Dropped: 3, Events: []cluster.TraceEvent{
			{Time: ms(3000), Kind: "store", Op: "get", Result: "not_found", MS: 0.4, Detail: "challenges/ab12", Keys: []string{"challenges/ab12"}},
		}},
	}
}

// TestTraceCommand: the command asks every node through etcd, names the
// nodes up, prints the records nodes write as they come, one block per
// login, and takes its request back at Ctrl-C.
func TestTraceCommand(t *testing.T) {
	tc := newTestCluster(t)
	r := startTrace(t, tc, "trace", "-for", "1m", "Alice")
	if err := cluster.NewTraces(r.store).WriteTraces(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r.until(t, "the waiting line", func() bool { return strings.Contains(r.stdout.String(), "Waiting for alice's next login") })
	req, err := r.request("alice")
	if err != nil {
		t.Fatalf("trace/requests/alice: %v", err)
	}
	// The users file knows no "Alice": the name is taken as given,
	// lower-cased as every user key.
	if req.User != "alice" || req.Typed != "" || req.Until.Sub(req.Since) != time.Minute || !strings.HasPrefix(req.By, "twostepctl ") {
		t.Errorf("request %+v: want alice, for a minute, by the admin", req)
	}
	if !strings.Contains(r.stderr.String(), `note: "Alice" is not in the users file`) {
		t.Errorf("stderr %q: want a note that the directory does not know the name", r.stderr.String())
	}
	r.write(t, traceRecords(time.Now())...)
	r.until(t, "the records", func() bool { return strings.Contains(r.stdout.String(), "challenges/ab12") })
	if err := r.stop(t); err != nil {
		t.Fatalf("twostepctl trace: %v\n%s", err, r.stderr.String())
	}
	if _, err := r.request("alice"); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("after Ctrl-C the request is %v, want it taken back", err)
	}
	// Columns aside: runs of spaces count as one.
	spaces := regexp.MustCompile(` +`)
	out := spaces.ReplaceAllString(r.stdout.String(), " ")
	for _, want := range []string{
		"Tracing alice on every node until ",
		"No node is up now (nodes/ is empty).\nWaiting for alice's next login on any of 0 nodes…",
		"\nlogin 3f9ac21b5d7e (Ref 3f9a-c21b), alice (typed ALICE)\n",
		"  node-1      +0.00ms  request                Access-Request id 7 from 192.0.2.10:4000, client vpn\n",
		"User-Name = \"ALICE\"\n",
		"User-Password = <masked, 16 bytes>\n",
		"  node-1      +3.00ms  directory search       ok  2.50ms  uid=alice,ou=people,dc=example,dc=org\n",
		"  node-1   … waiting; the rest of this request comes with its answer\n",
		"  node-1       +2.00s  push                   approved  phone answered approved through node-2\n",
		"\nlogin aaaabbbbcccc (Ref aaaa-bbbb), alice\n",
		"  node-2      +0.00ms  store get              not_found  0.40ms  challenges/ab12\n",
		"  node-2   3 more step(s) not kept (128 per record)\n",
		"Trace of alice ended (interrupted): 2 requests of 2 logins shown; the nodes stop tracing now.\n",
	} {
		if want = spaces.ReplaceAllString(want, " "); !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "\nlogin 3f9ac21b5d7e") != 1 {
		t.Errorf("the first login's two records make one block:\n%s", out)
	}
}

// TestTraceCommandJSON: -json prints one object per step, with exactly
// the documented fields, and the header on stderr; the nodes up are
// named.
func TestTraceCommandJSON(t *testing.T) {
	tc := newTestCluster(t)
	r := startTraceAfter(t, tc, func(store cluster.Store) {
		for _, node := range []string{"node-2", "node-1"} {
			if _, err := store.Commit(context.Background(), cluster.Txn{Then: []cluster.Op{cluster.Put(cluster.NodeKey(node), []byte(`{}`))}}); err != nil {
				t.Fatal(err)
			}
		}
	}, "trace", "-json", "bob")
	r.until(t, "the request", func() bool { _, err := r.request("bob"); return err == nil })
	r.until(t, "the waiting line", func() bool { return strings.Contains(r.stderr.String(), "Waiting for bob's") })
	at := time.Now()
	recs := traceRecords(at)
	for i := range recs {
		recs[i].User, recs[i].TypedUser = "bob", ""
	}
	r.write(t, recs...)
	r.until(t, "the records", func() bool { return strings.Count(r.stdout.String(), "\n") == 6 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr.String(), "Nodes up: node-1, node-2.") && !strings.Contains(r.stderr.String(), "node-1, node-2") {
		t.Errorf("stderr %q: want the nodes up", r.stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(r.stdout.String()), "\n")
	for i, line := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range []string{"id", "kind", "node", "offset_ms", "time", "typed_user", "user"} {
			if !slices.Contains(keys, k) {
				t.Errorf("line %d: no %q in %v", i, k, keys)
			}
		}
		for _, k := range keys {
			if !slices.Contains([]string{"id", "node", "user", "typed_user", "offset_ms", "time", "kind", "op", "result", "ms", "detail", "keys", "attributes"}, k) {
				t.Errorf("line %d: field %q is not documented", i, k)
			}
		}
		if i == 1 && (obj["offset_ms"] != 3.0 || obj["op"] != "search" || obj["ms"] != 2.5 || obj["user"] != "bob") {
			t.Errorf("line 1: %v, want the search at +3ms", obj)
		}
	}
}

// TestTraceCommandFlags: -for is bounded and USER is needed.
func TestTraceCommandFlags(t *testing.T) {
	for _, args := range [][]string{
		{"trace", "-for", "5s", "alice"},
		{"trace", "-for", "25h", "alice"},
		{"trace"},
		{"trace", "alice", "bob"},
		{"trace", " "},
	} {
		if _, _, err := ctl(t, "", args...); err == nil {
			t.Errorf("twostepctl %v: no error", args)
		}
	}
	out, _, err := ctl(t, "", "trace", "-h")
	if err != nil || !strings.Contains(out, "Usage: twostepctl trace [-for 10m] [-config FILE] [-json] USER") {
		t.Errorf("trace -h: %v\n%s", err, out)
	}
}

// TestTracePrinterQuotesControls: text that outsiders chose (a User-Name
// as typed, an attribute) reaches the terminal quoted when it is not
// printable.
func TestTracePrinterQuotesControls(t *testing.T) {
	var out strings.Builder
	p := newTracePrinter(&out, false)
	at := time.Now()
	p.record(cluster.TraceRecord{ID: "3f9ac21b5d7e", User: "alice", TypedUser: "alice@x\x1b[2J", Node: "node-1", Arrived: at, Final: true, Events: []cluster.TraceEvent{
		{Time: at, Kind: "request", Detail: "from\x1b]0;owned\x07", Attributes: []cluster.TraceAttribute{{Name: "Attr\r", Value: "v\x1b[31m"}}},
	}})
	if strings.ContainsAny(out.String(), "\x1b\x07\r") {
		t.Errorf("control characters reach the terminal: %q", out.String())
	}
	if !strings.Contains(out.String(), `"alice@x\x1b[2J"`) {
		t.Errorf("the name as typed is not quoted: %q", out.String())
	}
}
