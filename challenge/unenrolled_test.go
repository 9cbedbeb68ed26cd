package challenge

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestUnenrolled(t *testing.T) {
	t.Run("deny by default, saying what to do", func(t *testing.T) {
		w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
		d := w.login(ModeAuto, "pw", nil)
		expect(t, d, Reject, ReasonNotEnrolled)
		if d.Message != msgNotEnrolled {
			t.Errorf("got %q, want %q", d.Message, msgNotEnrolled)
		}
	})
	t.Run("allow during the grace period from the first login", func(t *testing.T) {
		cfg := defaultPasscodes()
		cfg.Unenrolled = Unenrolled{Allow: true, Grace: 48 * time.Hour}
		w := newSFWorld(t, cfg, Policy{}, nil)
		expect(t, w.login(ModeAuto, "pw", nil), Accept, ReasonUnenrolledGrace)
		w.advance(47 * time.Hour)
		expect(t, w.login(ModeAuto, "pw", nil), Accept, ReasonUnenrolledGrace)
		w.advance(2 * time.Hour)
		expect(t, w.login(ModeAuto, "pw", nil), Reject, ReasonNotEnrolled)
	})
	t.Run("exempt by group", func(t *testing.T) {
		w := newSFWorld(t, defaultPasscodes(), Policy{Groups: []GroupRule{{Group: "staff", Action: Exempt}}}, nil)
		expect(t, w.login(ModeAuto, "pw", nil), Accept, ReasonExempt)
	})
	t.Run("devices removed: no new grace, it counted from the first device", func(t *testing.T) {
		cfg := defaultPasscodes()
		cfg.Unenrolled = Unenrolled{Allow: true, Grace: 48 * time.Hour}
		w := newSFWorld(t, cfg, Policy{}, nil)
		dev := w.enroll("phone")
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
		w.advance(100 * time.Hour)
		if _, err := w.accounts.RemoveDevice(context.Background(), "alice", "phone"); err != nil {
			t.Fatal(err)
		}
		// Whoever had the devices removed (a stolen session, a tricked
		// help desk) gets no password-only logins from it.
		expect(t, w.login(ModeAuto, "pw", nil), Reject, ReasonNotEnrolled)
	})
}

// TestFirstSeenOnlyWhenNeeded: profile.first_seen is a write on the login
// path, made only for a user without a device when a grace period is set
// (a user's first device records it, off the login path).
func TestFirstSeenOnlyWhenNeeded(t *testing.T) {
	grace := defaultPasscodes()
	grace.Unenrolled = Unenrolled{Allow: true, Grace: 48 * time.Hour}
	noGrace := defaultPasscodes()
	noGrace.Unenrolled = Unenrolled{Allow: true}
	tests := []struct {
		name   string
		cfg    Passcodes
		device bool
		want   bool
	}{
		{"a device, with a grace period", grace, true, false},
		{"a device, no grace period", defaultPasscodes(), true, false},
		{"no device, denied", defaultPasscodes(), false, false},
		{"no device, allowed without end", noGrace, false, false},
		{"no device, a grace period", grace, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newSFWorld(t, tt.cfg, Policy{}, nil)
			password := "pw"
			if tt.device {
				password += "," + w.code(w.enroll("phone"), 0)
			}
			before, _ := w.store.Get(context.Background(), "users/alice/profile")
			w.login(ModeAuto, password, nil)
			e, err := w.store.Get(context.Background(), "users/alice/profile")
			if got := err == nil && e.ModRevision != before.ModRevision; got != tt.want {
				t.Fatalf("profile record written by the login: got %v (%s, %v), want %v", got, e.Value, err, tt.want)
			}
			if tt.want && !strings.Contains(string(e.Value), `"first_seen":"2026-11-23T10:00:00Z"`) {
				t.Errorf("got %s, want first_seen at the login", e.Value)
			}
		})
	}
}
