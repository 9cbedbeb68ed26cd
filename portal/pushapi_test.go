package portal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/portal"
)

// countingAnswerer refuses every answer, lists no push, and counts both.
type countingAnswerer struct {
	lists   int
	answers atomic.Int64
}

func (c *countingAnswerer) AnswerPush(context.Context, string, string, cluster.PushAnswer) (*cluster.Push, error) {
	c.answers.Add(1)
	return nil, fmt.Errorf("%w: no such push", challenge.ErrAnswerRefused)
}

func (c *countingAnswerer) DevicePushes(context.Context, string, string, time.Time, []byte) (string, []*cluster.Push, error) {
	c.lists++
	return "phone", nil, nil
}

func TestPendingIsRateLimitedPerDevice(t *testing.T) {
	a := &countingAnswerer{}
	srv := httptest.NewServer(portal.NewPushAPI(a, portal.APIConfig{}, zerolog.Nop()))
	defer srv.Close()
	var retry string
	ask := func(device string) int {
		body := `{"user":"alice","device":"` + device + `","at":1,"signature":"AAAA"}`
		resp, err := http.Post(srv.URL+portal.PendingPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		retry = resp.Header.Get("Retry-After")
		return resp.StatusCode
	}
	for i := range 60 {
		if code := ask("d1"); code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i+1, code)
		}
	}
	if code := ask("d1"); code != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("61st request in a minute: %d, Retry-After %q, want 429 with Retry-After", code, retry)
	}
	if code := ask("d2"); code != http.StatusOK {
		t.Fatalf("another device: %d, want 200 (the limit is per device)", code)
	}
	if a.lists != 61 {
		t.Fatalf("%d lists reached the engine, want 61", a.lists)
	}
}

