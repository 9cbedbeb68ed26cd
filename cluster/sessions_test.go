package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"twostep/cluster"
)

func TestSessions(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	ss := cluster.NewSessions(m, a.Keyring())
	now := time.Now()
	newSession := func(t *testing.T) (*cluster.Session, string) {
		t.Helper()
		s := &cluster.Session{User: "alice", Stage: cluster.StagePassword, Created: now, Expires: now.Add(time.Hour), Idle: 15 * time.Minute, Attempts: 3}
		tok, err := ss.Create(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return s, tok
	}

	t.Run("create, read back, update once", func(t *testing.T) {
		s, tok := newSession(t)
		if len(tok) != 43 || len(s.CSRF) != 43 {
			t.Fatalf("token %d chars, csrf %d chars, want 43 each", len(tok), len(s.CSRF))
		}
		got, err := ss.Get(ctx, tok)
		if err != nil || got.User != "alice" || got.Stage != cluster.StagePassword || got.CSRF != s.CSRF {
			t.Fatalf("Get: %+v, %v", got, err)
		}
		got.Attempts--
		if err := ss.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		// The first copy is stale now: its write must lose.
		s.Attempts = 10
		if err := ss.Update(ctx, s); !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("stale update: %v, want ErrConflict", err)
		}
	})
	t.Run("rotate invalidates the old token", func(t *testing.T) {
		s, tok := newSession(t)
		csrf := s.CSRF
		s.Stage = cluster.StageSignedIn
		tok2, err := ss.Rotate(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Get(ctx, tok); !errors.Is(err, cluster.ErrSessionGone) {
			t.Fatalf("old token: %v, want ErrSessionGone", err)
		}
		got, err := ss.Get(ctx, tok2)
		if err != nil || got.Stage != cluster.StageSignedIn || got.CSRF == csrf {
			t.Fatalf("new token: %+v, %v (the CSRF token must change)", got, err)
		}
		if err := ss.Delete(ctx, got); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Get(ctx, tok2); !errors.Is(err, cluster.ErrSessionGone) {
			t.Fatalf("after sign-out: %v, want ErrSessionGone", err)
		}
	})
	t.Run("a record raised in etcd does not sign in", func(t *testing.T) {
		_, tok := newSession(t)
		e, err := m.Get(ctx, cluster.SessionKey(tok))
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		_ = json.Unmarshal(e.Value, &raw)
		raw["stage"] = string(cluster.StageSignedIn)
		b, _ := json.Marshal(raw)
		if _, err := m.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(e.Key, b)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.Get(ctx, tok); !errors.Is(err, cluster.ErrTampered) || errors.Is(err, cluster.ErrSessionGone) {
			t.Fatalf("forged stage: %v, want ErrTampered", err)
		}
	})
	t.Run("unknown and malformed tokens", func(t *testing.T) {
		for _, tok := range []string{"", "short", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			if _, err := ss.Get(ctx, tok); !errors.Is(err, cluster.ErrSessionGone) {
				t.Errorf("Get(%q): %v, want ErrSessionGone", tok, err)
			}
		}
	})
	t.Run("validity", func(t *testing.T) {
		s := cluster.Session{Created: now, Seen: now, Expires: now.Add(time.Hour), Idle: 10 * time.Minute}
		for _, c := range []struct {
			at   time.Time
			want bool
		}{{now.Add(time.Minute), true}, {now.Add(11 * time.Minute), false}, {now.Add(2 * time.Hour), false}} {
			if got := s.Valid(c.at); got != c.want {
				t.Errorf("Valid(+%v) = %v, want %v", c.at.Sub(now), got, c.want)
			}
		}
	})
}

func TestOpenPushesAndDefault(t *testing.T) {
	ctx := context.Background()
	a, m := testAccounts(t)
	ps := cluster.NewPushes(m, a.Keyring())
	defer ps.Close()
	now := time.Now()
	limit := cluster.PushLimit{Count: 10, Window: 5 * time.Minute}
	start := func(device string, ttl time.Duration) *cluster.Push {
		t.Helper()
		acct, err := a.Load(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		p := &cluster.Push{User: "carol", Device: device, DeviceName: device, Client: "vpn", NASAddr: "192.0.2.1", Created: now, Expires: now.Add(ttl)}
		if err := ps.Start(ctx, acct, p, cluster.PushStart{Limit: limit}, now); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := start("d1", time.Minute)
	start("d2", time.Minute)
	answered := start("d1", time.Minute)
	if _, err := ps.Record(ctx, answered.ID, cluster.PushAnswer{Decision: cluster.PushDenied, At: now}, now); err != nil {
		t.Fatal(err)
	}
	start("d1", time.Second) // expires before the check below
	acct, err := a.Load(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	open, err := ps.Open(ctx, acct, "d1", now.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].ID != p1.ID {
		t.Fatalf("open pushes of d1: %d, want only the first one", len(open))
	}

	// The default push device must be a push device of the user's.
	if err := a.SetDefaultPush(ctx, "carol", "nope"); !errors.Is(err, cluster.ErrNoDevice) {
		t.Fatalf("default to an unknown device: %v, want ErrNoDevice", err)
	}
	d, err := cluster.NewPushDevice("tablet", cluster.PushDevice{PublicKey: []byte{4}, Kind: "webhook", Endpoint: "https://x.example/"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if d, err = a.AddDevice(ctx, "carol", d); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDefaultPush(ctx, "carol", d.ID); err != nil {
		t.Fatal(err)
	}
	if acct, err = a.Load(ctx, "carol"); err != nil || acct.Profile.DefaultPush != d.ID || acct.Profile.FirstSeen.IsZero() {
		t.Fatalf("profile after SetDefaultPush: %+v, %v", acct.Profile, err)
	}
}
