package directory

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// sshaVector computes an {SSHA…} hash the plain way, independently of
// ssha.go: base64(SHA-2(password || salt) || salt).
func sshaVector(prefix, password, salt string) string {
	var sum []byte
	if prefix == "{SSHA256}" {
		s := sha256.Sum256([]byte(password + salt))
		sum = s[:]
	} else {
		s := sha512.Sum512([]byte(password + salt))
		sum = s[:]
	}
	return prefix + base64.StdEncoding.EncodeToString(append(sum, salt...))
}

func TestCheckPasswordKnownHashes(t *testing.T) {
	tests := []struct {
		name     string
		hash     string
		password string
		scheme   Scheme
	}{
		// The argon2 reference CLI's vectors for "password" and salt
		// "somesalt", as x/crypto/argon2 tests them, in PHC form.
		{"argon2id reference t=2 m=64", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3", "password", Argon2id},
		{"argon2id reference t=3 m=256 p=2", "$argon2id$v=19$m=256,t=3,p=2$c29tZXNhbHQ$RmjTCsQYfmh47t6s8P2DxaCjDbLMFu8L", "password", Argon2id},
		// The hash shipped for demo-user in configs/demo-users.yaml.
		{"argon2id OWASP parameters", "$argon2id$v=19$m=19456,t=2,p=1$AECuz55xlZgy84646vJ86Q$/l64kagissxEWBg1JEeSE2pWOjxn80zs0VPTQh7f81c", "demo-password", Argon2id},
		// crypt_blowfish's test vectors (Openwall), in each prefix.
		{"bcrypt $2a$", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", Bcrypt},
		{"bcrypt $2b$", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", Bcrypt},
		{"bcrypt $2y$", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*", Bcrypt},
		// Computed with Python's hashlib and checked with openssl dgst.
		{"ssha256 literal", "{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA==", "secret", SSHA256},
		{"ssha512 literal", "{SSHA512}aCu7JRc+kLsuEmFs1zTY+AiP7DSGnjjG+dH28Dp+E5usqoAixeTPihKqZmkWal4mUfp63tqvCAkFV1LKTDFH6XNhbHRzYWx0", "secret", SSHA512},
		{"ssha256 lower-case prefix", strings.Replace(sshaVector("{SSHA256}", "pässword", "0123456789abcdef"), "{SSHA256}", "{ssha256}", 1), "pässword", SSHA256},
		{"ssha256 4-byte salt", sshaVector("{SSHA256}", "secret", "abcd"), "secret", SSHA256},
		{"ssha512 16-byte salt", sshaVector("{SSHA512}", "correct horse battery staple", "0123456789abcdef"), "correct horse battery staple", SSHA512},
		{"ssha512 1-byte salt", sshaVector("{SSHA512}", "x", "s"), "x", SSHA512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CheckPassword(tt.hash, tt.password)
			if err != nil || !ok {
				t.Fatalf("right password: got %v, %v, want true, nil", ok, err)
			}
			for _, wrong := range []string{"", tt.password + "x", strings.ToUpper(tt.password), tt.password[1:]} {
				if wrong == tt.password {
					continue
				}
				if ok, err := CheckPassword(tt.hash, wrong); err != nil || ok {
					t.Errorf("wrong password %q: got %v, %v, want false, nil", wrong, ok, err)
				}
			}
			if got, err := SchemeOf(tt.hash); err != nil || got != tt.scheme {
				t.Errorf("SchemeOf: got %v, %v, want %v", got, err, tt.scheme)
			}
		})
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	// bcrypt at its default cost takes seconds on a loaded CI machine (and
	// more under -race): the round trip uses cost 4, the default is pinned.
	if bcryptDefaultCost != 12 {
		t.Errorf("bcrypt default cost: got %d, want 12", bcryptDefaultCost)
	}
	cheapBcrypt := func(pw string) (string, error) { return hashBcrypt(pw, 4) }
	tests := []struct {
		name   string
		hash   func(string) (string, error)
		prefix string
	}{
		{"argon2id", func(pw string) (string, error) { return HashPassword(Argon2id, pw) }, "$argon2id$v=19$m=19456,t=2,p=1$"},
		{"bcrypt", cheapBcrypt, "$2a$04$"},
		{"ssha256", func(pw string) (string, error) { return HashPassword(SSHA256, pw) }, "{SSHA256}"},
		{"ssha512", func(pw string) (string, error) { return HashPassword(SSHA512, pw) }, "{SSHA512}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const pw = "correct horse battery staple ✓"
			h, err := tt.hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, tt.prefix) {
				t.Errorf("got %q, want the prefix %q", h, tt.prefix)
			}
			if ok, err := CheckPassword(h, pw); err != nil || !ok {
				t.Errorf("right password: got %v, %v, want true, nil", ok, err)
			}
			if ok, err := CheckPassword(h, "correct horse battery staple"); err != nil || ok {
				t.Errorf("wrong password: got %v, %v, want false, nil", ok, err)
			}
		})
	}
}

// TestSaltsAreRandom hashes one password twice with cheap parameters.
func TestSaltsAreRandom(t *testing.T) {
	cheap := argon2idParams{memory: 64, time: 1, threads: 1}
	hashes := map[string]func() string{
		"argon2id": func() string { return newArgon2id("pw", cheap).String() },
		"bcrypt":   func() string { h, _ := hashBcrypt("pw", 4); return h },
		"ssha256":  func() string { h, _ := HashPassword(SSHA256, "pw"); return h },
		"ssha512":  func() string { h, _ := HashPassword(SSHA512, "pw"); return h },
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			if a, b := hash(), hash(); a == b {
				t.Errorf("got %q twice, want two salts", a)
			}
		})
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	tests := []struct {
		name     string
		scheme   Scheme
		password string
	}{
		{"unknown scheme", "md5", "pw"},
		{"bcrypt over 72 bytes", Bcrypt, strings.Repeat("a", 73)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := HashPassword(tt.scheme, tt.password); err == nil {
				t.Errorf("got %q, nil, want an error", h)
			}
		})
	}
}

