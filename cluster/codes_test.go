package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := cluster.NewCode(9)
		if err != nil || len(c) != 9 || seen[c] {
			t.Fatalf("got %q %v (or a repeat)", c, err)
		}
		seen[c] = true
	}
	if _, err := cluster.NewCode(5); err == nil {
		t.Error("5 digits accepted")
	}
}

func TestBypassRecords(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	code, b, err := a.IssueBypass(ctx, "alice", cluster.BypassSpec{Profile: "short", MaxUses: 2, TTL: time.Hour, Digits: 9, IssuedBy: "admin"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := m.Get(ctx, "users/alice/bypass/"+b.ID)
	if bytes.Contains(e.Value, []byte(code)) {
		t.Fatalf("the stored record holds the code: %s", e.Value)
	}
	t.Run("the code of one user is not another's", func(t *testing.T) {
		bob, _ := a.Load(ctx, "bob")
		bob.Bypass = append(bob.Bypass, b) // as if copied over in etcd
		if _, err := a.UseBypass(ctx, bob, code, t0); !errors.Is(err, cluster.ErrNoCode) {
			t.Errorf("got %v, want ErrNoCode", err)
		}
	})
	acct, _ := a.Load(ctx, "alice")
	stale, _ := a.Load(ctx, "alice")
	for range 2 {
		if _, err := a.UseBypass(ctx, acct, code, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.UseBypass(ctx, stale, code, t0); !errors.Is(err, cluster.ErrConflict) {
		t.Errorf("a node with a stale read: got %v, want ErrConflict (load again)", err)
	}
	fresh, _ := a.Load(ctx, "alice")
	if _, err := a.UseBypass(ctx, fresh, code, t0); !errors.Is(err, cluster.ErrCodeUsedUp) {
		t.Errorf("after loading again: got %v, want ErrCodeUsedUp", err)
	}
	if gone, err := a.RevokeBypass(ctx, "alice", b.ID); err != nil || len(gone) != 1 {
		t.Errorf("revoke: %v %v", gone, err)
	}
	if _, err := a.RevokeBypass(ctx, "alice", b.ID); !errors.Is(err, cluster.ErrNoCode) {
		t.Errorf("revoke twice: got %v", err)
	}
}

func TestRecoveryPasscodes(t *testing.T) {
	ctx := context.Background()
	a, _ := testAccounts(t)
	first, _, err := a.IssueRecovery(ctx, "alice", time.Hour, 9, "admin", t0)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := a.IssueRecovery(ctx, "alice", time.Hour, 9, "admin", t0)
	if err != nil {
		t.Fatal(err)
	}
	use := func(code string, now time.Time) error {
		return cluster.Retry(ctx, "use", func(ctx context.Context) error {
			acct, err := a.Load(ctx, "alice")
			if err != nil {
				return err
			}
			_, err = a.UseRecovery(ctx, acct, code, now)
			return err
		})
	}
	if err := use(first, t0); !errors.Is(err, cluster.ErrNoCode) {
		t.Errorf("a replaced code: got %v, want ErrNoCode", err)
	}
	if err := use(second, t0.Add(time.Hour)); !errors.Is(err, cluster.ErrCodeExpired) {
		t.Errorf("expired: got %v, want ErrCodeExpired", err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := use(second, t0); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("got %d uses of a single-use code, want 1", ok.Load())
	}
}

func TestAuditTrail(t *testing.T) {
	ctx := context.Background()
	m := memstore.New()
	au := cluster.NewAudit(m, 0)
	for i, user := range []string{"alice", "bob", "alice"} {
		if err := au.Record(ctx, cluster.Event{Time: t0.Add(time.Duration(i) * time.Second), Action: "bypass.issue", Actor: "admin", User: user}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := au.List(ctx, time.Time{}, "")
	if err != nil || len(all) != 3 || !all[0].Time.Before(all[2].Time) {
		t.Fatalf("got %+v %v", all, err)
	}
	if alice, _ := au.List(ctx, t0.Add(time.Second), "ALICE"); len(alice) != 1 {
		t.Errorf("since and user: got %+v", alice)
	}
}
