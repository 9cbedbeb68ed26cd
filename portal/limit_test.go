package portal_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"twostep/internal/fakeclock"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/portal"
)

// fakeClock is the shared fakeclock.Clock.
type fakeClock = fakeclock.Clock

// loopbackProxy makes the tests' loopback client a trusted proxy, so that
// X-Forwarded-For says which address a request comes from.
var loopbackProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// loopbackProxyNet is loopbackProxy as the portal's configuration writes
// it.
var loopbackProxyNet = []string{"127.0.0.0/8"}

// attempt posts a password for user from addr and returns the status and
// Retry-After (without following the redirect of a right password: 303).
func (w *world) attempt(t *testing.T, addr, user, password string) (int, string) {
	t.Helper()
	form := url.Values{"username": {user}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, w.nodes[0].URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	c := &http.Client{Transport: w.nodes[0].Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// throttled is the value of twostep_portal_throttled_total for endpoint
// and limit in reg.
func throttled(t *testing.T, reg *prometheus.Registry, endpoint, limit string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "twostep_portal_throttled_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["endpoint"] == endpoint && labels["limit"] == limit {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// signInStep is one sign-in attempt and its expected status.
type signInStep struct {
	advance        time.Duration // the clock moves this much first
	addr, user, pw string
	want           int
}

// times makes n steps with f(i).
func times(n int, f func(i int) signInStep) []signInStep {
	var s []signInStep
	for i := range n {
		s = append(s, f(i))
	}
	return s
}

func TestSignInLimits(t *testing.T) {
	wrongFrom := func(addr, user string, want int) signInStep {
		return signInStep{addr: addr, user: user, pw: "wrong", want: want}
	}
	// 10 get their answer, later ones 429.
	tenThen429 := func(i int) int {
		if i < 10 {
			return http.StatusUnauthorized
		}
		return http.StatusTooManyRequests
	}
	tests := []struct {
		name  string
		steps []signInStep
		// the refusals counted, by limit
		throttled map[string]float64
	}{
		{
			name: "one user from many addresses",
			steps: times(12, func(i int) signInStep {
				return wrongFrom(fmt.Sprintf("198.51.100.%d", i+1), "alice", tenThen429(i))
			}),
			throttled: map[string]float64{"user": 2},
		},
		{
			name: "one user's names with case, realm and domain",
			steps: times(12, func(i int) signInStep {
				name := []string{"alice", "ALICE", "alice@example.edu", `EXAMPLE\alice`}[i%4]
				return wrongFrom(fmt.Sprintf("198.51.100.%d", i+1), name, tenThen429(i))
			}),
			throttled: map[string]float64{"user": 2},
		},
		{
			name: "a guesser behind a NAT shuts out only their own user",
			steps: append(times(12, func(i int) signInStep { return wrongFrom("203.0.113.5", "alice", tenThen429(i)) }),
				signInStep{addr: "203.0.113.5", user: "bob", pw: "pw", want: http.StatusSeeOther},
				wrongFrom("203.0.113.5", "carol", http.StatusUnauthorized)),
			throttled: map[string]float64{"address_user": 2},
		},
		{
			name: "the address's ceiling",
			steps: append(times(100, func(i int) signInStep {
				return wrongFrom("203.0.113.7", fmt.Sprintf("user%d", i), http.StatusUnauthorized)
			}),
				wrongFrom("203.0.113.7", "bob", http.StatusTooManyRequests),
				wrongFrom("203.0.113.8", "bob", http.StatusUnauthorized)),
			throttled: map[string]float64{"address": 1},
		},
		{
			name: "right passwords do not spend the user's budget",
			steps: times(12, func(i int) signInStep {
				return signInStep{addr: fmt.Sprintf("198.51.100.%d", i+1), user: "alice", pw: "pw", want: http.StatusSeeOther}
			}),
		},
		{
			name: "the budgets free after a minute",
			steps: append(times(11, func(i int) signInStep { return wrongFrom("203.0.113.9", "alice", tenThen429(i)) }),
				signInStep{advance: time.Minute, addr: "203.0.113.9", user: "alice", pw: "wrong", want: http.StatusUnauthorized}),
			throttled: map[string]float64{"address_user": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			reg := prometheus.NewRegistry()
			w := newWorld(t, portal.Config{TrustedProxies: loopbackProxyNet, Metrics: portal.NewMetrics(reg), Now: clock.Now})
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				code, retry := w.attempt(t, st.addr, st.user, st.pw)
				if code != st.want {
					t.Fatalf("step %d (%s from %s): got %d, want %d", i+1, st.user, st.addr, code, st.want)
				}
				if code != http.StatusTooManyRequests {
					continue
				}
				if secs, err := strconv.Atoi(retry); err != nil || secs < 1 || secs > 60 {
					t.Errorf("step %d: got Retry-After %q, want 1 to 60 seconds", i+1, retry)
				}
			}
			for _, limit := range []string{"user", "address_user", "address", "capacity"} {
				if got, want := throttled(t, reg, "signin", limit), tt.throttled[limit]; got != want {
					t.Errorf("refusals by the %s limit: got %v, want %v", limit, got, want)
				}
			}
		})
	}
}

func TestSignInThrottleLog(t *testing.T) {
	clock := newFakeClock()
	w := newWorld(t, portal.Config{TrustedProxies: loopbackProxyNet, Now: clock.Now})
	const password = "hunter2-not-logged"
	for range 30 {
		w.attempt(t, "203.0.113.5", "alice", password)
	}
	logs := w.logs.String()
	if n := strings.Count(logs, `"cause":"signin_throttled"`); n != 1 {
		t.Errorf("got %d signin_throttled lines for 20 refusals in one second, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, `"cause":"signin_rejected"`); n != 1 {
		t.Errorf("got %d signin_rejected lines for 10 wrong passwords in one second, want 1:\n%s", n, logs)
	}
	for _, want := range []string{`"limit":"address_user"`, `"user":"alice"`, `"remote":"203.0.113.5"`, `"retry_after":60`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the throttle line lacks %s:\n%s", want, logs)
		}
	}
	clock.Advance(time.Second)
	if code, retry := w.attempt(t, "203.0.113.5", "alice", password); code != http.StatusTooManyRequests || retry != "59" {
		t.Fatalf("a second later: got %d, Retry-After %q, want 429, 59", code, retry)
	}
	logs = w.logs.String()
	if n := strings.Count(logs, `"cause":"signin_throttled"`); n != 2 {
		t.Errorf("got %d signin_throttled lines a second later, want 2:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"cause":"signin_throttled","suppressed":19`) {
		t.Errorf("the second line does not count the 19 held back:\n%s", logs)
	}
	if strings.Contains(logs, password) {
		t.Errorf("a password in the log:\n%s", logs)
	}
}

func newFakeClock() *fakeClock { return fakeclock.New(time.Now()) }
