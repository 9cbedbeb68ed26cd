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
)

func testPush(user string, now time.Time) *cluster.Push {
	return &cluster.Push{User: user, Device: "d1", DeviceName: "phone", Client: "vpn", NASAddr: "192.0.2.1",
		Created: now, Expires: now.Add(time.Minute)}
}

func TestPushRecords(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	ps := cluster.NewPushes(m, a.Keyring())
	defer ps.Close()
	limit := cluster.PushLimit{Count: 3, Window: 5 * time.Minute}
	start := func(t *testing.T, user, join string, secret []byte, number string, now time.Time) (*cluster.Push, error) {
		t.Helper()
		acct, err := a.Load(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		p := testPush(user, now)
		return p, ps.Start(ctx, acct, p, cluster.PushStart{Number: number, Join: join, Secret: secret, Limit: limit}, now)
	}

	t.Run("start, read back, answer once", func(t *testing.T) {
		p, err := start(t, "alice", "", nil, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.ID) < 20 || p.State != cluster.PushPending || p.Account != "alice" {
			t.Fatalf("got %+v", p)
		}
		got, err := ps.Get(ctx, p.ID)
		if err != nil || got.State != cluster.PushPending || got.DeviceName != "phone" {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		ans := cluster.PushAnswer{Decision: cluster.PushApproved, At: t0, Signature: []byte("sig")}
		done, err := ps.Record(ctx, p.ID, ans, t0.Add(time.Second))
		if err != nil || done.State != cluster.PushApproved || done.Answer == nil {
			t.Fatalf("Record: %+v, %v", done, err)
		}
		if _, err := ps.Record(ctx, p.ID, cluster.PushAnswer{Decision: cluster.PushDenied, At: t0}, t0.Add(2*time.Second)); !errors.Is(err, cluster.ErrPushAnswered) {
			t.Fatalf("second answer: %v, want ErrPushAnswered", err)
		}
		if got, _ := ps.Get(ctx, p.ID); got.State != cluster.PushApproved {
			t.Fatalf("state after a second answer: %s", got.State)
		}
	})
	t.Run("expired", func(t *testing.T) {
		p, err := start(t, "bob", "", nil, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Record(ctx, p.ID, cluster.PushAnswer{Decision: cluster.PushApproved, At: t0}, t0.Add(time.Minute)); !errors.Is(err, cluster.ErrPushExpired) {
			t.Fatalf("late answer: %v, want ErrPushExpired", err)
		}
	})
	t.Run("limit per user and window", func(t *testing.T) {
		for i := range 3 {
			if _, err := start(t, "carol", "", nil, "", t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := start(t, "carol", "", nil, "", t0.Add(4*time.Minute)); !errors.Is(err, cluster.ErrPushLimit) {
			t.Fatalf("fourth push in 5 minutes: %v, want ErrPushLimit", err)
		}
		if _, err := start(t, "carol", "", nil, "", t0.Add(5*time.Minute)); err != nil {
			t.Fatalf("once the first left the window: %v", err)
		}
		if _, err := start(t, "dave", "", nil, "", t0.Add(4*time.Minute)); err != nil {
			t.Fatalf("another user: %v", err)
		}
	})
	t.Run("a copy of the request of the last push joins it at the limit", func(t *testing.T) {
		// Two nodes read zoe's log while it had room for one more push;
		// the first started it, the second's copy then finds the limit
		// reached and the join record there.
		for i := range 2 {
			if _, err := start(t, "zoe", "", nil, "", t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		stale, _ := a.Load(ctx, "zoe")
		if _, err := start(t, "zoe", "join-zoe", []byte("pw"), "", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		p := testPush("zoe", t0.Add(2*time.Minute))
		err := ps.Start(ctx, stale, p, cluster.PushStart{Join: "join-zoe", Secret: []byte("pw"), Limit: limit}, t0.Add(2*time.Minute))
		if !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("the copy, on its stale read: %v, want ErrConflict", err)
		}
		fresh, _ := a.Load(ctx, "zoe")
		err = ps.Start(ctx, fresh, p, cluster.PushStart{Join: "join-zoe", Secret: []byte("pw"), Limit: limit}, t0.Add(2*time.Minute))
		if !errors.Is(err, cluster.ErrConflict) || errors.Is(err, cluster.ErrPushLimit) {
			t.Fatalf("the copy, read again: %v, want ErrConflict (join), not ErrPushLimit", err)
		}
		if _, err := start(t, "zoe", "another-request", []byte("pw"), "", t0.Add(3*time.Minute)); !errors.Is(err, cluster.ErrPushLimit) {
			t.Fatalf("a new request: %v, want ErrPushLimit", err)
		}
	})
	t.Run("stale account conflicts", func(t *testing.T) {
		acct, _ := a.Load(ctx, "erin")
		if err := ps.Start(ctx, acct, testPush("erin", t0), cluster.PushStart{Limit: limit}, t0); err != nil {
			t.Fatal(err)
		}
		stale, _ := a.Load(ctx, "erin")
		if err := ps.Start(ctx, acct, testPush("erin", t0), cluster.PushStart{Limit: limit}, t0); err != nil {
			t.Fatal(err) // acct was updated by the first Start
		}
		if err := ps.Start(ctx, stale, testPush("erin", t0), cluster.PushStart{Limit: limit}, t0); !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("start from a stale load: %v, want ErrConflict", err)
		}
	})
	t.Run("join needs the same request", func(t *testing.T) {
		join := cluster.JoinKey("192.0.2.1", 7, [16]byte{1, 2, 3}, "frank")
		p, err := start(t, "frank", join, []byte("pw"), "", t0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ps.Join(ctx, join, []byte("pw"))
		if err != nil || got.ID != p.ID {
			t.Fatalf("Join: %+v, %v", got, err)
		}
		if _, err := ps.Join(ctx, join, []byte("other")); !errors.Is(err, cluster.ErrJoinMismatch) {
			t.Fatalf("Join with another password: %v, want ErrJoinMismatch", err)
		}
		acct, _ := a.Load(ctx, "frank")
		if err := ps.Start(ctx, acct, testPush("frank", t0), cluster.PushStart{Join: join, Secret: []byte("pw"), Limit: limit}, t0); !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("a second push for the same request: %v, want ErrConflict", err)
		}
		if _, err := ps.Join(ctx, cluster.JoinKey("192.0.2.1", 8, [16]byte{1, 2, 3}, "frank"), []byte("pw")); !errors.Is(err, cluster.ErrNotFound) {
			t.Fatalf("Join of another identifier: %v, want ErrTampered", err)
		}
	})
	t.Run("verified number", func(t *testing.T) {
		p, err := start(t, "gina", "", nil, "42", t0)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Verified() || !ps.NumberMatches(p, "42") || ps.NumberMatches(p, "43") {
			t.Fatal("number check")
		}
		e, _ := m.Get(ctx, cluster.PushKey(p.ID))
		if bytes.Contains(e.Value, []byte(`"42"`)) {
			t.Fatalf("record shows the number: %s", e.Value)
		}
	})
	t.Run("a planted record is refused", func(t *testing.T) {
		p, err := start(t, "hank", "", nil, "", t0)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := m.Get(ctx, cluster.PushKey(p.ID))
		forged := bytes.Replace(e.Value, []byte(`"hank"`), []byte(`"root"`), 1)
		if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(e.Key, forged)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ps.Get(ctx, p.ID); !errors.Is(err, cluster.ErrTampered) || errors.Is(err, cluster.ErrNotFound) {
			t.Fatalf("Get of a forged record: %v, want ErrTampered", err)
		}
	})
	t.Run("the service the device shows is signed", func(t *testing.T) {
		acct, err := a.Load(ctx, "ivy")
		if err != nil {
			t.Fatal(err)
		}
		plain := testPush("ivy", t0)
		if err := ps.Start(ctx, acct, plain, cluster.PushStart{Limit: limit}, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := ps.Get(ctx, plain.ID); err != nil || got.ShownService() != "vpn" {
			t.Fatalf("a record without a service: %v, %v; want it shown as its client, vpn", got, err)
		}
		p := testPush("ivy", t0)
		p.Service = "Staff VPN"
		if err := ps.Start(ctx, acct, p, cluster.PushStart{Limit: limit}, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := ps.Get(ctx, p.ID); err != nil || got.ShownService() != "Staff VPN" || got.Client != "vpn" {
			t.Fatalf("Get: %+v, %v; want service Staff VPN, client vpn", got, err)
		}
		e, _ := m.Get(ctx, cluster.PushKey(p.ID))
		for name, forged := range map[string][]byte{
			"edited":  bytes.Replace(e.Value, []byte(`"Staff VPN"`), []byte(`"Payroll"`), 1),
			"removed": bytes.Replace(e.Value, []byte(`"service":"Staff VPN",`), nil, 1),
		} {
			if bytes.Equal(forged, e.Value) {
				t.Fatalf("%s: the record %s has no service to forge", name, e.Value)
			}
			if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(e.Key, forged)}}); err != nil {
				t.Fatal(err)
			}
			if _, err := ps.Get(ctx, p.ID); !errors.Is(err, cluster.ErrTampered) {
				t.Errorf("service %s: Get %v, want ErrTampered", name, err)
			}
		}
	})
}

func TestPushWait(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	node1, node2 := cluster.NewPushes(m, a.Keyring()), cluster.NewPushes(m, a.Keyring())
	defer node1.Close()
	defer node2.Close()
	now := time.Now()
	acct, _ := a.Load(ctx, "alice")
	p := testPush("alice", now)
	if err := node1.Start(ctx, acct, p, cluster.PushStart{}, now); err != nil {
		t.Fatal(err)
	}

	t.Run("a wait that ends returns the push pending", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		got, err := node1.Wait(wctx, p.ID)
		if err != nil || got.State != cluster.PushPending {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("many waiters learn one answer from another node", func(t *testing.T) {
		var wg sync.WaitGroup
		var approved atomic.Int32
		for range 50 {
			wg.Go(func() {
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				got, err := node1.Wait(wctx, p.ID)
				if err == nil && got.State == cluster.PushApproved {
					approved.Add(1)
				}
			})
		}
		time.Sleep(50 * time.Millisecond)
		if _, err := node2.Record(ctx, p.ID, cluster.PushAnswer{Decision: cluster.PushApproved, At: now}, time.Now()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if approved.Load() != 50 {
			t.Fatalf("%d of 50 waiters saw the approval", approved.Load())
		}
	})
	t.Run("an answered push returns at once", func(t *testing.T) {
		got, err := node2.Wait(ctx, p.ID)
		if err != nil || got.State != cluster.PushApproved {
			t.Fatalf("got %+v, %v", got, err)
		}
	})
	t.Run("an unknown push is an error", func(t *testing.T) {
		if _, err := node1.Wait(ctx, "nope"); !errors.Is(err, cluster.ErrNotFound) {
			t.Fatalf("got %v, want ErrTampered", err)
		}
	})
}
