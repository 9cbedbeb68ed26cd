package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/directory"
	"twostep/radiusd"
)

// These tests run two twostepd processes on different loopback addresses
// against one etcd, as a cluster runs: what one node starts the other
// finishes, and a passcode is accepted once across both.

// twoNodes is a cluster of twostepd processes and the etcd they share;
// a and b are the first two.
type twoNodes struct {
	etcd     *etcdtest.Server
	a, b     *daemonProc
	all      []*daemonProc
	accounts *cluster.Accounts
	store    cluster.Store // the test's own view, as etcdctl has
	keyPath  string
}

// clusterUser and clusterUsers more (carol0, carol1, …) share a password
// checked with a fast hash, so that hundreds of logins cost little.
const (
	clusterUser     = "carol"
	clusterPassword = "carol-password"
	clusterUsers    = 200
)

// clusterService is the display name of the nodes' RADIUS client "nas":
// what its pushes show the user, where logs and metrics say "nas".
const clusterService = "Staff VPN"

func startTwoNodes(t *testing.T, failmodeB string) *twoNodes {
	t.Helper()
	return startNodes(t, "secure", failmodeB)
}

// startNodes starts one twostepd per failmode, on 127.0.0.1, 127.0.0.2, …,
// named node-1, node-2, … (cluster.node_name).
func startNodes(t *testing.T, failmodes ...string) *twoNodes {
	t.Helper()
	return startNodesWith(t, nil, failmodes...)
}

// startNodesWith is startNodes calling before with the etcd before any
// node starts.
func startNodesWith(t *testing.T, before func(*etcdtest.Server), failmodes ...string) *twoNodes {
	t.Helper()
	return startNodesExtra(t, before, nil, failmodes...)
}

// startNodesExtra is startNodesWith adding extra(i) to node i's
// configuration; an extra that has a passcodes, clients or directory
// section replaces the default one (lockout after 4 failures; client
// "nas"; the users file of carol and carol0…).
func startNodesExtra(t *testing.T, before func(*etcdtest.Server), extra func(i int) string, failmodes ...string) *twoNodes {
	t.Helper()
	etcd := etcdtest.Start(t)
	shared := t.TempDir()
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(shared, "seed.key")
	os.WriteFile(keyPath, key, 0o600)
	hash, err := directory.HashPassword(directory.SSHA512, clusterPassword)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(shared, "users.yaml")
	list := fmt.Appendf(nil, "users:\n  %s:\n    password: %q\n", clusterUser, hash)
	for i := range clusterUsers {
		list = fmt.Appendf(list, "  %s%d:\n    password: %q\n", clusterUser, i, hash)
	}
	os.WriteFile(users, list, 0o600)

	node := func(i int, failmode, more string) *daemonProc {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "twostep.yaml")
		os.WriteFile(cfg, fmt.Appendf(nil, `log: {level: debug}
radius: {listen: ["127.0.0.%d:0"], reject_delay: 0s}
%s
%s
metrics: {listen: "127.0.0.1:0"}
cluster:
  endpoints: [%s]
  request_timeout: 1s
  dial_timeout: 1s
  seed_keys: %s
  node_name: node-%d
%s`, i+1, withClients(more, failmode), withDirectory(more, users), strings.Join(etcd.Endpoints(), ", "), keyPath, i+1, withPasscodes(more)), 0o600)
		return startDaemonConfig(t, cfg)
	}
	if before != nil {
		before(etcd)
	}
	n := &twoNodes{etcd: etcd}
	for i, fm := range failmodes {
		more := ""
		if extra != nil {
			more = extra(i)
		}
		n.all = append(n.all, node(i, fm, more))
	}
	n.a = n.all[0]
	if len(n.all) > 1 {
		n.b = n.all[1]
	}
	n.keyPath = keyPath
	if before == nil {
		n.connect(t)
	}
	return n
}

// withClients is a node's clients section: the default one, client "nas"
// for 127.0.0.0/8, unless more has its own.
func withClients(more, failmode string) string {
	if strings.HasPrefix(more, "clients:") || strings.Contains(more, "\nclients:") {
		return ""
	}
	return fmt.Sprintf("clients:\n  - {name: nas, display_name: %q, networks: [127.0.0.0/8], secret: %s, failmode: %s, nas_timeout: 1s, nas_retries: 3}", clusterService, testSecret, failmode)
}

