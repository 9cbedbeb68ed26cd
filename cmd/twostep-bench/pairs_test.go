package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
)

// testDevices returns users x n distinct TOTP devices of period 30 s.
func testDevices(users, n int) [][]otp.TOTP {
	devs := make([][]otp.TOTP, users)
	for u := range devs {
		for d := range n {
			secret := bytes.Repeat([]byte{byte(u*n + d + 1)}, 20)
			devs[u] = append(devs[u], otp.TOTP{Secret: secret, Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second})
		}
	}
	return devs
}

func TestPairsUseEachPairOncePerStep(t *testing.T) {
	const users, n = 5, 3
	p, err := newPairs(testDevices(users, n))
	if err != nil {
		t.Fatal(err)
	}
	if p.size() != users*n {
		t.Fatalf("size got %d, want %d", p.size(), users*n)
	}
	stepStart := time.Unix(1_800_000_000, 0).Truncate(30 * time.Second)
	now := stepStart.Add(5 * time.Second)
	step := p.clock.Step(now)

	seen := map[[2]int]bool{}
	positions := make([]int, n)
	var order []pair
	for range users * n {
		pr, _, ok := p.take(now)
		if !ok {
			t.Fatalf("ran out after %d pairs, want %d", len(seen), users*n)
		}
		if pr.step != step {
			t.Errorf("pair of step %d, want now's step %d", pr.step, step)
		}
		k := [2]int{pr.user, pr.device}
		if seen[k] {
			t.Fatalf("pair %v handed out twice in one step", k)
		}
		seen[k] = true
		positions[pr.device]++
		order = append(order, pr)
	}
	// Consecutive pairs spread users: any run of `users` pairs names each
	// user once.
	for i := 0; i+users <= len(order); i += users {
		us := map[int]bool{}
		for _, pr := range order[i : i+users] {
			us[pr.user] = true
		}
		if len(us) != users {
			t.Errorf("pairs %d to %d name %d users, want %d", i, i+users-1, len(us), users)
		}
	}
	for d, c := range positions {
		if c != users {
			t.Errorf("device position %d used %d times, want %d", d, c, users)
		}
	}

	// Spent: no pair, and the wait ends when the next step begins.
	_, wait, ok := p.take(now)
	if ok {
		t.Fatal("got a pair after every pair of the step was used")
	}
	if want := 25 * time.Second; wait != want {
		t.Errorf("wait got %v, want %v (to the next step)", wait, want)
	}

	// The next step starts afresh, with its own codes.
	next := stepStart.Add(30 * time.Second)
	pr, _, ok := p.take(next)
	if !ok || pr.step != step+1 {
		t.Fatalf("next step: got %+v ok %v, want a pair of step %d", pr, ok, step+1)
	}
	if got, want := p.code(pr), p.devs[pr.user][pr.device].Code(step+1); got != want || len(got) != 6 {
		t.Errorf("code got %q, want %q", got, want)
	}
}

func TestPairsResume(t *testing.T) {
	p, err := newPairs(testDevices(2, 2))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_010, 0)
	step := p.clock.Step(now)

	path := filepath.Join(t.TempDir(), "pairs")
	if s, n, err := readPairState(path); err != nil || s != 0 || n != 0 {
		t.Fatalf("missing file: got %d %d %v, want a fresh start", s, n, err)
	}
	// A run used three pairs of this step...
	for range 3 {
		if _, _, ok := p.take(now); !ok {
			t.Fatal("ran out")
		}
	}
	s, n := p.state()
	if err := writePairState(path, s, n); err != nil {
		t.Fatal(err)
	}
	// ...so the next run, in the same step, has one left.
	q, _ := newPairs(testDevices(2, 2))
	s, n, err = readPairState(path)
	if err != nil || s != step || n != 3 {
		t.Fatalf("read back %d %d %v, want %d 3", s, n, err, step)
	}
	q.resume(s, n)
	if _, _, ok := q.take(now); !ok {
		t.Fatal("the fourth pair is missing")
	}
	if _, _, ok := q.take(now); ok {
		t.Fatal("got a fifth pair of a 4-pair step")
	}
	// In a later step the state does not matter.
	if _, _, ok := q.take(now.Add(30 * time.Second)); !ok {
		t.Fatal("no pair in the next step")
	}

	// A state ahead of the clock waits for its step.
	r, _ := newPairs(testDevices(2, 2))
	r.resume(step+2, 0)
	if _, wait, ok := r.take(now); ok || wait <= 30*time.Second {
		t.Errorf("state two steps ahead: got ok %v wait %v, want a wait past the next step", ok, wait)
	}

	if err := os.WriteFile(path, []byte("x y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readPairState(path); err == nil {
		t.Error("read a malformed state without error")
	}
}

func TestNewPairsRefuses(t *testing.T) {
	uneven := testDevices(2, 2)
	uneven[1] = uneven[1][:1]
	mixed := testDevices(2, 1)
	mixed[1][0].Period = 60 * time.Second
	tests := []struct {
		name string
		devs [][]otp.TOTP
		want string
	}{
		{"no users", nil, "no devices"},
		{"uneven device counts", uneven, "same number"},
		{"mixed periods", mixed, "periods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newPairs(tt.devs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestReadDevices(t *testing.T) {
	devs := testDevices(2, 2)
	var b strings.Builder
	b.WriteString("# comment\n\n")
	// Users out of order: the result follows the users file.
	for _, u := range []int{1, 0} {
		for _, d := range devs[u] {
			name := fmt.Sprintf("user%d", u)
			fmt.Fprintf(&b, "%s %s\n", name, d.URI("bench", name))
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "devices.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	users := []user{{"user0", "a"}, {"user1", "b"}}
	got, err := readDevices(path, users)
	if err != nil {
		t.Fatal(err)
	}
	for u := range devs {
		for d := range devs[u] {
			if !bytes.Equal(got[u][d].Secret, devs[u][d].Secret) {
				t.Errorf("user %d device %d: another secret", u, d)
			}
		}
	}

	if _, err := readDevices(path, append(users, user{"user2", "c"})); err == nil || !strings.Contains(err.Error(), `"user2" has no device`) {
		t.Errorf("got %v, want user2 without device", err)
	}
	bad := filepath.Join(dir, "bad.txt")
	secretLine := "user0 otpauth://totp/x?secret=NOTBASE32!!&issuer=x"
	if err := os.WriteFile(bad, []byte(secretLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = readDevices(bad, users)
	if err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("got %v, want an error naming line 1", err)
	}
	if strings.Contains(err.Error(), "NOTBASE32") {
		t.Errorf("error %q quotes the seed", err)
	}
}
