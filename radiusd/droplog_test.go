package radiusd

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDropLogRate(t *testing.T) {
	var d dropLog
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		cause string
		at    time.Duration
		want  bool
	}{
		{"a", 0, true},
		{"a", 500 * time.Millisecond, false},
		{"b", 500 * time.Millisecond, true}, // per cause
		{"a", time.Second, true},
		{"a", time.Second + time.Millisecond, false},
	}
	for _, st := range steps {
		if got := d.allow(st.cause, t0.Add(st.at)); got != st.want {
			t.Errorf("%s at %v: got %v, want %v", st.cause, st.at, got, st.want)
		}
	}
}

func TestDropLogLevels(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, nil, func(o *Options) { o.Now = clock.Now })
	src := netip.MustParseAddrPort("192.0.2.1:1645")
	for range 100 {
		h.srv.drop(causeUnknownClient, src, "")
	}
	h.srv.drop(causeBadMA, src, "nas1")
	logs := h.logs.String()
	if n := strings.Count(logs, `"cause":"unknown_client"`); n != 1 {
		t.Errorf("got %d unknown_client lines for 100 drops in one second, want 1", n)
	}
	if !strings.Contains(logs, `{"level":"debug","cause":"unknown_client"`) {
		t.Errorf("unknown client not logged at debug: %s", logs)
	}
	if !strings.Contains(logs, `{"level":"warn","cause":"bad_message_authenticator"`) {
		t.Errorf("bad Message-Authenticator not logged at warn: %s", logs)
	}
}
