package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"twostep/cluster"
)

// lockoutAttempts is passcodes.lockout.attempts in the cluster tests'
// configuration.
const lockoutAttempts = 4

// TestClusterLockoutUnderBurst sends 150 distinct wrong codes of one
// user at once through three nodes, in append mode and as answers to
// 150 challenges: at most lockout.attempts of them are answered as
// wrong (the others see the lock, or a plain Reject when their failure
// could not be counted in time), the account ends locked, and the right
// code after the burst is refused on every node.
func TestClusterLockoutUnderBurst(t *testing.T) {
	// A limit of 20, as sites set it: the burst is well under way before
	// the lock can land.
	const attempts = 20
	n := startNodesExtra(t, nil, func(int) string {
		return fmt.Sprintf("passcodes:\n  lockout: {attempts: %d, duration: 15m}\n", attempts)
	}, "secure", "secure", "secure")
	dev := n.enroll(t, "phone")
	ctx := context.Background()
	const burst = 150
	// wrong returns the i-th wrong code, never one of the window's.
	wrong := func(i int) string {
		now := dev.Step(time.Now())
		for c := 100000 + i*7; ; c++ {
			code := fmt.Sprintf("%06d", c)
			if code != dev.Code(now) && code != dev.Code(now-1) && code != dev.Code(now+1) {
				return code
			}
		}
	}
	for _, mode := range []string{"append", "challenge"} {
		t.Run(mode, func(t *testing.T) {
			if _, err := n.accounts.Unlock(ctx, clusterUser); err != nil {
				t.Fatal(err)
			}
			states := make([][]byte, burst)
			if mode == "challenge" {
				for i := range states {
					first := login(t, n.all[i%3].radius, clusterUser, clusterPassword, nil)
					if first.code != radius.CodeAccessChallenge {
						t.Fatalf("first round %d: got %v %q", i, first.code, first.message)
					}
					states[i] = first.state
				}
			}
			var mu sync.Mutex
			answers := map[string]int{}
			var wg sync.WaitGroup
			for i := range burst {
				wg.Go(func() {
					var got answer
					if mode == "append" {
						got = login(t, n.all[i%3].radius, clusterUser, clusterPassword+","+wrong(i), nil)
					} else {
						got = login(t, n.all[(i+1)%3].radius, clusterUser, wrong(i), states[i])
					}
					mu.Lock()
					defer mu.Unlock()
					switch {
					case got.code == radius.CodeAccessAccept:
						t.Errorf("a wrong code was accepted")
					case strings.Contains(got.message, "locked"):
						answers["locked"]++
					case got.code == radius.CodeAccessChallenge && strings.Contains(got.message, "Try again"),
						got.code == radius.CodeAccessReject && got.message == "":
						answers["wrong"]++ // "try again", or append mode's silent reject
					default:
						answers[fmt.Sprintf("%v %q", got.code, got.message)]++
					}
				})
			}
			wg.Wait()
			if answers["wrong"] > attempts || answers["wrong"] == 0 {
				t.Errorf("answers %v: %d wrong codes answered as wrong, want 1 to %d", answers, answers["wrong"], attempts)
			}
			acct, err := n.accounts.Load(ctx, clusterUser)
			if err != nil {
				t.Fatal(err)
			}
			if !acct.Lockout.Locked(time.Now()) || acct.Lockout.Failures != attempts {
				t.Errorf("lockout %+v after the burst (answers %v), want locked at %d failures", acct.Lockout, answers, attempts)
			}
			for i, node := range n.all {
				got := login(t, node.radius, clusterUser, clusterPassword+","+dev.Code(dev.Step(time.Now())), nil)
				if got.code != radius.CodeAccessReject || !strings.Contains(got.message, "locked") {
					t.Errorf("node %d, the right code after the burst: got %v %q, want a reject saying the account is locked", i, got.code, got.message)
				}
			}
		})
	}
}

// TestClusterTamperedBypassCode revives a used-up one-use bypass code in
// etcd as somebody without the key file would (no use made, no limit, a
// later expiry): no node lets it in, each says why in an error line, and
// the metric counts it.
func TestClusterTamperedBypassCode(t *testing.T) {
	n := startNodes(t, "secure", "secure")
	ctx := context.Background()
	code, b, err := n.accounts.IssueBypass(ctx, clusterUser, cluster.BypassSpec{Profile: "short", MaxUses: 1, TTL: time.Hour, Digits: 9}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := login(t, n.a.radius, clusterUser, clusterPassword+","+code, nil); got.code != radius.CodeAccessAccept {
		t.Fatalf("the code's one use: got %v %q", got.code, got.message)
	}
	key := "users/" + clusterUser + "/bypass/" + b.ID
	e, err := n.store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(e.Value, &raw); err != nil {
		t.Fatal(err)
	}
	raw["used"], raw["max_uses"], raw["expires"] = 0, 0, time.Now().Add(240*time.Hour).UTC().Format(time.RFC3339)
	forged, _ := json.Marshal(raw)
	if _, err := n.store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, forged)}}); err != nil {
		t.Fatal(err)
	}
	for i, node := range n.all {
		if got := login(t, node.radius, clusterUser, clusterPassword+","+code, nil); got.code == radius.CodeAccessAccept {
			t.Fatalf("node %d let an edited bypass code in", i)
		}
		node.waitLog(t, `"level":"error"`)
		node.waitLog(t, "bypass record users/"+clusterUser+"/bypass/"+b.ID)
		if got := node.metric(t, `twostep_cluster_records_tampered_total{kind="bypass"}`); got == "" || got == "0" {
			t.Errorf("node %d: tampered bypass records %q, want at least 1", i, got)
		}
	}
}