// withDirectory is a node's directory section: the shared users file,
// unless more has a directory section of its own.
func withDirectory(more, users string) string {
	if strings.HasPrefix(more, "directory:") || strings.Contains(more, "\ndirectory:") {
		return ""
	}
	return fmt.Sprintf("directory: {backend: file, file: {path: %s}}", users)
}

// withPasscodes is the end of a node's configuration: more, and the
// default passcodes section unless more has its own.
func withPasscodes(more string) string {
	if strings.HasPrefix(more, "passcodes:") || strings.Contains(more, "\npasscodes:") {
		return more
	}
	return fmt.Sprintf("passcodes:\n  lockout: {attempts: %d, duration: 15m}\n%s", lockoutAttempts, more)
}

// connect opens the test's own view of the records, as twostepctl would.
func (n *twoNodes) connect(t *testing.T) {
	t.Helper()
	store, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: n.etcd.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys, err := cluster.LoadKeyring(n.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	n.accounts = cluster.NewAccounts(store, keys)
	n.store = store
}

// enroll gives clusterUser a fresh TOTP device and returns it.
func (n *twoNodes) enroll(t *testing.T, name string) otp.TOTP {
	t.Helper()
	return n.enrollUser(t, clusterUser, name)
}

// enrollUser gives user a fresh TOTP device and returns it.
func (n *twoNodes) enrollUser(t *testing.T, user, name string) otp.TOTP {
	t.Helper()
	secret, err := otp.NewTOTPSecret(rand.Reader, "SHA1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.accounts.AddDevice(context.Background(), user, cluster.Device{
		Name: name, Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	return otp.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second}
}

// answer is what a node answered.
type answer struct {
	code  radius.Code
	state []byte
	// message is the Reply-Message without the login's reference, which
	// a Reject ends with (ref, "Ref 3f9a-c21b").
	message, ref string
}

// refSuffix is the login's reference at the end of a Reply-Message.
var refSuffix = regexp.MustCompile(` ?(Ref [0-9a-f]{4}-[0-9a-f]{4})$`)

// newAnswer is the answer r.
func newAnswer(r *radius.Packet) answer {
	a := answer{code: r.Code, state: rfc2865.State_Get(r), message: rfc2865.ReplyMessage_GetString(r)}
	if m := refSuffix.FindStringSubmatchIndex(a.message); m != nil {
		a.ref, a.message = a.message[m[2]:m[3]], a.message[:m[0]]
	}
	return a
}

// login sends one Access-Request from 127.0.0.1 (the NAS) to addr.
func login(t *testing.T, addr, user, password string, state []byte) answer {
	t.Helper()
	p := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, password)
	if state != nil {
		rfc2865.State_Set(p, state)
	}
	req, err := radiusd.SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, ua)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// As a NAS does: retransmit the same request once after 3 s and wait
	// 10 s in all, so a loaded machine (-race, packages in parallel) is
	// not taken for a silent server.
	resp := exchange(t, conn, req)
	if resp == nil {
		resp = exchangeWithin(t, conn, req, 7*time.Second)
	}
	if resp == nil {
		return answer{}
	}
	if err := radiusd.VerifyResponse(resp, req, []byte(testSecret)); err != nil {
		t.Fatalf("response from %s: %v", addr, err)
	}
	r, err := radius.Parse(resp, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return newAnswer(r)
}

func TestClusterChallengeAnsweredOnAnotherNode(t *testing.T) {
	n := startTwoNodes(t, "secure")
	dev := n.enroll(t, "phone")

	first := login(t, n.a.radius, clusterUser, clusterPassword, nil)
	if first.code != radius.CodeAccessChallenge || len(first.state) != 16 {
		t.Fatalf("node A: got %v with a %d-byte State, want Access-Challenge with 16\n%s", first.code, len(first.state), n.a.logText())
	}
	got := login(t, n.b.radius, clusterUser, dev.Code(dev.Step(time.Now())), first.state)
	if got.code != radius.CodeAccessAccept {
		t.Fatalf("node B: got %v (%q), want Access-Accept\n%s", got.code, got.message, n.b.logText())
	}
	// The State is spent on every node (refused as a State, before any
	// code is looked at).
	if again := login(t, n.a.radius, clusterUser, dev.Code(dev.Step(time.Now())+1), first.state); again.code != radius.CodeAccessReject || again.message != "This login was already finished or has expired. Log in again." {
		t.Errorf("node A after B accepted: got %v %q, want Access-Reject saying the login was already finished", again.code, again.message)
	}
}

