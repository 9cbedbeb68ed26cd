package radiusd

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

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
	if !strings.Contains(logs, `{"level":"debug","cause":"unknown_client","suppressed":0`) {
		t.Errorf("unknown client not logged at debug: %s", logs)
	}
	clock.Advance(time.Second)
	h.srv.drop(causeUnknownClient, src, "")
	if logs := h.logs.String(); !strings.Contains(logs, `"cause":"unknown_client","suppressed":99`) {
		t.Errorf("the next second's line does not count the 99 held back: %s", logs)
	}
	if !strings.Contains(logs, `{"level":"warn","cause":"bad_message_authenticator"`) {
		t.Errorf("bad Message-Authenticator not logged at warn: %s", logs)
	}
}
