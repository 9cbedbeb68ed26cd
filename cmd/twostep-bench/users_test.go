package main

import (
	"bufio"
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSSHA512(t *testing.T) {
	tests := []struct {
		name     string
		password string
		salt     []byte
	}{
		{"short salt", "secret", []byte{1, 2, 3, 4}},
		{"16-byte salt", "correct horse", bytes.Repeat([]byte{0xfe}, 16)},
		{"empty password", "", []byte("salt")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ssha512(tt.password, tt.salt)
			enc, ok := strings.CutPrefix(h, "{SSHA512}")
			if !ok {
				t.Fatalf("got %q, want the {SSHA512} prefix", h)
			}
			raw, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != sha512.Size+len(tt.salt) {
				t.Fatalf("decoded %d bytes, want digest and salt (%d)", len(raw), sha512.Size+len(tt.salt))
			}
			digest, salt := raw[:sha512.Size], raw[sha512.Size:]
			want := sha512.Sum512(append([]byte(tt.password), tt.salt...))
			if !bytes.Equal(salt, tt.salt) || !bytes.Equal(digest, want[:]) {
				t.Errorf("got digest %x salt %x, want %x %x", digest, salt, want, tt.salt)
			}
		})
	}
}

func TestRunUsers(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"users", "-n", "12", "-dir", dir}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}

	users, err := readUsers(filepath.Join(dir, usersForBench))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 12 || users[0].Name != "user0001" || users[11].Name != "user0012" {
		t.Fatalf("got %d users from %q to %q, want user0001..user0012", len(users), users[0].Name, users[len(users)-1].Name)
	}

	// Every password verifies against the hash in both server files, and
	// the two files hold the same hash.
	var ts struct {
		Users map[string]struct {
			Password string   `yaml:"password"`
			Groups   []string `yaml:"groups"`
		} `yaml:"users"`
	}
	b, err := os.ReadFile(filepath.Join(dir, usersForTwostep))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &ts); err != nil {
		t.Fatalf("%s: %v", usersForTwostep, err)
	}
	fr := map[string]string{}
	f, err := os.Open(filepath.Join(dir, usersForFreeRADIUS))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, "\t")
		h, ok := strings.CutPrefix(rest, `Password-With-Header := "`)
		if !ok || !strings.HasSuffix(h, `"`) {
			t.Fatalf("freeradius line %q: want Password-With-Header := \"...\"", line)
		}
		fr[name] = strings.TrimSuffix(h, `"`)
	}
	for _, u := range users {
		if len(u.Password) != passwordLen {
			t.Errorf("%s: password of %d characters, want %d", u.Name, len(u.Password), passwordLen)
		}
		got := ts.Users[u.Name]
		if got.Password == "" || got.Password != fr[u.Name] {
			t.Errorf("%s: twostepd hash %q, freeradius hash %q, want the same", u.Name, got.Password, fr[u.Name])
			continue
		}
		if len(got.Groups) != 1 || got.Groups[0] != "vpn-users" {
			t.Errorf("%s: groups %v, want [vpn-users]", u.Name, got.Groups)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got.Password, "{SSHA512}"))
		if err != nil {
			t.Fatal(err)
		}
		if want := ssha512(u.Password, raw[sha512.Size:]); want != got.Password {
			t.Errorf("%s: hash does not verify with the password", u.Name)
		}
	}
	for _, name := range []string{usersForBench, usersForFreeRADIUS, usersForTwostep} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600: it holds passwords or hashes", name, st.Mode().Perm())
		}
	}
}

func TestRunUsersErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"users"}, "-dir is required"},
		{"zero users", []string{"users", "-dir", "x", "-n", "0"}, "-n 0"},
		{"quote in prefix", []string{"users", "-dir", "x", "-prefix", `a"b`}, "-prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
