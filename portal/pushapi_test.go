package portal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/portal"
)

// countingAnswerer lists no push and counts the lists asked for.
type countingAnswerer struct{ lists int }

func (c *countingAnswerer) AnswerPush(context.Context, challenge.PushReply) (*cluster.Push, error) {
	return nil, challenge.ErrAnswerRefused
}

func (c *countingAnswerer) DevicePushes(context.Context, string, string, time.Time, []byte) ([]*cluster.Push, error) {
	c.lists++
	return nil, nil
}

func TestPendingIsRateLimitedPerDevice(t *testing.T) {
	a := &countingAnswerer{}
	srv := httptest.NewServer(portal.NewPushAPI(a, zerolog.Nop()))
	defer srv.Close()
	ask := func(device string) int {
		body := `{"user":"alice","device":"` + device + `","at":1,"signature":"AAAA"}`
		resp, err := http.Post(srv.URL+portal.PendingPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 60 {
		if code := ask("d1"); code != http.StatusOK {
			t.Fatalf("request %d: %d, want 200", i+1, code)
		}
	}
	if code := ask("d1"); code != http.StatusTooManyRequests {
		t.Fatalf("61st request in a minute: %d, want 429", code)
	}
	if code := ask("d2"); code != http.StatusOK {
		t.Fatalf("another device: %d, want 200 (the limit is per device)", code)
	}
	if a.lists != 61 {
		t.Fatalf("%d lists reached the engine, want 61", a.lists)
	}
}
