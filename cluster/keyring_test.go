package cluster_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
)

// testKey returns 32 recognisable bytes and their base64, distinct per seed.
func testKey(seed byte) ([]byte, string) {
	k := make([]byte, 32)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k, base64.StdEncoding.EncodeToString(k)
}

func mustRing(t *testing.T, text string) *cluster.Keyring {
	t.Helper()
	k, err := cluster.ParseKeyring([]byte(text))
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestKeyringSealOpen(t *testing.T) {
	_, b64 := testKey(1)
	k := mustRing(t, "# comment\n\n  k1 "+b64+"  \r\n")
	seed := []byte("12345678901234567890")
	aad := []byte("users/alice/devices/7f3c")

	s, err := k.Seal(seed, aad)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "k1" || len(s.Nonce) != 12 {
		t.Errorf("got kid %q nonce %d bytes, want k1 and 12", s.KeyID, len(s.Nonce))
	}
	if bytes.Contains(s.Ciphertext, seed) {
		t.Error("ciphertext contains the plaintext")
	}
	got, err := k.Open(s, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, seed) {
		t.Errorf("got %q, want %q", got, seed)
	}

	s2, err := k.Seal(seed, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(s.Nonce, s2.Nonce) || bytes.Equal(s.Ciphertext, s2.Ciphertext) {
		t.Error("two seals of one seed are equal: the nonce is not random")
	}

	// The JSON shape is what etcdctl shows admins.
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, []string{"ct", "kid", "nonce"}) {
		t.Errorf("got JSON fields %v, want [ct kid nonce]", keys)
	}
	var back cluster.Sealed
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(back, aad); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("open after JSON round trip: got %q, %v", got, err)
	}
}

func TestKeyringOpenRefuses(t *testing.T) {
	_, b64 := testKey(1)
	k := mustRing(t, "k1 "+b64+"\n")
	aad := []byte("users/alice/devices/1")
	s, err := k.Seal([]byte("a seed of twenty bytes"), aad)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name string
		s    cluster.Sealed
		aad  []byte
		want error
	}{
		{"other device", s, []byte("users/alice/devices/2"), cluster.ErrDecrypt},
		{"other user", s, []byte("users/bob/devices/1"), cluster.ErrDecrypt},
		{"no aad", s, nil, cluster.ErrDecrypt},
		{"tampered ciphertext", cluster.Sealed{KeyID: "k1", Nonce: s.Nonce, Ciphertext: flip(s.Ciphertext, 0)}, aad, cluster.ErrDecrypt},
		{"tampered tag", cluster.Sealed{KeyID: "k1", Nonce: s.Nonce, Ciphertext: flip(s.Ciphertext, len(s.Ciphertext)-1)}, aad, cluster.ErrDecrypt},
		{"tampered nonce", cluster.Sealed{KeyID: "k1", Nonce: flip(s.Nonce, 3), Ciphertext: s.Ciphertext}, aad, cluster.ErrDecrypt},
		{"short nonce", cluster.Sealed{KeyID: "k1", Nonce: s.Nonce[:8], Ciphertext: s.Ciphertext}, aad, cluster.ErrDecrypt},
		{"truncated ciphertext", cluster.Sealed{KeyID: "k1", Nonce: s.Nonce, Ciphertext: s.Ciphertext[:4]}, aad, cluster.ErrDecrypt},
		{"unknown kid", cluster.Sealed{KeyID: "k20250101-dead", Nonce: s.Nonce, Ciphertext: s.Ciphertext}, aad, cluster.ErrUnknownKey},
		{"empty kid", cluster.Sealed{Nonce: s.Nonce, Ciphertext: s.Ciphertext}, aad, cluster.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(tt.s, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %q, %v, want %v", got, err, tt.want)
			}
			if got != nil {
				t.Errorf("got plaintext %q with an error", got)
			}
		})
	}
	t.Run("unknown kid message", func(t *testing.T) {
		_, err := k.Open(cluster.Sealed{KeyID: "k20250101-dead"}, aad)
		if msg := err.Error(); !strings.Contains(msg, `"k20250101-dead"`) || !strings.Contains(msg, "key file lacks") {
			t.Errorf("got %q, want the kid named and the key file blamed", msg)
		}
	})
}

