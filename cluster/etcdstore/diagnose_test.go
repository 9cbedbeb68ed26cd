package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/internal/leakcheck"
)

// TestMembers: every member of a running cluster tells its status and
// the same leader; a stopped one is listed with the reason it did not.
func TestMembers(t *testing.T) {
	leakcheck.Check(t)
	c := etcdtest.StartCluster(t, 3)
	ctx := t.Context()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := s.Members(ctx, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("got %d members, want 3", len(ms))
	}
	ids := map[uint64]bool{}
	for _, m := range ms {
		ids[m.ID] = true
		if m.Err != nil || m.Version == "" || m.Leader == 0 || m.Leader != ms[0].Leader || m.DBSize == 0 {
			t.Errorf("member %s: %+v", m.Name, m)
		}
	}
	if !ids[ms[0].Leader] {
		t.Errorf("leader %x is not a member", ms[0].Leader)
	}

	c.StopMember(2)
	ms, err = s.Members(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		stopped := slices.Contains(m.ClientURLs, c.Endpoints()[2])
		if stopped != (m.Err != nil) {
			t.Errorf("member %s (stopped: %v): error %v", m.Name, stopped, m.Err)
		}
		if stopped && m.Version != "" {
			t.Errorf("the stopped member has a version: %+v", m)
		}
	}
}

// TestReadClock reads a member's clock: this machine's, so the offset
// is zero within the reading's uncertainty, and a clock set a minute
// ahead shows as a member a minute behind.
func TestReadClock(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	s := srv.Open(t)
	ctx := t.Context()
	for _, skew := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			c, err := s.ReadClock(ctx, srv.Endpoints()[0], func() time.Time { return time.Now().Add(skew) }, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			off, within := c.Offset()
			if d := off + skew; d < -within || d > within {
				t.Errorf("got offset %v ± %v, want %v", off, within, -skew)
			}
		})
	}
	if _, err := s.ReadClock(ctx, "http://127.0.0.1:1", time.Now, time.Second); err == nil {
		t.Error("a closed port: got no error")
	}
}

func TestClockOffset(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		c              etcdstore.Clock
		off, uncertain time.Duration
	}{
		{"same second, no delay", etcdstore.Clock{Sent: t0.Add(500 * time.Millisecond), Received: t0.Add(500 * time.Millisecond), Date: t0}, 0, 500 * time.Millisecond},
		{"member 3 s ahead, 200 ms round trip", etcdstore.Clock{Sent: t0, Received: t0.Add(200 * time.Millisecond), Date: t0.Add(3 * time.Second)}, 3400 * time.Millisecond, 600 * time.Millisecond},
		{"member 20 s behind", etcdstore.Clock{Sent: t0, Received: t0, Date: t0.Add(-20 * time.Second)}, -19500 * time.Millisecond, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, u := tt.c.Offset()
			if off != tt.off || u != tt.uncertain {
				t.Errorf("got %v ± %v, want %v ± %v", off, u, tt.off, tt.uncertain)
			}
		})
	}
}

// TestCheckAccess: what CheckAccess finds with authentication off, with
// a user limited to the prefix, with root, and with a role that reaches
// beyond the prefix.
func TestCheckAccess(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	ctx := t.Context()
	open := func(t *testing.T, user, password string) *etcdstore.Store {
		t.Helper()
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: srv.Endpoints(), Username: user, Password: password, DialTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	check := func(t *testing.T, s *etcdstore.Store) etcdstore.Access {
		t.Helper()
		a, err := s.CheckAccess(ctx, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if a.ReadWrite != nil {
			t.Errorf("read/write under the prefix: %v", a.ReadWrite)
		}
		return a
	}

	t.Run("authentication off, a user name given", func(t *testing.T) {
		a := check(t, open(t, "twostepd", "any-pw"))
		if a.AuthEnabled || a.OutsideRefused || len(a.Roles) != 0 {
			t.Errorf("got %+v, want authentication off", a)
		}
	})

	etcdtest.EnableAuth(t, srv.Endpoints(), etcdstore.DefaultPrefix, "twostepd", "right-pw")
	t.Run("a user limited to the prefix", func(t *testing.T) {
		a := check(t, open(t, "twostepd", "right-pw"))
		if !a.AuthEnabled || !a.OutsideRefused || a.Outside != nil || fmt.Sprint(a.Roles) != "[twostep]" || len(a.Beyond) != 0 {
			t.Errorf("got %+v, want the twostep role and the outside read refused", a)
		}
	})
	t.Run("root", func(t *testing.T) {
		a := check(t, open(t, "root", etcdtest.RootPassword))
		if !a.AuthEnabled || a.OutsideRefused || fmt.Sprint(a.Roles) != "[root]" || fmt.Sprint(a.Beyond) != "[role root: every key, user and role]" {
			t.Errorf("got %+v, want root reading everything", a)
		}
	})
	t.Run("a role beyond the prefix", func(t *testing.T) {
		grantBeyond(t, srv.Endpoints())
		a := check(t, open(t, "twostepd", "right-pw"))
		if !a.OutsideRefused || len(a.Beyond) != 1 || a.Beyond[0] != `role twostep: readwrite ["/other/", "/other0")` {
			t.Errorf("got %+v, want the /other/ permission named", a)
		}
	})
	t.Run("nothing stays under the prefix", func(t *testing.T) {
		s := open(t, "twostepd", "right-pw")
		left, err := s.List(ctx, "doctor/")
		if err != nil || len(left) != 0 {
			t.Errorf("got %d keys (%v), want none", len(left), err)
		}
		if _, err := s.Get(ctx, "doctor/x"); !errors.Is(err, cluster.ErrNotFound) {
			t.Errorf("got %v", err)
		}
	})
}

// grantBeyond gives the twostep role a second range, outside the prefix,
// as root.
func grantBeyond(t *testing.T, endpoints []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Username: "root", Password: etcdtest.RootPassword,
		DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.RoleGrantPermission(ctx, "twostep", "/other/", "/other0", clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		t.Fatal(err)
	}
}
