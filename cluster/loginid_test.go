package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"twostep/cluster"
)

func TestLoginID(t *testing.T) {
	auth := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	id := cluster.LoginID("192.0.2.10", 7, auth, "alice")
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("id %q, want 12 hex digits", id)
	}
	if again := cluster.LoginID("192.0.2.10", 7, auth, "alice"); again != id {
		t.Errorf("a copy of the request: %q, want %q", again, id)
	}
	other := auth
	other[15] ^= 1
	for name, got := range map[string]string{
		"another NAS":           cluster.LoginID("192.0.2.11", 7, auth, "alice"),
		"another Identifier":    cluster.LoginID("192.0.2.10", 8, auth, "alice"),
		"another Authenticator": cluster.LoginID("192.0.2.10", 7, other, "alice"),
		"another User-Name":     cluster.LoginID("192.0.2.10", 7, auth, "Alice"),
	} {
		if got == id {
			t.Errorf("%s: the same id %q", name, got)
		}
	}
	// Not the push join key's hash: neither tells the other.
	if join := cluster.JoinKey("192.0.2.10", 7, auth, "alice"); join[:12] == id {
		t.Errorf("the id %q is the join key's prefix %q", id, join)
	}
}

func TestLoginReference(t *testing.T) {
	if got := cluster.LoginReference("3f9ac21b5d7e"); got != "Ref 3f9a-c21b" {
		t.Errorf("reference %q, want Ref 3f9a-c21b", got)
	}
	for _, in := range []string{"Ref 3f9a-c21b", "3f9a-c21b", "3F9AC21B", " ref: 3f9a-c21b ", "REF 3F9A C21B"} {
		got, err := cluster.ParseLoginReference(in)
		if err != nil || got != "3f9ac21b" {
			t.Errorf("%q: got %q, %v; want 3f9ac21b", in, got, err)
		}
	}
	if got, err := cluster.ParseLoginReference("3f9ac21b5d7e"); err != nil || got != "3f9ac21b5d7e" {
		t.Errorf("a whole id: got %q, %v", got, err)
	}
	for _, bad := range []string{"", "Ref", "3f9a", "3f9a-c21g", "3f9ac21b5d7e0", "alice"} {
		if got, err := cluster.ParseLoginReference(bad); err == nil {
			t.Errorf("%q: got %q, want an error", bad, got)
		}
	}
}

// TestLoginUnderMACs: the login id a challenge round and a push carry is
// signed with them; records without one (older nodes') still verify.
func TestLoginUnderMACs(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	forge := func(t *testing.T, key string, from, to []byte) {
		t.Helper()
		e, err := m.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		forged := bytes.Replace(e.Value, from, to, 1)
		if bytes.Equal(forged, e.Value) {
			t.Fatalf("%s has no %s", e.Value, from)
		}
		if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, forged)}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("challenge", func(t *testing.T) {
		c := cluster.NewChallenges(m, a.Keyring())
		for _, login := range []string{"3f9ac21b5d7e", ""} {
			state, err := c.Create(ctx, cluster.Pending{User: "alice", Account: "alice", Client: "vpn", NAS: "192.0.2.1",
				Created: t0, Expires: t0.Add(time.Minute), AttemptsLeft: 2, Login: login})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Get(ctx, state)
			if err != nil || p.Login != login {
				t.Fatalf("Get: %+v, %v; want login %q", p, err, login)
			}
			if err := c.Retry(ctx, p); err != nil {
				t.Fatal(err)
			}
			if p, err := c.Get(ctx, state); err != nil || p.Login != login {
				t.Fatalf("after a wrong answer: %+v, %v; want login %q", p, err, login)
			}
			if login == "" {
				continue
			}
			forge(t, cluster.ChallengeKey(state), []byte(`"login":"3f9ac21b5d7e"`), []byte(`"login":"000000000000"`))
			if _, err := c.Get(ctx, state); !errors.Is(err, cluster.ErrTampered) {
				t.Errorf("another login's id: %v, want ErrTampered", err)
			}
		}
	})
	t.Run("push", func(t *testing.T) {
		ps := cluster.NewPushes(m, a.Keyring())
		defer ps.Close()
		acct, err := a.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		p := testPush("alice", t0)
		p.Login = "3f9ac21b5d7e"
		if err := ps.Start(ctx, acct, p, cluster.PushStart{}, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := ps.Get(ctx, p.ID); err != nil || got.Login != p.Login {
			t.Fatalf("Get: %+v, %v; want login %s", got, err, p.Login)
		}
		forge(t, cluster.PushKey(p.ID), []byte(`"login":"3f9ac21b5d7e",`), nil)
		if _, err := ps.Get(ctx, p.ID); !errors.Is(err, cluster.ErrTampered) {
			t.Errorf("the login id removed: %v, want ErrTampered", err)
		}
	})
}