func TestKeyringRotation(t *testing.T) {
	_, oldB64 := testKey(1)
	_, newB64 := testKey(2)
	old := mustRing(t, "k-old "+oldB64+"\n")
	aad := []byte("users/alice/devices/1")
	sealedOld, err := old.Seal([]byte("old seed"), aad)
	if err != nil {
		t.Fatal(err)
	}
	oldKid, oldMAC := old.MAC("lockout", []byte("123456"))

	// Step 1 of a rotation: a new key first, the old one kept.
	rotated := mustRing(t, "k-new "+newB64+"\nk-old "+oldB64+"\n")
	if got := rotated.ActiveID(); got != "k-new" {
		t.Errorf("got active %q, want k-new", got)
	}
	if got := rotated.IDs(); !slices.Equal(got, []string{"k-new", "k-old"}) {
		t.Errorf("got ids %v, want [k-new k-old]", got)
	}
	if got, err := rotated.Open(sealedOld, aad); err != nil || string(got) != "old seed" {
		t.Errorf("open old record: got %q, %v, want old seed", got, err)
	}
	sealedNew, err := rotated.Seal([]byte("new seed"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if sealedNew.KeyID != "k-new" {
		t.Errorf("got kid %q, want k-new", sealedNew.KeyID)
	}
	if !rotated.VerifyMAC(oldKid, "lockout", []byte("123456"), oldMAC) {
		t.Error("a MAC made under the old key no longer verifies")
	}
	if kid, _ := rotated.MAC("lockout", []byte("123456")); kid != "k-new" {
		t.Errorf("got MAC kid %q, want k-new", kid)
	}

	// Step 3: the old line removed; records still sealed with it say so.
	done := mustRing(t, "k-new "+newB64+"\n")
	if _, err := done.Open(sealedOld, aad); !errors.Is(err, cluster.ErrUnknownKey) {
		t.Errorf("got %v, want ErrUnknownKey", err)
	}
	if got, err := done.Open(sealedNew, aad); err != nil || string(got) != "new seed" {
		t.Errorf("open new record: got %q, %v", got, err)
	}
}

func TestKeyringMAC(t *testing.T) {
	_, b64 := testKey(1)
	_, b64b := testKey(9)
	k := mustRing(t, "k1 "+b64+"\nk2 "+b64b+"\n")
	msg := []byte("123456")
	kid, lock := k.MAC("lockout", msg)
	_, bypass := k.MAC("bypass", msg)
	if kid != "k1" || len(lock) != 32 {
		t.Fatalf("got kid %q, %d bytes, want k1 and 32", kid, len(lock))
	}
	if bytes.Equal(lock, bypass) {
		t.Error("two purposes gave one MAC: the subkeys are not separate")
	}
	if _, again := k.MAC("lockout", msg); !bytes.Equal(lock, again) {
		t.Error("MAC is not deterministic")
	}
	tests := []struct {
		name    string
		kid     string
		purpose string
		msg     []byte
		mac     []byte
		want    bool
	}{
		{"right", "k1", "lockout", msg, lock, true},
		{"other purpose", "k1", "bypass", msg, lock, false},
		{"other message", "k1", "lockout", []byte("123457"), lock, false},
		{"other key", "k2", "lockout", msg, lock, false},
		{"unknown kid", "k3", "lockout", msg, lock, false},
		{"truncated", "k1", "lockout", msg, lock[:16], false},
		{"empty", "k1", "lockout", msg, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k.VerifyMAC(tt.kid, tt.purpose, tt.msg, tt.mac); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyringEmpty(t *testing.T) {
	var k cluster.Keyring
	if _, err := k.Seal([]byte("x"), nil); err == nil {
		t.Error("an empty keyring sealed")
	}
	kid, mac := k.MAC("lockout", []byte("1"))
	if k.VerifyMAC(kid, "lockout", []byte("1"), mac) {
		t.Error("an empty keyring verified its own empty MAC")
	}
	if k.ActiveID() != "" || len(k.IDs()) != 0 {
		t.Errorf("got %q %v, want no ids", k.ActiveID(), k.IDs())
	}
}

func TestParseKeyringErrors(t *testing.T) {
	_, good := testKey(1)
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	tests := []struct {
		name string
		in   string
		want []string // substrings, in order
	}{
		{"empty", "", []string{"no key"}},
		{"comments only", "# a\n\n# b\n", []string{"no key"}},
		{"id only", "k1\n", []string{"line 1: ", "(2 fields), found 1"}},
		{"key only", good + "\n", []string{"line 1: ", "(2 fields), found 1"}},
		{"three fields", "k1 " + good + " extra\n", []string{"line 1: ", "(2 fields), found 3"}},
		{"trailing comment", "k1 " + good + " # main\n", []string{"line 1: ", "(2 fields), found 4"}},
		{"bad id", "k/1 " + good + "\n", []string{"line 1: key id must be"}},
		{"long id", strings.Repeat("k", 65) + " " + good + "\n", []string{"line 1: key id must be"}},
		{"not base64", "k1 ***notbase64***\n", []string{"line 1: key is not base64"}},
		{"unpadded", "k1 " + strings.TrimRight(good, "=") + "\n", []string{"line 1: key is not base64"}},
		{"url alphabet", "k1 " + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)) + "\n", []string{"line 1: key is not base64"}},
		{"short key", "# c\nk1 " + short + "\n", []string{"line 2: key is 31 bytes, want 32"}},
		{"duplicate", "k1 " + good + "\n\nk1 " + good + "\n", []string{"line 3: duplicate key id (first on line 1)"}},
		{
			"every problem",
			"# keys\nk1 " + good + "\nk2\nk/3 " + good + "\nk4 " + short + "\nk1 " + good + "\nk? nope!\n",
			[]string{"cluster: keyring line 3: ", "; line 4: key id", "; line 5: key is 31 bytes", "; line 6: duplicate key id (first on line 2)", "; line 7: key id must be", "; line 7: key is not base64"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := cluster.ParseKeyring([]byte(tt.in))
			if err == nil {
				t.Fatalf("got ring %v, want an error", k.IDs())
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "cluster: keyring") {
				t.Errorf("got %q, want prefix cluster: keyring", msg)
			}
			rest := msg
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("got %q, want it to contain %q (in order)", msg, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// TestKeyringErrorsQuoteNoKey feeds key material in every wrong place and
// checks that no error repeats it: errors reach logs.
func TestKeyringErrorsQuoteNoKey(t *testing.T) {
	_, good := testKey(1)
	_, other := testKey(5)
	short := base64.StdEncoding.EncodeToString([]byte("secret-secret-secret-secret-31b"))
	secrets := []string{good, other, short, "secret-secret", strings.TrimRight(good, "="), good[:20]}
	inputs := []string{
		good + "\n",
		good + " " + other + "\n",
		"k1 " + short + "\n",
		"k1 " + good + " " + other + "\n",
		"k1 " + strings.TrimRight(good, "=") + "\n",
		"k1 " + good + "\nk1 " + other + "\n",
		"k1 " + good + "x\n",
		"k1\t" + good[:20] + "\n",
		good[:20] + " " + short + "\n",
	}
	dir := t.TempDir()
	for i, in := range inputs {
		_, perr := cluster.ParseKeyring([]byte(in))
		path := filepath.Join(dir, "keys")
		if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		_, lerr := cluster.LoadKeyring(path)
		for _, err := range []error{perr, lerr} {
			if err == nil {
				t.Errorf("input %d: no error", i)
				continue
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("input %d: error %q quotes key material %q", i, err, s)
				}
			}
		}
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	_, good := testKey(1)
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	t.Run("600", func(t *testing.T) {
		p := write("ok", "k1 "+good+"\n", 0o600)
		k, err := cluster.LoadKeyring(p)
		if err != nil {
			t.Fatal(err)
		}
		if k.ActiveID() != "k1" {
			t.Errorf("got %q, want k1", k.ActiveID())
		}
	})
	t.Run("400", func(t *testing.T) {
		if _, err := cluster.LoadKeyring(write("ro", "k1 "+good+"\n", 0o400)); err != nil {
			t.Fatal(err)
		}
	})
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o610} {
		t.Run(mode.String(), func(t *testing.T) {
			p := write("open", "k1 "+good+"\n", mode)
			_, err := cluster.LoadKeyring(p)
			if err == nil {
				t.Fatal("got a keyring, want a refusal")
			}
			if !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Errorf("got %q, want it to say chmod 600 %s", err, p)
			}
		})
	}
	t.Run("parse error names path and line", func(t *testing.T) {
		p := write("bad", "# keys\nk1 no-pe\n", 0o600)
		_, err := cluster.LoadKeyring(p)
		if want := "cluster: keyring " + p + ": line 2: key is not base64"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got %v, want prefix %q", err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := cluster.LoadKeyring(filepath.Join(dir, "none"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want ErrNotExist", err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := cluster.LoadKeyring(dir); err == nil {
			t.Error("got a keyring from a directory")
		}
	})
}

func TestNewKeyFile(t *testing.T) {
	now := time.Date(2026, 11, 23, 23, 30, 0, 0, time.FixedZone("CET", 3600))
	rnd := bytes.NewReader(bytes.Repeat([]byte{0xa1, 0xb2, 0x33}, 20))
	b, err := cluster.NewKeyFile(rnd, now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cluster.ParseKeyring(b)
	if err != nil {
		t.Fatalf("NewKeyFile output does not parse: %v\n%s", err, b)
	}
	if got, want := k.ActiveID(), "k20261123-a1b2"; got != want {
		t.Errorf("got id %q, want %q (UTC date, 4 hex)", got, want)
	}
	if len(k.IDs()) != 1 {
		t.Errorf("got ids %v, want one", k.IDs())
	}
	text := string(b)
	for _, w := range []string{"# twostep seed keys", "first key seals", "twostepctl keygen", "twostepctl rekey", "remove the old line"} {
		if !strings.Contains(text, w) {
			t.Errorf("key file lacks %q:\n%s", w, text)
		}
	}

	// Real randomness: ids differ, and the file works.
	a, err := cluster.NewKeyFile(randReader(t), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ka := mustRing(t, string(a))
	if !regexp.MustCompile(`^k\d{8}-[0-9a-f]{4}$`).MatchString(ka.ActiveID()) {
		t.Errorf("got id %q, want kYYYYMMDD-xxxx", ka.ActiveID())
	}
	s, err := ka.Seal([]byte("seed"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ka.Open(s, []byte("aad")); err != nil || string(got) != "seed" {
		t.Errorf("got %q, %v", got, err)
	}

	if _, err := cluster.NewKeyFile(bytes.NewReader(make([]byte, 10)), now); err == nil {
		t.Error("a short random source gave a key file")
	}
}

func randReader(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// FuzzParseKeyring checks that any file either parses into a working ring
// or fails without quoting its content.
func FuzzParseKeyring(f *testing.F) {
	_, good := testKey(1)
	_, other := testKey(2)
	f.Add([]byte("k1 " + good + "\n"))
	f.Add([]byte("# c\n\nk-new " + good + "\r\nk-old " + other + "\n"))
	f.Add([]byte("k1 " + good + "\nk1 " + other + "\n"))
	f.Add([]byte("k1\nk/2 xx\n" + good + "\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := cluster.ParseKeyring(b)
		if err != nil {
			if k != nil {
				t.Fatal("got a ring and an error")
			}
			// Our messages hold no run of 20 non-space characters, so any
			// such run in the error came from the input.
			msg := err.Error()
			for _, field := range strings.Fields(string(b)) {
				if len(field) >= 20 && strings.Contains(msg, field) {
					t.Fatalf("error %q quotes input %q", msg, field)
				}
			}
			return
		}
		ids := k.IDs()
		if len(ids) == 0 || ids[0] != k.ActiveID() {
			t.Fatalf("got ids %v, active %q", ids, k.ActiveID())
		}
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
			t.Fatalf("duplicate ids %v", ids)
		}
		s, err := k.Seal([]byte("seed"), []byte("aad"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.Open(s, []byte("aad")); err != nil || string(got) != "seed" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
}