func TestParseScheme(t *testing.T) {
	tests := []struct {
		in   string
		want Scheme
		ok   bool
	}{
		{"argon2id", Argon2id, true},
		{"BCRYPT", Bcrypt, true},
		{"ssha256", SSHA256, true},
		{"SSHA512", SSHA512, true},
		{"md5", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScheme(tt.in)
			if got != tt.want || (err == nil) != tt.ok {
				t.Errorf("got %v, %v, want %v, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestCheckPasswordBadHashes(t *testing.T) {
	const argonTail = "$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3"
	tests := []struct {
		name   string
		hash   string
		scheme Scheme // announced by the prefix; empty when none
		reason string
	}{
		{"empty", "", "", "empty password hash"},
		{"plain password", "hunter2-the-password", "", "a plain password is never accepted"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "", "argon2i"},
		{"sha512-crypt", "$6$rounds=5000$salt$hash", "", "SHA-512-crypt"},
		{"ssha1", "{SSHA}abcdefghij", "", "{SSHA} (salted SHA-1)"},
		{"argon2id few fields", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ", Argon2id, "3 $-separated fields"},
		{"argon2id no version", "$argon2id$m=64,t=2,p=1" + argonTail, Argon2id, "3 $-separated fields"},
		{"argon2id old version", "$argon2id$v=16$m=64,t=2,p=1" + argonTail, Argon2id, "v=19"},
		{"argon2id memory above 1 GiB", "$argon2id$v=19$m=1048577,t=2,p=1" + argonTail, Argon2id, "1048577 is above the limit of 1048576"},
		{"argon2id huge memory", "$argon2id$v=19$m=99999999999999999999,t=2,p=1" + argonTail, Argon2id, "not a number"},
		{"argon2id zero passes", "$argon2id$v=19$m=64,t=0,p=1" + argonTail, Argon2id, "at least 1"},
		{"argon2id many passes", "$argon2id$v=19$m=64,t=65,p=1" + argonTail, Argon2id, "65 is above the limit"},
		{"argon2id zero lanes", "$argon2id$v=19$m=64,t=1,p=0" + argonTail, Argon2id, "at least 1"},
		{"argon2id many lanes", "$argon2id$v=19$m=4096,t=1,p=255" + argonTail, Argon2id, "255 is above the limit"},
		{"argon2id little memory", "$argon2id$v=19$m=15,t=1,p=2" + argonTail, Argon2id, "below 8 KiB per lane"},
		{"argon2id parameters reordered", "$argon2id$v=19$t=2,m=64,p=1" + argonTail, Argon2id, "want m=N"},
		{"argon2id signed number", "$argon2id$v=19$m=+64,t=2,p=1" + argonTail, Argon2id, "not a number"},
		{"argon2id padded salt", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ=$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3", Argon2id, "salt is not unpadded base64"},
		{"argon2id short salt", "$argon2id$v=19$m=64,t=2,p=1$c29tZQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3", Argon2id, "salt of 4 bytes"},
		{"argon2id short hash", "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRV", Argon2id, "hash of 6 bytes"},
		{"bcrypt short", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe", Bcrypt, "59 characters"},
		{"bcrypt cost letters", "$2a$x5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", Bcrypt, "cost is not two digits"},
		{"bcrypt cost 3", "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", Bcrypt, "cost"},
		{"bcrypt cost 31", "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", Bcrypt, "cost 31, want 4 to 16"},
		{"bcrypt bad alphabet", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyO=W", Bcrypt, "alphabet"},
		{"ssha256 not base64", "{SSHA256}not base64!", SSHA256, "not padded standard base64"},
		{"ssha256 no salt", "{SSHA256}" + base64.StdEncoding.EncodeToString(make([]byte, 32)), SSHA256, "32 bytes after decoding"},
		{"ssha512 only a SHA-256 digest", sshaVector("{SSHA256}", "pw", "salt")[9:], "", "not a supported password hash"},
		{"ssha512 huge salt", "{SSHA512}" + base64.StdEncoding.EncodeToString(make([]byte, 64+65)), SSHA512, "129 bytes after decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CheckPassword(tt.hash, "password")
			if err == nil || ok {
				t.Fatalf("got %v, %v, want false and an error", ok, err)
			}
			var he *HashError
			if !errors.As(err, &he) {
				t.Fatalf("got %T, want a *HashError", err)
			}
			if he.Scheme != tt.scheme {
				t.Errorf("scheme: got %q, want %q", he.Scheme, tt.scheme)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %q, want it to mention %q", err, tt.reason)
			}
			if len(tt.hash) > 12 && strings.Contains(err.Error(), tt.hash) {
				t.Errorf("the error %q echoes the hash", err)
			}
		})
	}
}

// TestDecoyCostsTheSame checks that a decoy is a hash of the same cost
// that matches nothing.
func TestDecoyCostsTheSame(t *testing.T) {
	tests := []struct {
		name string
		hash string
	}{
		{"argon2id", newArgon2id("pw", argon2idParams{memory: 64, time: 1, threads: 1}).String()},
		{"bcrypt", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"ssha256", sshaVector("{SSHA256}", "pw", "salt")},
		{"ssha512", sshaVector("{SSHA512}", "pw", "0123456789abcdef")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHash(tt.hash)
			if err != nil {
				t.Fatal(err)
			}
			d := h.decoy()
			if d.cost() != h.cost() || d.expensive() != h.expensive() {
				t.Errorf("got %s (expensive %v), want %s (expensive %v)", d.cost(), d.expensive(), h.cost(), h.expensive())
			}
			if d.verify("pw") || d.verify("") {
				t.Error("the decoy matched a password")
			}
		})
	}
	if got, want := defaultDecoy().cost(), "argon2id m=19456,t=2,p=1,len=32"; got != want {
		t.Errorf("default decoy: got %s, want %s", got, want)
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3", "password")
	f.Add("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U")
	f.Add("{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA==", "secret")
	f.Add("{ssha512}"+base64.StdEncoding.EncodeToString(make([]byte, 70)), "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		h, err := parseHash(hash)
		if err != nil {
			if h != nil {
				t.Fatalf("got a hash and the error %v", err)
			}
			if len(hash) >= 24 && strings.Contains(err.Error(), hash) {
				t.Fatalf("the error %q echoes the hash", err)
			}
			return
		}
		if s, err := SchemeOf(hash); err != nil || s != h.scheme() {
			t.Fatalf("SchemeOf: got %v, %v, want %v", s, err, h.scheme())
		}
		// Check passwords only where it is cheap: parameters within the
		// bounds can still cost a gigabyte, which is their point.
		switch x := h.(type) {
		case *argon2idHash:
			if x.params.memory > 1024 || x.params.time > 4 {
				return
			}
		case *bcryptHash:
			if x.hashCost > 5 {
				return
			}
		}
		h.verify(password)
		h.decoy().verify(password)
	})
}
