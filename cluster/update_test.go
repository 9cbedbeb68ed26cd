package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

func TestRetry(t *testing.T) {
	ctx := context.Background()
	t.Run("a conflict runs the attempt again", func(t *testing.T) {
		n := 0
		err := cluster.Retry(ctx, "test", func(context.Context) error {
			if n++; n < 5 {
				return fmt.Errorf("wrapped: %w", cluster.ErrConflict)
			}
			return nil
		})
		if err != nil || n != 5 {
			t.Errorf("got %v after %d attempts, want nil after 5", err, n)
		}
	})
	t.Run("any other error ends it as it is", func(t *testing.T) {
		boom := errors.New("boom")
		n := 0
		err := cluster.Retry(ctx, "test", func(context.Context) error { n++; return boom })
		if err != boom || n != 1 {
			t.Errorf("got %v after %d attempts, want boom after 1", err, n)
		}
	})
	t.Run("a deadline inside a store call after conflicts is contention", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		n := 0
		err := cluster.Retry(ctx, "test", func(context.Context) error {
			if n++; n < 3 {
				return cluster.ErrConflict
			}
			cancel() // the deadline lands inside the store's call
			return fmt.Errorf("cluster: list: %w: context canceled", cluster.ErrUnavailable)
		})
		if !errors.Is(err, cluster.ErrContended) || errors.Is(err, cluster.ErrUnavailable) {
			t.Errorf("got %v, want ErrContended and not ErrUnavailable (no fail mode)", err)
		}
	})
	t.Run("only the context ends a run of conflicts", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		n := 0
		err := cluster.Retry(ctx, "count a failure of \"alice\"", func(context.Context) error { n++; return cluster.ErrConflict })
		if !errors.Is(err, cluster.ErrContended) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, cluster.ErrUnavailable) {
			t.Errorf("got %v, want ErrContended and the deadline, not ErrUnavailable", err)
		}
		if n < 10 {
			t.Errorf("gave up after %d attempts: a fixed bound, not the deadline?", n)
		}
	})
}

// TestUpdateLosesNoWrite runs 100 read-modify-writes of one counter at
// once: every one lands, whatever the contention.
func TestUpdateLosesNoWrite(t *testing.T) {
	m := memstore.New()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const writers = 100
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			_, err := cluster.Update(ctx, m, "count", func(ctx context.Context) (cluster.Txn, error) {
				e, err := m.Get(ctx, "counter")
				n, rev := 0, int64(0)
				switch {
				case errors.Is(err, cluster.ErrNotFound):
				case err != nil:
					return cluster.Txn{}, err
				default:
					n, _ = strconv.Atoi(string(e.Value))
					rev = e.ModRevision
				}
				return cluster.Txn{If: []cluster.Compare{{Key: "counter", ModRevision: rev}}, Then: []cluster.Op{cluster.Put("counter", []byte(strconv.Itoa(n+1)))}}, nil
			})
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	e, err := m.Get(ctx, "counter")
	if err != nil || string(e.Value) != strconv.Itoa(writers) || failed.Load() != 0 {
		t.Errorf("counter %q (%v), %d writers failed; want %d and none", e.Value, err, failed.Load(), writers)
	}
}

func TestUpdateWithoutOps(t *testing.T) {
	m := memstore.New()
	rev, err := cluster.Update(context.Background(), m, "nothing", func(context.Context) (cluster.Txn, error) { return cluster.Txn{}, nil })
	if rev != 0 || err != nil {
		t.Errorf("got %d, %v; want 0, nil", rev, err)
	}
}

