package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// cheapArgon2id hashes with tiny parameters: tests check logic, not cost.
func cheapArgon2id(pw string) string {
	return newArgon2id(pw, argon2idParams{memory: 64, time: 1, threads: 1}).String()
}

func ssha(pw string) string {
	h, _ := HashPassword(SSHA512, pw)
	return h
}

// writeUsers writes a users file in a fresh directory and returns its path.
func writeUsers(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openUsers(t *testing.T, content string) *File {
	t.Helper()
	f, err := OpenFile(writeUsers(t, content))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAuthenticate(t *testing.T) {
	f := openUsers(t, fmt.Sprintf(`# test users
users:
  alice:
    password: %q
    groups: [vpn-users, admins]
  bob:
    password: %q   # fast hash
    disabled: false
  carol:
    password: %q
    groups: [vpn-users]
    disabled: true
  "EXAMPLE\\dave":
    password: %q
  erin@example.org:
    password: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
`, cheapArgon2id("alice-pw"), ssha("bob-pw"), ssha("carol-pw"), ssha("dave-pw")))
	tests := []struct {
		name, user, password string
		want                 Result
	}{
		{"argon2id", "alice", "alice-pw", Result{Status: OK, User: User{Name: "alice", Groups: []string{"vpn-users", "admins"}}}},
		{"argon2id wrong password", "alice", "bob-pw", Result{Status: BadPassword, User: User{Name: "alice"}}},
		{"ssha512 without groups", "bob", "bob-pw", Result{Status: OK, User: User{Name: "bob"}}},
		{"empty password", "bob", "", Result{Status: BadPassword, User: User{Name: "bob"}}},
		{"disabled", "carol", "carol-pw", Result{Status: Disabled, User: User{Name: "carol"}}},
		{"disabled with a wrong password", "carol", "guess", Result{Status: BadPassword, User: User{Name: "carol"}}},
		{"unknown", "mallory", "alice-pw", Result{Status: UnknownUser}},
		{"names are exact: case", "Alice", "alice-pw", Result{Status: UnknownUser}},
		{"names are exact: space", "alice ", "alice-pw", Result{Status: UnknownUser}},
		{"domain name", `EXAMPLE\dave`, "dave-pw", Result{Status: OK, User: User{Name: `EXAMPLE\dave`}}},
		{"bcrypt and a realm", "erin@example.org", "U*U", Result{Status: OK, User: User{Name: "erin@example.org"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Authenticate(context.Background(), tt.user, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.want.Status || got.User.Name != tt.want.User.Name || !slices.Equal(got.User.Groups, tt.want.User.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := f.Len(); got != 5 {
		t.Errorf("Len: got %d, want 5", got)
	}
}

// TestAuthenticateGroupsAreCopies: a caller changing the groups it got
// must not change the directory.
func TestAuthenticateGroupsAreCopies(t *testing.T) {
	f := openUsers(t, fmt.Sprintf("users:\n  a:\n    password: %q\n    groups: [g1]\n", ssha("pw")))
	r, _ := f.Authenticate(context.Background(), "a", "pw")
	r.User.Groups[0] = "changed"
	r, _ = f.Authenticate(context.Background(), "a", "pw")
	if got := r.User.Groups; !slices.Equal(got, []string{"g1"}) {
		t.Errorf("got %v, want [g1]", got)
	}
}

func TestOpenFileRefuses(t *testing.T) {
	pw := ssha("pw")
	tests := []struct {
		name    string
		content string
		want    []string // each must appear in the error
	}{
		{"empty file", "", []string{"users.yaml: the file is empty"}},
		{"only comments", "# nothing\n", []string{"the file is empty"}},
		{"no users key", "other: 1\n", []string{"users.yaml:1: other: unknown key", "users: missing"}},
		{"users not a mapping", "users: [alice]\n", []string{"users.yaml:1: users: want a mapping"}},
		{"top not a mapping", "- users\n", []string{"users.yaml:1: want a mapping with the key users"}},
		{"YAML syntax", "users:\n  alice: [\n", []string{"users.yaml:2: YAML:"}},
		{"two documents", "users: {}\n---\nusers: {}\n", []string{"more than one YAML document"}},
		{"unknown key", fmt.Sprintf("users:\n  alice:\n    password: %q\n    pasword: x\n", pw),
			[]string{"users.yaml:4: users.alice.pasword: unknown key (known: password, groups, disabled)"}},
		{"no password", "users:\n  alice:\n    groups: [a]\n", []string{"users.yaml:2: users.alice: no password; set one with `twostepctl user passwd alice`"}},
		{"null user", "users:\n  alice:\n", []string{"users.yaml:2: users.alice: no password"}},
		{"plain password", "users:\n  alice:\n    password: hunter2-secret\n", []string{"users.yaml:3: users.alice.password: not a supported password hash"}},
		{"broken argon2id", "users:\n  alice:\n    password: \"$argon2id$v=19$m=64,t=2$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3\"\n",
			[]string{"users.yaml:3: users.alice.password: bad argon2id hash (want $argon2id$v=19$m=KIB,t=PASSES,p=LANES$SALT$HASH)"}},
		{"broken ssha512", "users:\n  alice:\n    password: \"{SSHA512}c2VjcmV0LXBhc3N3b3Jk\"\n", []string{"users.yaml:3: users.alice.password: bad ssha512 hash"}},
		{"duplicate user", fmt.Sprintf("users:\n  alice:\n    password: %q\n  alice:\n    password: %q\n", pw, pw),
			[]string{"users.yaml:4: users.alice: user defined twice, ignoring case (first at line 2)"}},
		{"users differing only in case", fmt.Sprintf("users:\n  alice:\n    password: %q\n  Alice:\n    password: %q\n", pw, pw),
			[]string{"users.yaml:4: users.Alice: user defined twice, ignoring case (first at line 2)"}},
		{"duplicate field", fmt.Sprintf("users:\n  alice:\n    password: %q\n    password: %q\n", pw, pw),
			[]string{"users.yaml:4: users.alice.password: defined twice (first at line 3)"}},
		{"duplicate users key", "users: {}\nusers: {}\n", []string{"users.yaml:2: users: defined twice"}},
		{"groups not a list", fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: vpn-users\n", pw), []string{"users.yaml:4: users.alice.groups: want a list"}},
		{"group with a comma", fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: [\"a,b\"]\n", pw), []string{"users.alice.groups: group name \"a,b\" holds a comma"}},
		{"empty group", fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: [\"\"]\n", pw), []string{"users.alice.groups: empty group name"}},
		{"group listed twice", fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: [a, a]\n", pw), []string{"group \"a\" listed twice"}},
		{"group not a string", fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: [[a]]\n", pw), []string{"users.alice.groups: want a group name"}},
		{"disabled not a bool", fmt.Sprintf("users:\n  alice:\n    password: %q\n    disabled: yes\n", pw), []string{"users.yaml:4: users.alice.disabled: want true or false"}},
		{"user name with a space", fmt.Sprintf("users:\n  \" alice\":\n    password: %q\n", pw), []string{"starts or ends with a space"}},
		{"user name with a control character", fmt.Sprintf("users:\n  \"al\\tice\":\n    password: %q\n", pw), []string{`users["al\tice"]: user name "al\tice" holds a control character`}},
		{"user name too long", fmt.Sprintf("users:\n  %s:\n    password: %q\n", strings.Repeat("a", 254), pw), []string{"user name of 254 bytes"}},
		{"user not a mapping", "users:\n  alice: pw\n", []string{"users.yaml:2: users.alice: want a mapping"}},
		{"alias", fmt.Sprintf("users:\n  alice:\n    password: &p %q\n  bob:\n    password: *p\n", pw), []string{"users.yaml:5: users.bob.password: aliases"}},
		{"every problem at once", fmt.Sprintf("users:\n  alice:\n    password: nope\n  bob:\n    groups: [a]\n  carol:\n    password: %q\n    colour: red\n", pw),
			[]string{"3 problems", "users.yaml:3: users.alice.password", "users.yaml:4: users.bob: no password", "users.yaml:8: users.carol.colour: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFile(writeUsers(t, tt.content))
			if err == nil {
				t.Fatalf("got %d users, want an error", f.Len())
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("got %T %v, want a *FileError", err, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got:\n%v\nwant it to contain %q", err, want)
				}
			}
			for _, secret := range []string{"hunter2-secret", "c2VjcmV0LXBhc3N3b3Jk", "Bo1ismRVk2qm6", pw[9:]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error echoes a password or hash:\n%v", err)
				}
			}
		})
	}
}

func TestOpenFileAccepts(t *testing.T) {
	tests := []struct {
		name    string
		content string
		users   int
	}{
		{"no users", "users: {}\n", 0},
		{"users: null", "users:\n", 0},
		{"groups: null", fmt.Sprintf("users:\n  a:\n    password: %q\n    groups:\n", ssha("pw")), 1},
		{"numeric-looking name", fmt.Sprintf("users:\n  1234:\n    password: %q\n", ssha("pw")), 1},
		{"group with spaces", fmt.Sprintf("users:\n  a:\n    password: %q\n    groups: [VPN Users]\n", ssha("pw")), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFile(writeUsers(t, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Len(); got != tt.users {
				t.Errorf("got %d users, want %d", got, tt.users)
			}
		})
	}
}

func TestOpenFileMissing(t *testing.T) {
	_, err := OpenFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want os.ErrNotExist", err)
	}
}

// TestUnknownUserCostsLikeKnown checks that unknown users are checked
// against a decoy of the cost most users have, waiting for a turn like
// them; measuring times would make a flaky test.
func TestUnknownUserCostsLikeKnown(t *testing.T) {
	argon := cheapArgon2id("pw")
	tests := []struct {
		name      string
		hashes    []string
		wantCost  string
		expensive bool
	}{
		{"no users: the default scheme", nil, "argon2id m=19456,t=2,p=1,len=32", true},
		{"argon2id users", []string{argon, cheapArgon2id("x"), ssha("y")}, "argon2id m=64,t=1,p=1,len=32", true},
		{"mostly ssha512", []string{argon, ssha("x"), ssha("y")}, "ssha512", false},
		{"bcrypt", []string{"$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"}, "bcrypt cost=5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("users: {}\n")
			if len(tt.hashes) > 0 {
				b.Reset()
				b.WriteString("users:\n")
				for i, h := range tt.hashes {
					fmt.Fprintf(&b, "  u%d:\n    password: %q\n", i, h)
				}
			}
			f, err := openFile(writeUsers(t, b.String()), 1)
			if err != nil {
				t.Fatal(err)
			}
			d := f.cur.Load().decoy
			if d.cost() != tt.wantCost {
				t.Errorf("decoy: got %s, want %s", d.cost(), tt.wantCost)
			}
			// With every turn taken, an unknown user waits like a known one.
			f.sem <- struct{}{}
			defer func() { <-f.sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, err = f.Authenticate(ctx, "nobody", "pw")
			if waited := errors.Is(err, context.DeadlineExceeded); waited != tt.expensive {
				t.Errorf("unknown user waited for a turn: got %v (%v), want %v", waited, err, tt.expensive)
			}
		})
	}
}

// countingHash is an expensive hash that records how many checks run at
// once.
type countingHash struct {
	now, peak *atomic.Int32
}

func (h countingHash) scheme() Scheme      { return Argon2id }
func (h countingHash) expensive() bool     { return true }
func (h countingHash) cost() string        { return "counting" }
func (h countingHash) decoy() passwordHash { return h }
func (h countingHash) verify(string) bool {
	n := h.now.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	h.now.Add(-1)
	return true
}

func TestExpensiveChecksAreRationed(t *testing.T) {
	const limit, workers = 3, 40
	var now, peak atomic.Int32
	h := countingHash{now: &now, peak: &peak}
	f := &File{sem: make(chan struct{}, limit)}
	f.cur.Store(&fileVersion{users: map[string]*userEntry{"a": {name: "a", hash: h}}, decoy: h})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			if r, err := f.Authenticate(context.Background(), "a", "pw"); err != nil || r.Status != OK {
				t.Errorf("got %v, %v, want ok", r.Status, err)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got > limit || got < 1 {
		t.Errorf("checks at once: got %d, want 1 to %d", got, limit)
	}
}

func TestFastChecksSkipTheQueue(t *testing.T) {
	f, err := openFile(writeUsers(t, fmt.Sprintf("users:\n  a:\n    password: %q\n  b:\n    password: %q\n", ssha("pw"), cheapArgon2id("pw"))), 1)
	if err != nil {
		t.Fatal(err)
	}
	f.sem <- struct{}{} // every turn taken
	defer func() { <-f.sem }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if r, err := f.Authenticate(ctx, "a", "pw"); err != nil || r.Status != OK {
		t.Errorf("ssha512: got %v, %v, want ok at once", r.Status, err)
	}
	if _, err := f.Authenticate(ctx, "b", "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("argon2id: got %v, want context.DeadlineExceeded", err)
	}
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	<-f.sem // a free turn: a cancelled ctx still fails
	defer func() { f.sem <- struct{}{} }()
	if _, err := f.Authenticate(canceled, "b", "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled", err)
	}
}

func TestReload(t *testing.T) {
	path := writeUsers(t, fmt.Sprintf("users:\n  alice:\n    password: %q\n", ssha("old")))
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(user, pw string, want Status) {
		t.Helper()
		if r, err := f.Authenticate(context.Background(), user, pw); err != nil || r.Status != want {
			t.Errorf("%s/%s: got %v, %v, want %v", user, pw, r.Status, err, want)
		}
	}
	os.WriteFile(path, []byte(fmt.Sprintf("users:\n  alice:\n    password: %q\n  bob:\n    password: %q\n", ssha("new"), ssha("bob"))), 0o600)
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	check("alice", "new", OK)
	check("alice", "old", BadPassword)
	check("bob", "bob", OK)

	os.WriteFile(path, []byte("users:\n  alice:\n    password: plain\n"), 0o600)
	err = f.Reload()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("bad file: got %v, want a *FileError", err)
	}
	check("alice", "new", OK) // the previous version stays
	check("bob", "bob", OK)

	os.Remove(path)
	if err := f.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
	check("bob", "bob", OK)
}

// TestReloadIsAtomic authenticates while the file flips between two
// versions: every answer must come from a whole version (run with -race).
func TestReloadIsAtomic(t *testing.T) {
	var v1, v2 strings.Builder
	v1.WriteString("users:\n")
	v2.WriteString("users:\n")
	for i := range 50 {
		fmt.Fprintf(&v1, "  u%d:\n    password: %q\n", i, ssha("one"))
		fmt.Fprintf(&v2, "  u%d:\n    password: %q\n", i, ssha("two"))
	}
	path := writeUsers(t, v1.String())
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				u := fmt.Sprintf("u%d", (i+w)%50)
				// Both versions have every user: a half-read file would not.
				for _, pw := range []string{"one", "two"} {
					if r, err := f.Authenticate(ctx, u, pw); err != nil || r.Status == UnknownUser {
						t.Errorf("%s: got %v, %v, want ok or bad_password", u, r.Status, err)
						return
					}
				}
			}
		})
	}
	for i := range 40 {
		next := v1.String()
		if i%2 == 0 {
			next = v2.String()
		}
		tmp := path + ".tmp"
		os.WriteFile(tmp, []byte(next), 0o600)
		os.Rename(tmp, path)
		if err := f.Reload(); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
}
