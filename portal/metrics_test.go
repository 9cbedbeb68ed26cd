package portal_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"twostep/portal"
)

// counter is the value of the counter name whose labels include want's,
// summed over the series that match.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestPortalMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := newWorld(t, portal.Config{Metrics: portal.NewMetrics(reg)})
	b := w.browser()

	b.get("/signin")
	if code, _ := b.post("/signin", url.Values{"username": {"alice"}, "password": {"wrong"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", code)
	}
	b.signIn()
	if code, _ := b.post("/signin/passcode", url.Values{"code": {"000000"}}); code != http.StatusUnauthorized {
		t.Fatalf("wrong passcode: %d, want 401", code)
	}
	if code, body := b.post("/signin/passcode", url.Values{"code": {b.bypass()}}); code != http.StatusOK {
		t.Fatalf("bypass code: %d, want the settings\n%s", code, body)
	}
	if code, _ := b.get("/no/such/page?user=alice"); code != http.StatusNotFound {
		t.Fatalf("unknown page: %d, want 404", code)
	}

	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "GET /signin", "code": "200"}, 2},
		{map[string]string{"route": "POST /signin", "code": "401"}, 1},
		{map[string]string{"route": "POST /signin", "code": "303"}, 1},
		{map[string]string{"route": "POST /signin/passcode", "code": "401"}, 1},
		{map[string]string{"route": "POST /signin/passcode", "code": "303"}, 1},
		{map[string]string{"route": "unmatched", "code": "404"}, 1},
	} {
		if got := counter(t, reg, "twostep_portal_requests_total", c.labels); got != c.want {
			t.Errorf("twostep_portal_requests_total%v: got %v, want %v", c.labels, got, c.want)
		}
	}
	// Routes are the handlers' patterns, never the path asked for.
	if got := counter(t, reg, "twostep_portal_requests_total", map[string]string{"route": "/no/such/page?user=alice"}); got != 0 {
		t.Error("a raw path became a route label")
	}
	for result, want := range map[string]float64{"password_refused": 1, "factor_refused": 1, "signed_in": 1, "locked_out": 0, "throttled": 0, "error": 0} {
		if got := counter(t, reg, "twostep_portal_sign_ins_total", map[string]string{"result": result}); got != want {
			t.Errorf("twostep_portal_sign_ins_total{result=%q}: got %v, want %v", result, got, want)
		}
	}
}
