package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

func testTokens(n int, prefix string) []cluster.Token {
	var out []cluster.Token
	for i := range n {
		out = append(out, cluster.Token{Serial: fmt.Sprintf("%s%04d", prefix, i), Type: cluster.HOTP, Algorithm: "SHA1", Digits: 6,
			Secret: []byte(fmt.Sprintf("secret-of-token-%04d", i)), Counter: uint64(i % 3)})
	}
	return out
}

func TestTokenInventory(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	if err := a.ImportTokens(ctx, testTokens(250, "OATH"), t0); err != nil {
		t.Fatal(err)
	}
	list, err := a.Tokens(ctx)
	if err != nil || len(list) != 250 || list[0].State != cluster.TokenUnassigned || list[0].Secret != nil {
		t.Fatalf("got %d tokens (%v), first %+v", len(list), err, list[0])
	}
	e, _ := m.Get(ctx, "tokens/OATH0001")
	if bytes.Contains(e.Value, []byte("secret-of-token")) {
		t.Fatalf("a seed is readable in the store: %s", e.Value)
	}

	t.Run("an import with a known serial leaves nothing", func(t *testing.T) {
		batch := append(testTokens(150, "NEW"), cluster.Token{Serial: "OATH0200", Type: cluster.HOTP, Secret: []byte("0123456789abcdefghij")})
		err := a.ImportTokens(ctx, batch, t0)
		if !errors.Is(err, cluster.ErrTokenExists) {
			t.Fatalf("got %v, want ErrTokenExists", err)
		}
		if got, _ := m.List(ctx, "tokens/NEW"); len(got) != 0 {
			t.Errorf("got %d tokens of the refused import left", len(got))
		}
	})
	t.Run("assign makes a device", func(t *testing.T) {
		d, err := a.AssignToken(ctx, "OATH0002", "alice", "key fob", t0)
		if err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		dev, ok := acct.Device(d.ID)
		if !ok || dev.Type != cluster.HOTP || dev.Serial != "OATH0002" || string(dev.Secret) != "secret-of-token-0002" {
			t.Fatalf("device: %+v", dev)
		}
		if acct.Used[d.ID].Step != 1 {
			t.Errorf("a token starting at counter 2 has used 1; got %+v", acct.Used[d.ID])
		}
		tok, _ := a.Token(ctx, "OATH0002")
		if tok.State != cluster.TokenAssigned || tok.User != "alice" || tok.DeviceID != d.ID {
			t.Errorf("token: %+v", tok)
		}
		if _, err := a.AssignToken(ctx, "OATH0002", "bob", "fob", t0); !errors.Is(err, cluster.ErrTokenState) {
			t.Errorf("assigning an assigned token: got %v", err)
		}
	})
	t.Run("lost removes the device at once; unassign returns the token", func(t *testing.T) {
		if _, err := a.MarkTokenLost(ctx, "OATH0002", t0); err != nil {
			t.Fatal(err)
		}
		acct, _ := a.Load(ctx, "alice")
		if len(acct.Devices) != 0 {
			t.Errorf("got %d devices after the token was lost", len(acct.Devices))
		}
		if _, err := a.AssignToken(ctx, "OATH0002", "bob", "fob", t0); !errors.Is(err, cluster.ErrTokenState) {
			t.Errorf("assigning a lost token: got %v", err)
		}
		if _, err := a.UnassignToken(ctx, "OATH0002", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.AssignToken(ctx, "OATH0002", "bob", "fob", t0); err != nil {
			t.Errorf("assigning a found token: %v", err)
		}
	})
	t.Run("removing a token's device marks the token lost", func(t *testing.T) {
		if _, err := a.RemoveDevice(ctx, "bob", "fob"); err != nil {
			t.Fatal(err)
		}
		if tok, _ := a.Token(ctx, "OATH0002"); tok.State != cluster.TokenLost {
			t.Errorf("got %s, want lost", tok.State)
		}
	})
	t.Run("a user name that escaping changes", func(t *testing.T) {
		if _, err := a.AssignToken(ctx, "OATH0007", "Müller Zoë", "fob", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := a.MarkTokenLost(ctx, "OATH0007", t0); err != nil {
			t.Fatal(err)
		}
		if acct, _ := a.Load(ctx, "müller zoë"); len(acct.Devices) != 0 {
			t.Errorf("got %d devices after the token was lost, want 0", len(acct.Devices))
		}
	})
	t.Run("unknown serial", func(t *testing.T) {
		if _, err := a.AssignToken(ctx, "NOPE", "bob", "x", t0); !errors.Is(err, cluster.ErrNoToken) {
			t.Errorf("got %v", err)
		}
	})
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	oldFile, _ := cluster.NewKeyFile(rand.Reader, t0)
	oldKeys, _ := cluster.ParseKeyring(oldFile)
	m := memstore.New()
	old := cluster.NewAccounts(m, oldKeys)
	if _, err := old.AddDevice(ctx, "Alice/Admin", testDevice("phone")); err != nil {
		t.Fatal(err)
	}
	if err := old.ImportTokens(ctx, testTokens(3, "SN 1/"), t0); err != nil {
		t.Fatal(err)
	}
	// The new key first, the old one still listed: the rotation's step 1.
	newFile, _ := cluster.NewKeyFile(rand.Reader, t0.Add(24*time.Hour))
	both, err := cluster.ParseKeyring(append(append([]byte{}, keyLines(newFile)...), keyLines(oldFile)...))
	if err != nil {
		t.Fatal(err)
	}
	a := cluster.NewAccounts(m, both)
	res, err := a.Rekey(ctx, nil)
	if err != nil || res.Resealed != 4 || res.Current != 0 {
		t.Fatalf("got %+v %v, want 4 resealed", res, err)
	}
	// The old key can go: everything opens with the new one alone.
	onlyNew, _ := cluster.ParseKeyring(newFile)
	fresh := cluster.NewAccounts(m, onlyNew)
	acct, err := fresh.Load(ctx, "alice/admin")
	if err != nil || len(acct.Devices) != 1 || len(acct.Problems) != 0 {
		t.Fatalf("after rekey: %v, %d devices, problems %v", err, len(acct.Devices), acct.Problems)
	}
	if _, err := fresh.AssignToken(ctx, "SN 1/0001", "bob", "fob", t0); err != nil {
		t.Errorf("a resealed token: %v", err)
	}
	if res, _ := a.Rekey(ctx, nil); res.Resealed != 0 || res.Current != 5 { // and bob's new device
		t.Errorf("a second rekey: %+v, want nothing to do", res)
	}
}

// keyLines is a key file without its comments.
func keyLines(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 && l[0] != '#' {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

// TestTokenSelfAssignHonoursTheLockout: a user taking a token with its
// code is refused while locked, and a right code clears the failures.
func TestTokenSelfAssignHonoursTheLockout(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	if err := a.ImportTokens(ctx, testTokens(2, "SELF"), t0); err != nil {
		t.Fatal(err)
	}
	right := func(cluster.Device, uint64) (int64, bool) { return 0, true }
	if err := a.Lock(ctx, "alice", cluster.LockAdmin, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AssignTokenIf(ctx, "SELF0000", "alice", "fob", t0, right); !errors.Is(err, cluster.ErrLocked) {
		t.Fatalf("a locked user's right code: %v, want ErrLocked", err)
	}
	if tok, _ := a.Token(ctx, "SELF0000"); tok.State != cluster.TokenUnassigned {
		t.Errorf("token %s, want unassigned", tok.State)
	}
	if _, err := a.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	acct, _ := a.Load(ctx, "alice")
	if _, err := a.Fail(ctx, acct, "111111", cluster.LockoutPolicy{Attempts: 5}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AssignTokenIf(ctx, "SELF0000", "alice", "fob", t0, right); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, cluster.LockoutKey("alice")); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("the failure count after a right code: %v, want none", err)
	}
	t.Run("a record copied to another serial", func(t *testing.T) {
		e, _ := m.Get(ctx, cluster.TokenKey("SELF0001"))
		m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(cluster.TokenKey("COPY"), e.Value)}})
		if _, err := a.AssignTokenIf(ctx, "COPY", "bob", "fob", t0, right); !errors.Is(err, cluster.ErrTampered) {
			t.Errorf("got %v, want ErrTampered", err)
		}
	})
}
