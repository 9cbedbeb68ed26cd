package directory

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errorLog collects what Watch reports.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.errs)
}

func TestWatch(t *testing.T) {
	path := writeUsers(t, fmt.Sprintf("users:\n  alice:\n    password: %q\n", ssha("pw")))
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errs errorLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, 10*time.Millisecond, errs.add)
	}()
	status := func(user, pw string) Status {
		r, err := f.Authenticate(context.Background(), user, pw)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}

	t.Run("an edit by FileEditor is picked up", func(t *testing.T) {
		ed, err := EditFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := ed.Add("bob", ssha("bob-pw"), nil); err != nil {
			t.Fatal(err)
		}
		if err := ed.Save(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "bob added", func() bool { return status("bob", "bob-pw") == OK })
	})

	t.Run("a write in place is picked up", func(t *testing.T) {
		content := fmt.Sprintf("users:\n  alice:\n    password: %q\n    disabled: true\n", ssha("pw"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "alice disabled", func() bool { return status("alice", "pw") == Disabled })
		if got := status("bob", "bob-pw"); got != UnknownUser {
			t.Errorf("bob: got %v, want unknown_user", got)
		}
	})

	t.Run("a bad file is reported once and changes nothing", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("users:\n  alice:\n    password: plain\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "error reported", func() bool { return errs.len() > 0 })
		time.Sleep(50 * time.Millisecond) // several more polls
		if got := errs.len(); got != 1 {
			t.Errorf("reports: got %d, want 1", got)
		}
		if got := status("alice", "pw"); got != Disabled {
			t.Errorf("alice: got %v, want the previous version (disabled)", got)
		}
	})

	t.Run("a deleted file is reported and a new one read", func(t *testing.T) {
		before := errs.len()
		os.Remove(path)
		waitFor(t, "missing file reported", func() bool { return errs.len() > before })
		content := fmt.Sprintf("users:\n  carol:\n    password: %q\n", ssha("c"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "carol added", func() bool { return status("carol", "c") == OK })
	})

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after ctx ended")
	}
}

// TestWatchHalfWritten: a file caught half-written and finished before the
// next poll is not reported. synctest's clock makes the polls exact.
func TestWatchHalfWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := writeUsers(t, fmt.Sprintf("users:\n  alice:\n    password: %q\n", ssha("pw")))
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var errs errorLog
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.Watch(ctx, time.Second, errs.add)
		}()
		full := fmt.Sprintf("users:\n  alice:\n    password: %q\n  bob:\n    password: %q\n", ssha("pw"), ssha("b"))
		os.WriteFile(path, []byte(full[:len(full)-30]), 0o600) // cut mid-hash
		time.Sleep(1500 * time.Millisecond)                    // the poll at 1s reads it
		os.WriteFile(path, []byte(full), 0o600)
		time.Sleep(time.Second) // the poll at 2s reads the whole file
		if r, _ := f.Authenticate(ctx, "bob", "b"); r.Status != OK {
			t.Errorf("bob: got %v, want ok", r.Status)
		}
		time.Sleep(3 * time.Second)
		if got := errs.len(); got != 0 {
			t.Errorf("reports: got %d (%v), want none", got, errs.errs)
		}

		// A bad file that stays is reported at the poll after the one that
		// read it, once.
		os.WriteFile(path, []byte(full[:len(full)-30]), 0o600) // at 5.5s
		time.Sleep(time.Second)                                // the poll at 6s reads it
		if got := errs.len(); got != 0 {
			t.Errorf("after one poll: got %d reports, want none yet", got)
		}
		time.Sleep(5 * time.Second)
		if got := errs.len(); got != 1 {
			t.Errorf("after six polls: got %d reports, want 1", got)
		}
		cancel()
		<-done
	})
}

func TestWatchNever(t *testing.T) {
	f := openUsers(t, "users: {}\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(context.Background(), 0, nil)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch with interval 0 did not return")
	}
}