func TestAnswersAreRateLimitedPerAddress(t *testing.T) {
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	a := &countingAnswerer{}
	srv := httptest.NewServer(portal.NewPushAPI(a, portal.APIConfig{TrustedProxies: loopbackProxy,
		Metrics: portal.NewMetrics(reg), Now: clock.Now}, zerolog.New(&logs)))
	defer srv.Close()
	post := func(from string) (int, string) {
		t.Helper()
		body := `{"push":"made-up","device":"d1","decision":"approved","at":1,"signature":"AAAA"}`
		req, _ := http.NewRequest(http.MethodPost, srv.URL+portal.AnswerPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// A flood of made-up answers from one address.
	for i := range portal.DefaultAnswersPerMinute {
		if code, _ := post("198.51.100.1"); code != http.StatusForbidden {
			t.Fatalf("answer %d: got %d, want 403", i+1, code)
		}
	}
	for i := range 100 {
		if code, retry := post("198.51.100.1"); code != http.StatusTooManyRequests || retry != "60" {
			t.Fatalf("answer %d: got %d, Retry-After %q, want 429, 60", portal.DefaultAnswersPerMinute+i+1, code, retry)
		}
	}
	if code, _ := post("198.51.100.2"); code != http.StatusForbidden {
		t.Errorf("another address: got %d, want 403 (the limit is per address)", code)
	}
	if got, want := a.answers.Load(), int64(portal.DefaultAnswersPerMinute+1); got != want {
		t.Errorf("%d answers reached the engine, want %d", got, want)
	}
	lines := logs.String()
	for cause, want := range map[string]int{"answer_refused": 1, "answer_throttled": 1} {
		if n := strings.Count(lines, `"cause":"`+cause+`"`); n != want {
			t.Errorf("got %d %s lines in one second, want %d:\n%s", n, cause, want, lines)
		}
	}
	clock.Advance(time.Second)
	post("198.51.100.1")
	if lines := logs.String(); !strings.Contains(lines, `"cause":"answer_throttled","suppressed":99`) {
		t.Errorf("the next second's line does not count the 99 held back:\n%s", lines)
	}
	clock.Advance(time.Minute)
	if code, _ := post("198.51.100.1"); code != http.StatusForbidden {
		t.Errorf("a minute later: got %d, want 403", code)
	}
	if got := throttled(t, reg, "answer", "address"); got != 101 {
		t.Errorf("refusals counted: got %v, want 101", got)
	}
	// Every request counted once by its route and status.
	route := "POST " + portal.AnswerPath
	for code, want := range map[string]float64{"403": float64(portal.DefaultAnswersPerMinute) + 2, "429": 101} {
		if got := counter(t, reg, "twostep_portal_requests_total", map[string]string{"route": route, "code": code}); got != want {
			t.Errorf("twostep_portal_requests_total{route=%q,code=%q}: got %v, want %v", route, code, got, want)
		}
	}
}

// listAnswerer lists pushes for any device, under the device's name.
type listAnswerer struct {
	countingAnswerer
	name   string
	pushes []*cluster.Push
}

func (l *listAnswerer) DevicePushes(context.Context, string, string, time.Time, []byte) (string, []*cluster.Push, error) {
	return l.name, l.pushes, nil
}

func TestPendingShowsServiceAndPurpose(t *testing.T) {
	now := time.Now()
	a := &listAnswerer{name: "Renamed phone", pushes: []*cluster.Push{
		{ID: "login", User: "alice", Client: "asa-1", Service: "Staff VPN", NASID: "vpn-gw-1", Created: now, Expires: now.Add(time.Minute)},
		{ID: "old", User: "alice", Client: "asa-1", Created: now, Expires: now.Add(time.Minute)},
		{ID: "remove", User: "alice", Client: challenge.PortalService, NASID: "Remove the device “tablet”", Created: now, Expires: now.Add(time.Minute)},
	}}
	srv := httptest.NewServer(portal.NewPushAPI(a, portal.APIConfig{}, zerolog.Nop()))
	defer srv.Close()
	resp, err := http.Post(srv.URL+portal.PendingPath, "application/json",
		strings.NewReader(`{"user":"alice","device":"d1","at":1,"signature":"AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got portal.PendingResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if got.DeviceName != "Renamed phone" {
		t.Errorf("device_name %q, want the device's name now", got.DeviceName)
	}
	want := []struct{ service, nas, purpose string }{
		{"Staff VPN", "vpn-gw-1", ""}, // the client's display name, not asa-1
		{"asa-1", "", ""},             // a record from before display names
		{challenge.PortalService, "Remove the device “tablet”", "Remove the device “tablet”"}, // not a login
	}
	if len(got.Pushes) != len(want) {
		t.Fatalf("%d pushes, want %d", len(got.Pushes), len(want))
	}
	for i, w := range want {
		p := got.Pushes[i]
		if p.Service != w.service || p.NAS != w.nas || p.Purpose != w.purpose {
			t.Errorf("push %s: service %q nas %q purpose %q, want %q %q %q", p.ID, p.Service, p.NAS, p.Purpose, w.service, w.nas, w.purpose)
		}
	}
}

// unauditedAnswerer records every answer but not its audit event.
type unauditedAnswerer struct{ countingAnswerer }

func (*unauditedAnswerer) AnswerPush(context.Context, string, string, cluster.PushAnswer) (*cluster.Push, error) {
	return &cluster.Push{State: cluster.PushDenied}, fmt.Errorf("%w: cluster: audit push.deny: permission denied", challenge.ErrUnaudited)
}

// TestAnswerUnaudited: an answer recorded without its audit event is a
// success for the device, and an error in the log.
func TestAnswerUnaudited(t *testing.T) {
	var logs syncBuffer
	srv := httptest.NewServer(portal.NewPushAPI(&unauditedAnswerer{}, portal.APIConfig{}, zerolog.New(&logs)))
	defer srv.Close()
	body := `{"push":"p1","device":"d1","decision":"denied","at":1,"signature":"AAAA"}`
	resp, err := http.Post(srv.URL+portal.AnswerPath, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got portal.AnswerResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || got.State != "denied" || got.Error != "" {
		t.Errorf("got %d %+v, want 200 and the state", resp.StatusCode, got)
	}
	if log := logs.String(); !strings.Contains(log, `"level":"error"`) || !strings.Contains(log, "audit push.deny: permission denied") {
		t.Errorf("log:\n%s\nwant an error with the missing event", log)
	}
}
