package directory

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"twostep/directory/ldaptest"
	"twostep/internal/leakcheck"
)

// series returns every series of name in reg as "labels value" lines,
// labels in the registry's order: {k="v",…} 3.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("%s=%s,", l.GetName(), l.GetValue())
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestLDAPMetrics(t *testing.T) {
	leakcheck.Check(t)
	srv := ldaptest.Start(t)
	reg := prometheus.NewRegistry()
	dead := deadURL(t)
	l := newTestLDAP(t, []string{dead, srv.URL()}, nil, WithLDAPMetrics(NewMetrics(reg)))
	ctx := context.Background()
	for _, login := range []struct{ user, password string }{
		{"alice", ldaptest.Password("alice")},
		{"alice", "wrong"},
		{"mallory", "whatever"},
	} {
		if _, err := l.Authenticate(ctx, login.user, login.password); err != nil {
			t.Fatalf("%s: %v", login.user, err)
		}
	}
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"operation=authenticate,result=ok,":       1,
		"operation=authenticate,result=rejected,": 2, // a wrong password, an unknown user
		"operation=search,result=ok,":             3,
		"operation=groups,result=ok,":             2, // alice, twice
		"operation=bind,result=ok,":               1,
		"operation=bind,result=rejected,":         1,
		"operation=ping,result=ok,":               1,
	}
	got := series(t, reg, "twostep_directory_requests_total")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("twostep_directory_requests_total{%s}: got %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("twostep_directory_requests_total: got %v, want %v", got, want)
	}
	if n := series(t, reg, "twostep_directory_request_duration_seconds")["operation=authenticate,"]; n != 3 {
		t.Errorf("authenticate latencies observed: got %v, want 3", n)
	}
	up := series(t, reg, "twostep_directory_server_up")
	if up["server="+dead+","] != 0 || up["server="+srv.URL()+","] != 1 || len(up) != 2 {
		t.Errorf("twostep_directory_server_up: got %v, want %s down (0) and %s up (1)", up, dead, srv.URL())
	}

	// A frozen server: a login waits on it with a search connection in
	// use, the probe times out, and the server shows down; thawed, up.
	srv.Freeze()
	thawed := false
	defer func() {
		if !thawed {
			srv.Thaw()
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { l.Authenticate(ctx, "bob", ldaptest.Password("bob")) })
	for deadline := time.Now().Add(10 * time.Second); series(t, reg, "twostep_directory_pool_connections_in_use")["pool=search,"] != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("no search connection in use while a login waits: %v", series(t, reg, "twostep_directory_pool_connections_in_use"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	if err := l.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded against a frozen slapd")
	}
	if got := series(t, reg, "twostep_directory_requests_total")["operation=ping,result=timeout,"]; got != 1 {
		t.Errorf("ping timeouts: got %v, want 1", got)
	}
	if up := series(t, reg, "twostep_directory_server_up"); up["server="+srv.URL()+","] != 0 {
		t.Errorf("twostep_directory_server_up of the frozen server: got %v, want 0", up)
	}
	srv.Thaw()
	thawed = true
	if err := l.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if up := series(t, reg, "twostep_directory_server_up"); up["server="+srv.URL()+","] != 1 {
		t.Errorf("twostep_directory_server_up after the thaw: got %v, want 1", up)
	}
	if got := series(t, reg, "twostep_directory_pool_connections_in_use"); got["pool=search,"] != 0 || got["pool=bind,"] != 0 {
		t.Errorf("connections in use once idle: got %v, want 0 in each pool", got)
	}
}

func TestFileMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f, err := OpenFile(writeUsers(t, fmt.Sprintf("users:\n  a:\n    password: %q\n", ssha("pw"))), WithFileMetrics(NewMetrics(reg)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.Authenticate(ctx, "a", "pw")
	f.Authenticate(ctx, "a", "nope")
	f.Authenticate(ctx, "b", "pw")
	got := series(t, reg, "twostep_directory_requests_total")
	if got["operation=authenticate,result=ok,"] != 1 || got["operation=authenticate,result=rejected,"] != 2 || len(got) != 2 {
		t.Errorf("twostep_directory_requests_total: got %v, want authenticate ok 1, rejected 2", got)
	}
	if n := testutil.CollectAndCount(reg, "twostep_directory_pool_connections_in_use", "twostep_directory_server_up"); n != 0 {
		t.Errorf("LDAP series of a users file: got %d, want none", n)
	}
}
