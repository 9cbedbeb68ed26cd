package trace_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/directory"
	"twostep/internal/leakcheck"
	"twostep/radiusd"
	"twostep/trace"
)

// These tests run logins through the real RADIUS server and engine, on
// the users file and a counted memory store, to measure what tracing
// costs them: nothing while nobody is traced, nothing for users nobody
// traces.

const loginSecret = "trace-test-secret"

// loginEnv is a users file with alice and bob, alice enrolled, and the
// engine over a counted store.
type loginEnv struct {
	store  *countingStore
	mem    *memstore.Store
	engine *challenge.Engine
}

// passwords of the users file, which no trace may show.
var passwords = map[string]string{"alice": "alice-Secret-pw", "bob": "bob-Secret-pw"}

func newLoginEnv(t *testing.T) *loginEnv {
	t.Helper()
	dir := t.TempDir()
	var users strings.Builder
	users.WriteString("users:\n")
	for _, u := range []string{"alice", "bob"} {
		h, err := directory.HashPassword(directory.SSHA512, passwords[u])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "  %s:\n    password: %q\n    groups: [vpn-users]\n", u, h)
	}
	path := filepath.Join(dir, "users.yaml")
	if err := os.WriteFile(path, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	file, err := directory.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.ParseKeyring(kf)
	if err != nil {
		t.Fatal(err)
	}
	mem := memstore.New()
	store := &countingStore{Store: mem}
	// As the daemon does: the engine's store is metered, which is where
	// a traced request's store calls are observed.
	metered := cluster.NewMeteredStore(store, nil)
	accounts := cluster.NewAccounts(metered, keys)
	secret, err := otp.NewTOTPSecret(rand.Reader, "SHA1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.AddDevice(context.Background(), "alice", cluster.Device{Name: "phone", Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: secret}); err != nil {
		t.Fatal(err)
	}
	policy := challenge.Policy{Groups: []challenge.GroupRule{{Group: "vpn-users", Reply: []challenge.Attribute{{Name: "Class", Value: "staff"}}}}}
	engine := challenge.NewEngine(file, policy, challenge.WithPasscodes(challenge.Passcodes{}, accounts, cluster.NewChallenges(metered, keys)))
	return &loginEnv{store: store, mem: mem, engine: engine}
}

