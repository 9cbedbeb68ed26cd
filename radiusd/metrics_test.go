package radiusd

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"twostep/challenge"
)

func TestMetricsOnGivenRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	h := newHarness(t, nil, func(o *Options) { o.Metrics = m })
	h.metrics = m
	req := request(t, testSecret, "alice", testPassword, nil)
	c := h.dial()
	h.send(c, req)
	h.answer(c, req, testSecret)
	h.send(c, req)
	h.answer(c, req, testSecret)
	h.expectDrop(req[:19], causeShort)

	for _, name := range []string{
		"twostep_radius_requests_total",
		"twostep_radius_request_duration_seconds",
		"twostep_radius_duplicates_total",
		"twostep_radius_packets_dropped_total",
		"twostep_radius_requests_in_flight",
	} {
		t.Run(name, func(t *testing.T) {
			n, err := testutil.GatherAndCount(reg, name)
			if err != nil || n == 0 {
				t.Errorf("got %d series, error %v; want some", n, err)
			}
		})
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("nas1", "accept", "ok")); got != 1 {
		t.Errorf("got %v accepts, want 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestReasonLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"", "unspecified"},
		{"bad_password", "bad_password"},
		{"alice's password", "other"},
		{"UPPER", "other"},
		{"a_very_long_reason_that_goes_on_and_on", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := reasonLabel(challenge.Reason(tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
