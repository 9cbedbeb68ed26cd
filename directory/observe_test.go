package directory

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/directory/ldaptest"
	"twostep/internal/leakcheck"
)

// stepRecorder is an Observer that keeps what it is told.
type stepRecorder struct {
	mu    sync.Mutex
	steps []Step
}

func (r *stepRecorder) ObserveDirectory(s Step) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, s)
}

// take returns the steps told since the last take, as
// "operation result detail" lines, and checks that none shows a password.
func (r *stepRecorder) take(t *testing.T, passwords ...string) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.steps {
		line := s.Operation + " " + s.Result + " " + s.Detail
		for _, pw := range passwords {
			if strings.Contains(line, pw) {
				t.Errorf("step %q shows a password", line)
			}
		}
		out = append(out, line)
	}
	r.steps = nil
	return out
}

// TestObserverLDAP: a login's context carries an Observer, which is told
// of each search, group search and bind with what came back, and of the
// DN cache; a context without one observes nothing.
func TestObserverLDAP(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	l := newTestLDAP(t, []string{srv.URL()}, func(c *LDAPConfig) { c.CacheTTL = time.Minute })
	rec := &stepRecorder{}
	ctx := WithObserver(context.Background(), rec)
	pw := ldaptest.Password("alice")

	if _, err := l.Authenticate(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	got := rec.take(t, pw)
	want := []string{
		"search ok uid=alice,ou=people," + ldaptest.BaseDN,
		"groups ok ",
		"bind ok as uid=alice,ou=people," + ldaptest.BaseDN + ": ok",
		"authenticate ok ok as alice",
	}
	if len(got) != len(want) {
		t.Fatalf("steps %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("step %d: %q, want %q…", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[1], "unix-admins") {
		t.Errorf("groups step %q, want alice's groups", got[1])
	}

	if _, err := l.Authenticate(ctx, "alice", pw); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(t, pw); len(got) != 3 || !strings.HasPrefix(got[0], "search cached uid=alice,") || !strings.Contains(got[0], "DN cache") {
		t.Errorf("second login: %q, want the entry from the DN cache, then bind and authenticate", got)
	}
	if _, err := l.Authenticate(ctx, "alice", "wrong-"+pw); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(t, pw); len(got) != 3 || !strings.HasPrefix(got[1], "bind rejected as uid=alice,") || !strings.HasPrefix(got[2], "authenticate rejected bad_password") {
		t.Errorf("wrong password: %q, want the bind rejected", got)
	}
	if _, err := l.Authenticate(ctx, "mallory", "x"); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(t); len(got) != 2 || got[0] != "search ok no entry matches" || got[1] != "authenticate rejected unknown_user" {
		t.Errorf("unknown user: %q", got)
	}

	if _, err := l.Authenticate(context.Background(), "alice", pw); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(t); len(got) != 0 {
		t.Errorf("a context without the observer told it %q", got)
	}
}

// TestObserverFile: the users file tells an Observer of its check.
func TestObserverFile(t *testing.T) {
	f, err := OpenFile(writeUsers(t, fmt.Sprintf("users:\n  Alice:\n    password: %q\n", ssha("secret-pw"))))
	if err != nil {
		t.Fatal(err)
	}
	rec := &stepRecorder{}
	ctx := WithObserver(context.Background(), rec)
	f.Authenticate(ctx, "Alice", "secret-pw")
	f.Authenticate(ctx, "Alice", "nope-secret")
	f.Authenticate(ctx, "bob", "secret-pw")
	got := rec.take(t, "secret-pw", "nope-secret")
	want := []string{
		"authenticate ok ok as Alice (users file)",
		"authenticate rejected bad_password as Alice (users file)",
		"authenticate rejected unknown_user (users file)",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("steps %q, want %q", got, want)
	}
}