// server starts a RADIUS server in front of the engine, traced by tr
// (none when nil), and returns its address.
func (env *loginEnv) server(t *testing.T, tr *trace.Tracing) *net.UDPAddr {
	t.Helper()
	table, err := radiusd.NewClientTable([]radiusd.Client{{Name: "nas", Secret: []byte(loginSecret), Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if err != nil {
		t.Fatal(err)
	}
	o := radiusd.Options{Authenticator: env.engine, Clients: table}
	if tr != nil {
		o.Trace = tr
	}
	srv, err := radiusd.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(conn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return conn.LocalAddr().(*net.UDPAddr)
}

// login sends user's Access-Request with password to addr and returns
// the answer's code, and the store calls made from sending it to reading
// the answer.
func (env *loginEnv) login(t *testing.T, addr *net.UDPAddr, user, password string) (radius.Code, int64) {
	t.Helper()
	p, err := radiusd.NewAccessRequest([]byte(loginSecret), user, password)
	if err != nil {
		t.Fatal(err)
	}
	rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
	req, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := env.store.calls()
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("%s's login: %v", user, err)
	}
	calls := env.store.calls() - before
	if err := radiusd.VerifyResponse(buf[:n], req, []byte(loginSecret)); err != nil {
		t.Fatal(err)
	}
	return radius.Code(buf[0]), calls
}

// runTracing runs a Tracing on env's store until the test ends.
func (env *loginEnv) runTracing(t *testing.T) *trace.Tracing {
	t.Helper()
	tr := trace.New(trace.Options{Store: env.store, Node: "node-1"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return tr
}

// waitUntil polls cond until it holds, failing after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoginCostWithoutTrace: a login costs the store the same calls
// with tracing wired and nobody traced as without tracing at all; with
// alice traced, bob's login still costs the same and is written nowhere,
// and alice's is written once, its secrets masked.
func TestLoginCostWithoutTrace(t *testing.T) {
	leakcheck.Check(t)
	env := newLoginEnv(t)
	plain := env.server(t, nil)
	code, base := env.login(t, plain, "bob", passwords["bob"])
	if code != radius.CodeAccessReject || base == 0 {
		t.Fatalf("bob without tracing: %v after %d store calls; want a Reject (no device) that read his records", code, base)
	}

	lists := env.store.lists.Load()
	tr := env.runTracing(t)
	traced := env.server(t, tr)
	// In place once its watch is and it has read the requests after it
	// (one List), so that no login below counts the tracer's own calls.
	waitUntil(t, "the tracer's watch and first read", func() bool {
		return env.store.watches.Load() == 1 && env.store.lists.Load() > lists
	})
	for i := range 3 {
		if _, got := env.login(t, traced, "bob", passwords["bob"]); got != base {
			t.Fatalf("bob's login %d with tracing wired and nobody traced: %d store calls, want %d", i, got, base)
		}
	}

	req := &cluster.TraceRequest{User: "alice", Since: time.Now(), Until: time.Now().Add(time.Minute), By: "test"}
	if err := cluster.NewTraces(env.mem).Ask(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "alice traced", func() bool { return tr.Traced() == 1 })
	if _, got := env.login(t, traced, "bob", passwords["bob"]); got != base {
		t.Errorf("bob's login while alice is traced: %d store calls, want %d", got, base)
	}
	code, _ = env.login(t, traced, "alice", passwords["alice"])
	if code != radius.CodeAccessChallenge {
		t.Fatalf("alice: %v, want an Access-Challenge for her passcode", code)
	}
	var entries []cluster.Entry
	waitUntil(t, "alice's trace record", func() bool {
		entries, _ = env.mem.List(context.Background(), cluster.TraceEventsPrefix("alice"))
		return len(entries) > 0
	})
	if bob, _ := env.mem.List(context.Background(), cluster.TraceEventsPrefix("bob")); len(bob) != 0 {
		t.Errorf("bob's logins written: %v", bob)
	}
	if len(entries) != 1 {
		t.Fatalf("%d records of alice's one request, want 1", len(entries))
	}
	raw := string(entries[0].Value)
	for _, secret := range passwords {
		if strings.Contains(raw, secret) {
			t.Errorf("the record shows a password: %s", raw)
		}
	}
	rec, err := cluster.DecodeTraceRecord(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]cluster.TraceEvent{}
	for _, e := range rec.Events {
		if _, ok := kinds[e.Kind+" "+e.Op]; !ok {
			kinds[e.Kind+" "+e.Op] = e
		}
	}
	for _, want := range []string{"request ", "input ", "directory authenticate", "first_factor ", "policy ", "store list", "account ", "store commit", "round ", "reply "} {
		if _, ok := kinds[want]; !ok {
			t.Errorf("no %q step in %+v", want, rec.Events)
		}
	}
	attrs := map[string]string{}
	for _, a := range kinds["request "].Attributes {
		attrs[a.Name] = a.Value
	}
	if attrs["User-Name"] != `"alice"` || attrs["NAS-Identifier"] != `"vpn-gw-1"` || !strings.HasPrefix(attrs["User-Password"], "<masked") || !strings.HasPrefix(attrs["Message-Authenticator"], "<masked") {
		t.Errorf("request attributes %v: want User-Name and NAS-Identifier shown, User-Password and Message-Authenticator masked", attrs)
	}
	reply := map[string]string{}
	for _, a := range kinds["reply "].Attributes {
		reply[a.Name] = a.Value
	}
	if !strings.HasPrefix(reply["State"], "<masked") || reply["Reply-Message"] != `"`+challenge.DefaultPrompt+`"` {
		t.Errorf("reply attributes %v: want State masked, the prompt shown", reply)
	}
	if p := kinds["policy "]; p.Result != "require" || !strings.Contains(p.Detail, "group vpn-users") {
		t.Errorf("policy step %+v, want require by group vpn-users", p)
	}
}
