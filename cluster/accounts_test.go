package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func testAccounts(t *testing.T) (*cluster.Accounts, *memstore.Store) {
	t.Helper()
	b, err := cluster.NewKeyFile(rand.Reader, t0)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.ParseKeyring(b)
	if err != nil {
		t.Fatal(err)
	}
	m := memstore.New()
	return cluster.NewAccounts(m, keys), m
}

// testDevice is a device named name; its seed is "0123456789abcdefghij"
// for "phone" and differs for every other name.
func testDevice(name string) cluster.Device {
	secret := []byte("0123456789abcdefghij")
	if name != "phone" {
		secret = []byte("seed of device " + name)
	}
	return cluster.Device{Name: name, Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second,
		Secret: secret, Created: t0}
}

func TestDevices(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	d, err := a.AddDevice(ctx, "Alice", testDevice("phone"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ID) != 16 {
		t.Errorf("got id %q, want 16 hex digits", d.ID)
	}
	t.Run("the seed is sealed in the store", func(t *testing.T) {
		entries, _ := m.List(ctx, "users/alice/devices/")
		if len(entries) != 1 || entries[0].Key != "users/alice/devices/"+d.ID {
			t.Fatalf("got %v, want one device under users/alice/", entries)
		}
		if bytes.Contains(entries[0].Value, []byte("0123456789abcdefghij")) || !bytes.Contains(entries[0].Value, []byte(`"kid"`)) {
			t.Errorf("stored record shows the seed or lacks the key id: %s", entries[0].Value)
		}
	})
	t.Run("load opens it, by any case of the name", func(t *testing.T) {
		acct, err := a.Load(ctx, "ALICE")
		if err != nil {
			t.Fatal(err)
		}
		if len(acct.Devices) != 1 || string(acct.Devices[0].Secret) != "0123456789abcdefghij" || acct.Devices[0].Period != 30*time.Second {
			t.Errorf("got %+v", acct.Devices)
		}
	})
	t.Run("a record moved to another user does not open", func(t *testing.T) {
		e, _ := m.Get(ctx, "users/alice/devices/"+d.ID)
		if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("users/mallory/devices/"+d.ID, e.Value)}}); err != nil {
			t.Fatal(err)
		}
		acct, err := a.Load(ctx, "mallory")
		if err != nil || len(acct.Devices) != 0 || len(acct.Problems) != 1 || !errors.Is(acct.Problems[0], cluster.ErrDecrypt) {
			t.Errorf("got %v, %d devices, problems %v; want the record skipped with ErrDecrypt", err, len(acct.Devices), acct.Problems)
		}
	})
	t.Run("names are unique without case", func(t *testing.T) {
		if _, err := a.AddDevice(ctx, "alice", testDevice("PHONE")); !errors.Is(err, cluster.ErrDeviceName) {
			t.Errorf("got %v, want ErrDeviceName", err)
		}
		for _, bad := range []string{"", strings.Repeat("x", 33), "tab\there"} {
			if _, err := a.AddDevice(ctx, "alice", testDevice(bad)); !errors.Is(err, cluster.ErrDeviceName) {
				t.Errorf("name %q: got %v, want ErrDeviceName", bad, err)
			}
		}
	})
	t.Run("one seed enrolled twice is refused", func(t *testing.T) {
		again := testDevice("phone")
		again.Name = "phone again"
		if _, err := a.AddDevice(ctx, "alice", again); !errors.Is(err, cluster.ErrDuplicateSeed) {
			t.Errorf("got %v, want ErrDuplicateSeed", err)
		}
	})
	t.Run("rename and remove by id or name", func(t *testing.T) {
		tab, err := a.AddDevice(ctx, "alice", testDevice("tablet"))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.RenameDevice(ctx, "alice", "Tablet", "phone"); !errors.Is(err, cluster.ErrDeviceName) {
			t.Errorf("rename onto a taken name: got %v", err)
		}
		if err := a.RenameDevice(ctx, "alice", tab.ID, "old tablet"); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		if dev, ok := acct.Device(tab.ID); !ok || dev.Name != "old tablet" || string(dev.Secret) != "seed of device tablet" {
			t.Errorf("after rename: %+v", dev)
		}
		if err := a.UseStep(ctx, acct.Name, tab.ID, 5, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RemoveDevice(ctx, "alice", "old tablet"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.RemoveDevice(ctx, "alice", "old tablet"); !errors.Is(err, cluster.ErrNoDevice) {
			t.Errorf("second remove: got %v, want ErrNoDevice", err)
		}
		if _, err := m.Get(ctx, "users/alice/used/"+tab.ID); !errors.Is(err, cluster.ErrNotFound) {
			t.Errorf("the used step went with the device: got %v", err)
		}
	})
	t.Run("at most MaxDevices", func(t *testing.T) {
		for i := range cluster.MaxDevices {
			if _, err := a.AddDevice(ctx, "bob", testDevice(strings.Repeat("d", i+1))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.AddDevice(ctx, "bob", testDevice("one more")); !errors.Is(err, cluster.ErrDeviceLimit) {
			t.Errorf("got %v, want ErrDeviceLimit", err)
		}
	})
	t.Run("two admins adding one name at once: one wins", func(t *testing.T) {
		var ok atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				d := testDevice("race")
				d.Secret = []byte(fmt.Sprintf("seed of racing device %d", i))
				if _, err := a.AddDevice(ctx, "carol", d); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		acct, _ := a.Load(ctx, "carol")
		if len(acct.Devices) != 1 {
			t.Errorf("got %d devices named race (%d adds succeeded), want 1", len(acct.Devices), ok.Load())
		}
	})
	t.Run("a slash in a name stays in its user", func(t *testing.T) {
		if got := cluster.UserKey("bob/../alice"); strings.Contains(got, "/") {
			t.Errorf("UserKey kept a slash: %q", got)
		}
	})
}

func TestUseStepOnceAcrossRacers(t *testing.T) {
	ctx := context.Background()
	a, _ := testAccounts(t)
	d, err := a.AddDevice(ctx, "alice", testDevice("phone"))
	if err != nil {
		t.Fatal(err)
	}
	// Every racer loaded the account before any wrote: the compare on the
	// revision read lets exactly one record step 100.
	var accts []*cluster.Account
	for range 20 {
		acct, err := a.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		accts = append(accts, acct)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for _, acct := range accts {
		wg.Go(func() {
			switch err := a.UseStep(ctx, acct.Name, d.ID, 100, t0); {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, cluster.ErrReplay):
				t.Errorf("UseStep: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("got %d successes, want 1", ok.Load())
	}
	acct, _ := a.Load(ctx, "alice")
	if err := a.UseStep(ctx, acct.Name, d.ID, 99, t0); !errors.Is(err, cluster.ErrReplay) {
		t.Errorf("an earlier step after a later one: got %v, want ErrReplay", err)
	}
	if err := a.UseStep(ctx, acct.Name, d.ID, 101, t0); err != nil {
		t.Errorf("a later step: %v", err)
	}
}

func TestLockoutRecords(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	p := cluster.LockoutPolicy{Attempts: 3, Duration: time.Hour}
	acct, _ := a.Load(ctx, "alice")
	for i, code := range []string{"111111", "111111", "222222"} {
		l, err := a.Fail(ctx, acct, code, p, t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{1, 1, 2}[i]; l.Failures != want || l.Locked(t0) {
			t.Fatalf("failure %d: got %+v, want %d failures, not locked", i, l, want)
		}
	}
	e, _ := m.Get(ctx, "users/alice/lockout")
	if bytes.Contains(e.Value, []byte("222222")) {
		t.Errorf("the lockout record holds a code: %s", e.Value)
	}
	l, err := a.Fail(ctx, acct, "333333", p, t0)
	if err != nil || !l.Locked(t0) || !l.LockedUntil.Equal(t0.Add(time.Hour)) || l.Cause != cluster.LockFailures {
		t.Fatalf("third distinct failure: got %+v %v, want locked for an hour by failures", l, err)
	}
	t.Run("another node sees the lock", func(t *testing.T) {
		other, _ := a.Load(ctx, "alice")
		if !other.Lockout.Locked(t0.Add(59*time.Minute)) || other.Lockout.Locked(t0.Add(61*time.Minute)) {
			t.Errorf("got %+v", other.Lockout)
		}
	})
	t.Run("a code accepted by a node that read before the lock does not land", func(t *testing.T) {
		if _, err := a.AddDevice(ctx, "alice", testDevice("phone")); err != nil {
			t.Fatal(err)
		}
		before, _ := a.Load(ctx, "alice") // locked already; forge the view of a node that read earlier
		dev := before.Devices[0]
		stale := *before
		stale.Lockout = cluster.Lockout{}
		if err := a.Accept(ctx, &stale, dev, 7, t0); !errors.Is(err, cluster.ErrConflict) {
			t.Errorf("got %v, want ErrConflict", err)
		}
		again, _ := a.Load(ctx, "alice")
		if !again.Lockout.Locked(t0) {
			t.Error("the lock was cleared")
		}
	})
	t.Run("unlock, then an admin lock holds without end", func(t *testing.T) {
		if ok, err := a.Unlock(ctx, "alice"); !ok || err != nil {
			t.Fatalf("Unlock: %v %v", ok, err)
		}
		if ok, _ := a.Unlock(ctx, "alice"); ok {
			t.Error("a second unlock found something to clear")
		}
		if err := a.Lock(ctx, "alice", cluster.LockAdmin, t0); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		if !acct.Lockout.Locked(t0.Add(1000*time.Hour)) || acct.Lockout.LockedBy() != cluster.LockAdmin {
			t.Errorf("admin lock: got %+v", acct.Lockout)
		}
	})
	t.Run("a lock takes its cause; a lock by failures gives way to it", func(t *testing.T) {
		for _, cause := range []cluster.LockCause{cluster.LockFraud, cluster.LockAdmin} {
			if err := a.Lock(ctx, "alice", cause, t0); err != nil {
				t.Fatal(err)
			}
			acct, _ := a.Load(ctx, "alice")
			if acct.Lockout.LockedBy() != cause || !acct.Lockout.LockedUntil.IsZero() {
				t.Errorf("after Lock(%s): got %+v", cause, acct.Lockout)
			}
			e, _ := m.Get(ctx, "users/alice/lockout")
			if !bytes.Contains(e.Value, []byte(`"cause":"`+string(cause)+`"`)) {
				t.Errorf("the record does not say the cause: %s", e.Value)
			}
		}
		if err := a.Lock(ctx, "alice", cluster.LockFailures, t0); err == nil {
			t.Error("Lock took the cause failures, which only Fail sets")
		}
	})
	t.Run("a success resets the count; a racing failure makes it decide again", func(t *testing.T) {
		if _, err := a.AddDevice(ctx, "bob", testDevice("phone")); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "bob")
		dev := acct.Devices[0]
		a.Fail(ctx, acct, "111111", p, t0)
		stale, _ := a.Load(ctx, "bob")
		a.Fail(ctx, acct, "222222", p, t0) // lands after stale was read
		if err := a.Accept(ctx, stale, dev, 7, t0); !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("got %v, want ErrConflict", err)
		}
		fresh, _ := a.Load(ctx, "bob")
		if err := a.Accept(ctx, fresh, dev, 7, t0); err != nil {
			t.Fatal(err)
		}
		after, _ := a.Load(ctx, "bob")
		if after.Lockout.Failures != 0 || after.Used[dev.ID].Step != 7 {
			t.Errorf("got %d failures and step %d after a success, want 0 and 7", after.Lockout.Failures, after.Used[dev.ID].Step)
		}
	})
}

func TestFirstSeen(t *testing.T) {
	ctx := context.Background()
	t.Run("recorded once, the first time asked", func(t *testing.T) {
		a, _ := testAccounts(t)
		acct, _ := a.Load(ctx, "alice")
		if got, err := a.FirstSeen(ctx, acct, t0); err != nil || !got.Equal(t0) {
			t.Fatalf("got %v %v, want %v", got, err, t0)
		}
		again, _ := a.Load(ctx, "alice")
		if got, err := a.FirstSeen(ctx, again, t0.Add(time.Hour)); err != nil || !got.Equal(t0) {
			t.Errorf("asked again later: got %v %v, want %v", got, err, t0)
		}
	})
	t.Run("nodes racing record one time", func(t *testing.T) {
		a, _ := testAccounts(t)
		var wg sync.WaitGroup
		got := make([]time.Time, 10)
		for i := range got {
			wg.Go(func() {
				acct, err := a.Load(ctx, "alice")
				if err == nil {
					got[i], err = a.FirstSeen(ctx, acct, t0.Add(time.Duration(i)*time.Second))
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, g := range got[1:] {
			if !g.Equal(got[0]) {
				t.Fatalf("got %v, want one time", got)
			}
		}
	})
	t.Run("a user's first device records it", func(t *testing.T) {
		a, _ := testAccounts(t)
		d, err := cluster.NewPushDevice("tablet", cluster.PushDevice{PublicKey: []byte{4}, Kind: "webhook", Endpoint: "https://x.example/"}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if d, err = a.AddDevice(ctx, "alice", d); err != nil {
			t.Fatal(err)
		}
		if err := a.SetDefaultPush(ctx, "alice", d.ID); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		if !acct.Profile.FirstSeen.Equal(t0) || acct.Profile.DefaultPush != d.ID {
			t.Fatalf("got %+v, want first_seen at the enrollment and the default push device", acct.Profile)
		}
		// A later device keeps it, and so does a removal of them all.
		if _, err := a.AddDevice(ctx, "alice", testDevice("phone")); err != nil {
			t.Fatal(err)
		}
		for _, dev := range acct.Devices {
			a.RemoveDevice(ctx, "alice", dev.ID)
		}
		if got, err := a.FirstSeen(ctx, acct, t0.Add(100*time.Hour)); err != nil || !got.Equal(t0) {
			t.Errorf("got %v %v, want %v", got, err, t0)
		}
	})
}

// TestLockedBy reads lockout records as stored, with and without the
// cause field (records written before it existed).
func TestLockedBy(t *testing.T) {
	tests := []struct {
		name, record string
		want         cluster.LockCause
	}{
		{"failures", `{"failures":10,"locked_at":"2026-11-23T10:00:00Z","locked_until":"2026-11-23T10:15:00Z","cause":"failures"}`, cluster.LockFailures},
		{"fraud", `{"failures":0,"locked_at":"2026-11-23T10:00:00Z","cause":"fraud"}`, cluster.LockFraud},
		{"admin", `{"failures":2,"locked_at":"2026-11-23T10:00:00Z","last_failure_at":"2026-11-23T09:00:00Z","cause":"admin"}`, cluster.LockAdmin},
		{"old, for a while: failures", `{"failures":10,"locked_at":"2026-11-23T10:00:00Z","locked_until":"2026-11-23T10:15:00Z"}`, cluster.LockFailures},
		{"old, until unlock, at the last failure: failures", `{"failures":10,"last_failure_at":"2026-11-23T10:00:00Z","locked_at":"2026-11-23T10:00:00Z"}`, cluster.LockFailures},
		{"old, after some failures: admin", `{"failures":2,"last_failure_at":"2026-11-23T09:00:00Z","locked_at":"2026-11-23T10:00:00Z"}`, cluster.LockAdmin},
		{"old, no failure: admin", `{"failures":0,"locked_at":"2026-11-23T10:00:00Z"}`, cluster.LockAdmin},
		{"an unknown cause: admin", `{"failures":10,"locked_at":"2026-11-23T10:00:00Z","locked_until":"2026-11-23T10:15:00Z","cause":"later"}`, cluster.LockAdmin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l cluster.Lockout
			if err := json.Unmarshal([]byte(tt.record), &l); err != nil {
				t.Fatal(err)
			}
			if got := l.LockedBy(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestChallenges(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	c := cluster.NewChallenges(m, a.Keyring())
	state, err := c.Create(ctx, cluster.Pending{User: "alice", Account: "alice", Client: "vpn", NAS: "192.0.2.1",
		Created: t0, Expires: t0.Add(time.Minute), AttemptsLeft: 2})
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := m.List(ctx, "challenges/")
	if len(entries) != 1 || strings.Contains(entries[0].Key, string(state)) || bytes.Contains(entries[0].Value, state) {
		t.Fatalf("the State must not be readable from the store: %v", entries)
	}
	p, err := c.Get(ctx, state)
	if err != nil || p.User != "alice" || p.Expired(t0) || !p.Expired(t0.Add(time.Minute)) {
		t.Fatalf("Get: %+v %v", p, err)
	}
	stale, _ := c.Get(ctx, state)
	if err := c.Retry(ctx, p); err != nil || p.AttemptsLeft != 1 {
		t.Fatalf("Retry: %v, %d left", err, p.AttemptsLeft)
	}
	if err := c.Retry(ctx, stale); !errors.Is(err, cluster.ErrConflict) {
		t.Errorf("a second node answering the same round: got %v, want ErrConflict", err)
	}
	if err := c.Finish(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, state); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("after Finish: got %v, want ErrNotFound", err)
	}
}