// TestFailCountsEveryConcurrentFailure sends 150 distinct wrong codes of
// one user at once: with room for all, every one is counted; with a
// limit of 10, the account locks after exactly 10 and every failure
// after the lock sees it.
func TestFailCountsEveryConcurrentFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int
		want     int
	}{
		{"every failure counted", 1000, 150},
		{"locked at the limit", 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := testAccounts(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p := cluster.LockoutPolicy{Attempts: tc.attempts, Duration: time.Hour}
			var failed atomic.Int32
			var wg sync.WaitGroup
			for i := range 150 {
				wg.Go(func() {
					acct, err := a.Load(ctx, "alice")
					if err == nil {
						var l cluster.Lockout
						l, err = a.Fail(ctx, acct, fmt.Sprintf("%06d", i), p, t0)
						if err == nil && l.Locked(t0) && l.Failures < tc.attempts {
							t.Errorf("locked with %d failures", l.Failures)
						}
					}
					if err != nil {
						t.Errorf("Fail: %v", err)
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			acct, _ := a.Load(ctx, "alice")
			if acct.Lockout.Failures != tc.want || failed.Load() != 0 {
				t.Fatalf("got %d failures recorded (%d calls failed), want %d", acct.Lockout.Failures, failed.Load(), tc.want)
			}
			if tc.attempts == 10 && !acct.Lockout.Locked(t0) {
				t.Error("not locked after 150 wrong codes")
			}
		})
	}
}

// TestTamperedCodeRecords edits a used-up bypass code's deciding fields
// in the store, as somebody without the key file would: the record is
// refused as ErrTampered (not a usable code, not "not found"), and
// counted.
func TestTamperedCodeRecords(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	code, b, err := a.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "short", MaxUses: 1, TTL: time.Hour, Digits: 9}, t0)
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := a.Load(ctx, "alice")
	if _, err := a.UseBypass(ctx, acct, code, t0); err != nil {
		t.Fatal(err)
	}
	// A use signs the record again: it still reads.
	acct, _ = a.Load(ctx, "alice")
	if len(acct.Bypass) != 1 || len(acct.Problems) != 0 || acct.Bypass[0].Used != 1 {
		t.Fatalf("after a use: %+v, problems %v", acct.Bypass, acct.Problems)
	}
	edits := map[string]func(map[string]any){
		"used":     func(r map[string]any) { r["used"] = 0 },
		"max_uses": func(r map[string]any) { r["max_uses"] = 0 },
		"expires":  func(r map[string]any) { r["expires"] = t0.Add(100 * time.Hour).Format(time.RFC3339) },
		"profile":  func(r map[string]any) { r["profile"] = "long" },
		"nonce":    func(r map[string]any) { r["nonce"] = "000000000000000000000000" },
	}
	key := cluster.BypassKey("alice", b.ID)
	orig, _ := m.Get(ctx, key)
	for field, edit := range edits {
		t.Run(field, func(t *testing.T) {
			var r map[string]any
			_ = json.Unmarshal(orig.Value, &r)
			edit(r)
			v, _ := json.Marshal(r)
			if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, v)}}); err != nil {
				t.Fatal(err)
			}
			before := a.Keyring().TamperedCounts()[cluster.KindBypass]
			acct, err := a.Load(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if len(acct.Bypass) != 0 || len(acct.Problems) != 1 || !errors.Is(acct.Problems[0], cluster.ErrTampered) {
				t.Fatalf("got codes %+v, problems %v; want none and ErrTampered", acct.Bypass, acct.Problems)
			}
			if !errors.Is(acct.Problems[0], cluster.ErrTampered) || errors.Is(acct.Problems[0], cluster.ErrNotFound) {
				t.Errorf("got %v, want ErrTampered and not ErrNotFound", acct.Problems[0])
			}
			if _, err := a.UseBypass(ctx, acct, code, t0); !errors.Is(err, cluster.ErrNoCode) {
				t.Errorf("an edited code logs in: %v", err)
			}
			if after := a.Keyring().TamperedCounts()[cluster.KindBypass]; after != before+1 {
				t.Errorf("tampered count %d, want %d", after, before+1)
			}
		})
	}

	t.Run("recovery passcode", func(t *testing.T) {
		code, r, err := a.IssueRecovery(ctx, "bob", time.Hour, 9, "desk", t0)
		if err != nil {
			t.Fatal(err)
		}
		key := cluster.RecoveryKey("bob", r.ID)
		e, _ := m.Get(ctx, key)
		var raw map[string]any
		_ = json.Unmarshal(e.Value, &raw)
		raw["expires"] = t0.Add(1000 * time.Hour).Format(time.RFC3339)
		v, _ := json.Marshal(raw)
		m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, v)}})
		acct, _ := a.Load(ctx, "bob")
		if len(acct.Recovery) != 0 || len(acct.Problems) != 1 || !errors.Is(acct.Problems[0], cluster.ErrTampered) {
			t.Fatalf("got %+v, problems %v", acct.Recovery, acct.Problems)
		}
		if _, err := a.UseRecovery(ctx, acct, code, t0); !errors.Is(err, cluster.ErrNoCode) {
			t.Errorf("an edited recovery passcode was accepted: %v", err)
		}
	})
}