// TestClusterCodeAcceptedOnce sends a code to both nodes at once, 200
// times with 200 users' codes: every code gets exactly one Accept.
func TestClusterCodeAcceptedOnce(t *testing.T) {
	n := startTwoNodes(t, "secure")
	devs := make([]otp.TOTP, clusterUsers)
	for i := range devs {
		devs[i] = n.enrollUser(t, fmt.Sprintf("%s%d", clusterUser, i), "phone")
	}
	for i, dev := range devs {
		user := fmt.Sprintf("%s%d", clusterUser, i)
		pw := clusterPassword + "," + dev.Code(dev.Step(time.Now()))
		var mu sync.Mutex
		accepts := 0
		var wg sync.WaitGroup
		for _, addr := range []string{n.a.radius, n.b.radius} {
			wg.Go(func() {
				if login(t, addr, user, pw, nil).code == radius.CodeAccessAccept {
					mu.Lock()
					accepts++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if accepts != 1 {
			t.Fatalf("round %d: got %d accepts of one code on two nodes, want 1", i, accepts)
		}
	}
}

func TestClusterLockout(t *testing.T) {
	n := startTwoNodes(t, "secure")
	dev := n.enroll(t, "phone")
	good := dev.Code(dev.Step(time.Now()))
	wrong := []string{"111111", "222222", "333333", "444444"}
	nodes := []string{n.a.radius, n.b.radius}
	for i, code := range wrong {
		if code == good {
			continue
		}
		got := login(t, nodes[i%2], clusterUser, clusterPassword+","+code, nil)
		if got.code != radius.CodeAccessReject {
			t.Fatalf("wrong code %d: got %v", i, got.code)
		}
	}
	for _, addr := range nodes {
		got := login(t, addr, clusterUser, clusterPassword+","+good, nil)
		if got.code != radius.CodeAccessReject || !strings.Contains(got.message, "locked") {
			t.Errorf("%s after 4 failures across nodes: got %v %q, want a reject saying the account is locked", addr, got.code, got.message)
		}
	}
	if ok, err := n.accounts.Unlock(context.Background(), clusterUser); err != nil || !ok {
		t.Fatalf("unlock: %v %v", ok, err)
	}
	if got := login(t, n.b.radius, clusterUser, clusterPassword+","+good, nil); got.code != radius.CodeAccessAccept {
		t.Errorf("after unlock: got %v %q, want Access-Accept", got.code, got.message)
	}
}

// TestClusterStoreDown stops etcd: node A (failmode secure) rejects saying
// why, node B (failmode safe) lets the password alone in; both count it.
// When etcd returns, both require the passcode again.
func TestClusterStoreDown(t *testing.T) {
	n := startTwoNodes(t, "safe")
	dev := n.enroll(t, "phone")
	n.etcd.Stop()

	got := login(t, n.a.radius, clusterUser, clusterPassword, nil)
	if got.code != radius.CodeAccessReject || !strings.Contains(got.message, "unavailable") {
		t.Errorf("failmode secure: got %v %q, want a reject saying the service is unavailable", got.code, got.message)
	}
	if got := login(t, n.b.radius, clusterUser, clusterPassword, nil); got.code != radius.CodeAccessAccept {
		t.Errorf("failmode safe: got %v %q, want Access-Accept", got.code, got.message)
	}
	if got := login(t, n.b.radius, clusterUser, "wrong", nil); got.code != radius.CodeAccessReject {
		t.Errorf("failmode safe still checks the password: got %v", got.code)
	}
	if n.a.metric(t, `twostep_radius_requests_total{client="nas",code="reject",reason="failmode_secure"}`) != "1" ||
		n.b.metric(t, `twostep_radius_requests_total{client="nas",code="accept",reason="failmode_safe"}`) != "1" {
		t.Errorf("fail modes are counted\nA: %s\nB: %s", n.a.logText(), n.b.logText())
	}

	n.etcd.Restart()
	// Each node's etcd client reconnects on its own back-off: wait for
	// both to ask for the passcode again.
	for _, node := range []struct {
		name string
		addr string
	}{{"A", n.a.radius}, {"B", n.b.radius}} {
		waitFor(t, "node "+node.name+" requiring the passcode again", func() bool {
			return login(t, node.addr, clusterUser, clusterPassword, nil).code == radius.CodeAccessChallenge
		})
	}
	if got := login(t, n.a.radius, clusterUser, clusterPassword+","+dev.Code(dev.Step(time.Now())), nil); got.code != radius.CodeAccessAccept {
		t.Errorf("node A after etcd returned: got %v %q, want Access-Accept", got.code, got.message)
	}
}

// TestClusterBypassCodeUses tries a 5-use bypass code 200 times at once
// through three nodes: it is accepted exactly 5 times. An expired code is
// refused with its reason, and a token marked lost stops on every node.
func TestClusterBypassCodeUses(t *testing.T) {
	n := startNodes(t, "secure", "secure", "secure")
	ctx := context.Background()
	code, _, err := n.accounts.IssueBypass(ctx, clusterUser, cluster.BypassSpec{Profile: "short", MaxUses: 5, TTL: 24 * time.Hour, Digits: 9}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	accepts := 0
	var wg sync.WaitGroup
	for i := range 200 {
		addr := n.all[i%3].radius
		wg.Go(func() {
			if login(t, addr, clusterUser, clusterPassword+","+code, nil).code == radius.CodeAccessAccept {
				mu.Lock()
				accepts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepts != 5 {
		t.Fatalf("got %d accepts of a 5-use bypass code across three nodes, want 5", accepts)
	}

	t.Run("expired", func(t *testing.T) {
		// Issued in the past, so that it has expired now.
		old, _, err := n.accounts.IssueBypass(ctx, clusterUser, cluster.BypassSpec{Profile: "short", MaxUses: 5, TTL: time.Minute, Digits: 9}, time.Now().Add(-2*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if got := login(t, n.b.radius, clusterUser, clusterPassword+","+old, nil); got.code != radius.CodeAccessReject {
			t.Fatalf("got %v, want Access-Reject", got.code)
		}
		n.b.waitLog(t, `"reason":"bypass_expired"`)
	})

	t.Run("a lost token stops on every node", func(t *testing.T) {
		secret := []byte("12345678901234567890")
		if err := n.accounts.ImportTokens(ctx, []cluster.Token{{Serial: "HOTP-7", Type: cluster.HOTP, Algorithm: "SHA1", Digits: 6, Secret: secret}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := n.accounts.AssignToken(ctx, "HOTP-7", clusterUser, "key fob", time.Now()); err != nil {
			t.Fatal(err)
		}
		h := otp.HOTP{Secret: secret, Digits: 6}
		for i, node := range n.all {
			if got := login(t, node.radius, clusterUser, clusterPassword+","+h.Code(uint64(i)), nil); got.code != radius.CodeAccessAccept {
				t.Fatalf("node %d, counter %d: got %v %q, want Access-Accept", i, i, got.code, got.message)
			}
		}
		if _, err := n.accounts.MarkTokenLost(ctx, "HOTP-7", time.Now()); err != nil {
			t.Fatal(err)
		}
		for i, node := range n.all {
			if got := login(t, node.radius, clusterUser, clusterPassword+","+h.Code(uint64(3+i)), nil); got.code == radius.CodeAccessAccept {
				t.Errorf("node %d accepted a lost token's code", i)
			}
		}
	})
}

// TestClusterStartsWhileStoreDown: a node restarted during an etcd outage
// comes up, answers by its clients' failmode, and connects when etcd
// returns.
func TestClusterStartsWhileStoreDown(t *testing.T) {
	n := startNodesWith(t, func(e *etcdtest.Server) { e.Stop() }, "safe")
	if got := login(t, n.a.radius, clusterUser, clusterPassword, nil); got.code != radius.CodeAccessAccept {
		t.Fatalf("failmode safe with etcd down since start: got %v %q, want Access-Accept", got.code, got.message)
	}
	n.etcd.Restart()
	n.a.waitLog(t, "cluster store reachable: connected")
	n.connect(t)
	n.enroll(t, "phone")
	if got := login(t, n.a.radius, clusterUser, clusterPassword, nil); got.code != radius.CodeAccessChallenge {
		t.Errorf("after etcd returned: got %v %q, want Access-Challenge", got.code, got.message)
	}
}
