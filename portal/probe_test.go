package portal_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"twostep/portal"
)

// TestProbeAPI: the approval API, on push.listen or on the portal's
// origin, passes the probe without an answer being looked at; another
// server, or a certificate the client does not trust, fails it.
func TestProbeAPI(t *testing.T) {
	a := &countingAnswerer{}
	api := httptest.NewServer(portal.NewPushAPI(a, portal.APIConfig{}, zerolog.Nop()))
	defer api.Close()
	w := newWorld(t, portal.Config{})
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	ctx := t.Context()
	if err := portal.ProbeAPI(ctx, api.Client(), api.URL); err != nil {
		t.Errorf("push.listen: %v", err)
	}
	if err := portal.ProbeAPI(ctx, w.nodes[0].Client(), w.nodes[0].URL+"/"); err != nil {
		t.Errorf("the portal: %v", err)
	}
	if a.answers.Load() != 0 || a.lists != 0 {
		t.Errorf("the probe reached the answerer: %d answers, %d lists", a.answers.Load(), a.lists)
	}
	if err := portal.ProbeAPI(ctx, other.Client(), other.URL); err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("another server: got %v, want its 404 named", err)
	}
	if err := portal.ProbeAPI(ctx, http.DefaultClient, w.nodes[0].URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: got %v, want a certificate error", err)
	}
}