// TestTamperedDevice edits a device's digits (a weaker code) and moves a
// device record under another id: neither opens.
func TestTamperedDevice(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	d, err := a.AddDevice(ctx, "alice", testDevice("phone"))
	if err != nil {
		t.Fatal(err)
	}
	key := cluster.DeviceKey("alice", d.ID)
	orig, _ := m.Get(ctx, key)
	for name, edit := range map[string]func(string) (string, string){
		"digits":   func(v string) (string, string) { return key, replaceJSON(v, `"digits":6`, `"digits":1`) },
		"type":     func(v string) (string, string) { return key, replaceJSON(v, `"type":"totp"`, `"type":"hotp"`) },
		"moved":    func(v string) (string, string) { return cluster.DeviceKey("alice", "00000000deadbeef"), v },
		"garbage":  func(string) (string, string) { return key, "not json" },
		"seed key": func(v string) (string, string) { return cluster.DeviceKey("mallory", d.ID), v },
	} {
		t.Run(name, func(t *testing.T) {
			k, v := edit(string(orig.Value))
			m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, orig.Value)}})
			if k != key {
				m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Delete(key)}})
			}
			if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(k, []byte(v))}}); err != nil {
				t.Fatal(err)
			}
			defer m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Delete(k)}})
			user := "alice"
			if name == "seed key" {
				user = "mallory"
			}
			acct, err := a.Load(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if len(acct.Devices) != 0 || len(acct.Problems) != 1 || !errors.Is(acct.Problems[0], cluster.ErrTampered) {
				t.Errorf("got devices %+v, problems %v; want none and ErrTampered", acct.Devices, acct.Problems)
			}
		})
	}
	t.Run("a rename keeps it whole", func(t *testing.T) {
		m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, orig.Value)}})
		if err := a.RenameDevice(ctx, "alice", d.ID, "old phone"); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		if len(acct.Devices) != 1 || acct.Devices[0].Name != "old phone" || len(acct.Problems) != 0 {
			t.Errorf("after rename: %+v, problems %v", acct.Devices, acct.Problems)
		}
	})
}

func replaceJSON(v, old, new string) string { return strings.Replace(v, old, new, 1) }

// TestTamperedChallengeAttempts gives a waiting login more attempts in
// the store: the record is refused.
func TestTamperedChallengeAttempts(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	c := cluster.NewChallenges(m, a.Keyring())
	state, err := c.Create(ctx, cluster.Pending{User: "alice", Account: "alice", Client: "vpn", NAS: "10.0.0.1",
		Created: t0, Expires: t0.Add(time.Minute), AttemptsLeft: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Get(ctx, state)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Retry(ctx, p); err != nil {
		t.Fatal(err)
	}
	// A wrong answer signs the record again.
	if p, err = c.Get(ctx, state); err != nil || p.AttemptsLeft != 2 {
		t.Fatalf("after a retry: %+v %v", p, err)
	}
	e, _ := m.Get(ctx, cluster.ChallengeKey(state))
	v := replaceJSON(string(e.Value), `"attempts_left":2`, `"attempts_left":200`)
	m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(e.Key, []byte(v))}})
	if _, err := c.Get(ctx, state); !errors.Is(err, cluster.ErrTampered) || errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("got %v, want ErrTampered", err)
	}
}
