package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"twostep/cluster"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	phone, err := a.AddDevice(ctx, "Alice", testDevice("phone"))
	if err != nil {
		t.Fatal(err)
	}
	tablet, err := cluster.NewPushDevice("tablet", cluster.PushDevice{PublicKey: []byte{4}, Kind: "webhook", Endpoint: "https://x.example/"}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if tablet, err = a.AddDevice(ctx, "alice", tablet); err != nil {
		t.Fatal(err)
	}
	if err := a.Lock(ctx, "alice-b", cluster.LockFraud, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.IssueBypass(ctx, "b/c", cluster.BypassSpec{Profile: "short", MaxUses: 5, TTL: time.Hour, Digits: 9}, t0); err != nil {
		t.Fatal(err)
	}

	// Listing reads no seed: accounts without a key file list the same.
	for _, acc := range []*cluster.Accounts{a, cluster.NewAccounts(m, nil)} {
		got, err := acc.Users(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, u := range got {
			keys = append(keys, u.Key)
			if len(u.Problems) > 0 {
				t.Errorf("%s: problems %v", u.Key, u.Problems)
			}
		}
		if want := []string{"alice-b", "alice", "b%2Fc"}; !slices.Equal(keys, want) {
			t.Fatalf("users %v, want %v (in key order)", keys, want)
		}
		alice := got[1]
		wantDevices := []cluster.DeviceInfo{
			{ID: phone.ID, Name: "phone", Type: cluster.TOTP, Created: t0},
			{ID: tablet.ID, Name: "tablet", Type: cluster.PushApp, Created: t0.Add(time.Minute)},
		}
		if !slices.Equal(alice.Devices, wantDevices) {
			t.Errorf("alice's devices %+v, want %+v", alice.Devices, wantDevices)
		}
		if alice.Profile.FirstSeen != t0 {
			t.Errorf("alice first seen %v, want %v (her first device)", alice.Profile.FirstSeen, t0)
		}
		if l := got[0].Lockout; !l.Locked(t0) || l.LockedBy() != cluster.LockFraud {
			t.Errorf("alice-b's lockout %+v, want locked by fraud", l)
		}
		if len(got[2].Devices) != 0 || cluster.UserName(got[2].Key) != "b/c" {
			t.Errorf("b/c: %+v, name %q; want a user with a bypass code and no device", got[2], cluster.UserName(got[2].Key))
		}
	}

	got, err := a.Users(ctx, "alice")
	if err != nil || len(got) != 2 {
		t.Errorf("prefix alice: %d users, %v; want alice and alice-b", len(got), err)
	}

	// A device record that is not JSON is a problem of its user; the
	// other records are listed.
	if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("users/alice/devices/ffff", []byte("{"))}}); err != nil {
		t.Fatal(err)
	}
	got, err = a.Users(ctx, "alice")
	if err != nil || len(got) != 2 || len(got[1].Problems) != 1 || len(got[1].Devices) != 2 {
		t.Errorf("with a broken device record: %+v, %v; want alice's two devices and one problem", got, err)
	}
}
