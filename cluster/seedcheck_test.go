package cluster_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
)

// TestCheckSeeds opens every stored seed with a key file: the file that
// sealed them opens all, by key id; one that lacks the key, or holds
// another key under the same id, names each record that does not open,
// never its seed.
func TestCheckSeeds(t *testing.T) {
	ctx := context.Background()
	sealing, _ := cluster.NewKeyFile(rand.Reader, t0)
	keys, _ := cluster.ParseKeyring(sealing)
	m := memstore.New()
	a := cluster.NewAccounts(m, keys)
	if _, err := a.AddDevice(ctx, "Alice/Admin", testDevice("phone")); err != nil {
		t.Fatal(err)
	}
	if err := a.ImportTokens(ctx, testTokens(2, "SN "), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AssignToken(ctx, "SN 0001", "bob", "fob", t0); err != nil {
		t.Fatal(err)
	}
	// Records that are no seeds are left alone.
	if err := a.Lock(ctx, "carol", cluster.LockAdmin, t0); err != nil {
		t.Fatal(err)
	}

	got, err := a.CheckSeeds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id := keys.ActiveID(); len(got.Failed) != 0 || len(got.Opened) != 1 || got.Opened[id] != 4 {
		t.Fatalf("the sealing key file: got %+v, want 4 seeds opened with %s", got, id)
	}

	// The same id with another key: what a node with a stray key file has.
	other, _ := cluster.NewKeyFile(rand.Reader, t0)
	id := keys.ActiveID()
	sameID := strings.Replace(string(keyLines(other)), strings.Fields(string(keyLines(other)))[0], id, 1)
	otherKeys, err := cluster.ParseKeyring([]byte(sameID))
	if err != nil {
		t.Fatal(err)
	}
	missing, _ := cluster.NewKeyFile(rand.Reader, t0.Add(48*time.Hour))
	missingKeys, _ := cluster.ParseKeyring(missing)
	for _, tt := range []struct {
		name string
		keys *cluster.Keyring
		want error
	}{
		{"a key file without the key", missingKeys, cluster.ErrUnknownKey},
		{"another key of the same id", otherKeys, cluster.ErrDecrypt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cluster.NewAccounts(m, tt.keys).CheckSeeds(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Opened) != 0 || len(got.Failed) != 4 {
				t.Fatalf("got %d opened, %d failed, want 0 and 4", len(got.Opened), len(got.Failed))
			}
			var names []string
			for _, f := range got.Failed {
				if !errors.Is(f.Err, tt.want) || f.KeyID != id {
					t.Errorf("%s: got %v (key %q), want %v with key %s", f.Key, f.Err, f.KeyID, tt.want, id)
				}
				if strings.Contains(fmt.Sprint(f), "0123456789abcdefghij") || strings.Contains(fmt.Sprint(f), "secret-of-token") {
					t.Errorf("a failure shows the seed: %+v", f)
				}
				names = append(names, fmt.Sprintf("%s %s/%s %s", f.Kind, f.User, f.Device, f.Serial))
			}
			want := "[device alice/admin/phone  device bob/fob  token / SN 0000 token / SN 0001]"
			if fmt.Sprint(names) != want {
				t.Errorf("got %v, want %s", names, want)
			}
		})
	}
}
