package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"twostep/notify"
	"twostep/notify/pushtest"
)

func newWebPush(t *testing.T, svc *pushtest.Service) *notify.WebPush {
	t.Helper()
	k, err := notify.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	return &notify.WebPush{
		VAPID:  notify.VAPID{Private: k, Subject: "mailto:ops@example.org"},
		Client: svc.Client(),
	}
}

func message(now time.Time) notify.Message {
	return notify.Message{
		Tx:      "tx-Zm9vYmFy",
		User:    "alice",
		Device:  "phone",
		Service: "vpn",
		NAS:     "asa-1",
		From:    "198.51.100.7",
		Created: now.UTC().Truncate(time.Second),
		Expires: now.UTC().Truncate(time.Second).Add(60 * time.Second),
		Number:  true,
		Answer:  []string{"https://a.example.org/push", "https://b.example.org/push"},
	}
}

func receive(t *testing.T, c <-chan notify.Message) notify.Message {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message delivered")
		return notify.Message{}
	}
}

// endpointSecret is the part of an endpoint URL no error may show.
func endpointSecret(t *testing.T, endpoint string) []byte {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimPrefix(u.Path, "/push/"))
}

func TestWebPushDelivers(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	wp.Topic = "login"
	tg := svc.Subscribe()
	now := time.Now()
	m := message(now)
	if err := wp.Notify(t.Context(), tg, m); err != nil {
		t.Fatalf("Notify: %v (push service: %v)", err, svc.Rejected())
	}
	got := receive(t, svc.Messages())
	if !reflect.DeepEqual(got, m) {
		t.Errorf("got %+v, want %+v", got, m)
	}
	p := svc.Pushes()[0]
	if p.TTL < 58 || p.TTL > 60 {
		t.Errorf("TTL: got %d, want about 60", p.TTL)
	}
	if p.Urgency != "high" {
		t.Errorf("Urgency: got %q, want high", p.Urgency)
	}
	if p.Topic != "login" {
		t.Errorf("Topic: got %q, want login", p.Topic)
	}
	if want, _ := notify.EncodeVAPIDPublicKey(&wp.VAPID.Private.PublicKey); p.Key != want {
		t.Errorf("k: got %s, want %s", p.Key, want)
	}
	if p.Subject != "mailto:ops@example.org" {
		t.Errorf("sub: got %q", p.Subject)
	}
	if d := time.Until(p.Expires); d <= 0 || d > 24*time.Hour {
		t.Errorf("VAPID token expires in %v, want within 24h", d)
	}
}

// TestWebPushManyDevices sends to several subscriptions at once: each gets
// its own message, decrypted with its own key.
func TestWebPushManyDevices(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		tg := svc.Subscribe()
		m := message(time.Now())
		m.Device = string(rune('a' + i))
		go func() { errs <- wp.Notify(t.Context(), tg, m) }()
	}
	seen := map[string]bool{}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	for range n {
		seen[receive(t, svc.Messages()).Device] = true
	}
	if len(seen) != n {
		t.Errorf("got messages for %d devices, want %d", len(seen), n)
	}
}

func TestWebPushTTL(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	now := time.Now()
	wp.Now = func() time.Time { return now }
	tests := []struct {
		name    string
		expires time.Time
		want    int
	}{
		{"future", now.Add(90*time.Second + 500*time.Millisecond), 90},
		{"now", now, 0},
		{"past", now.Add(-time.Minute), 0},
		{"zero", time.Time{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := message(now)
			m.Expires = tc.expires
			if err := wp.Notify(t.Context(), svc.Subscribe(), m); err != nil {
				t.Fatal(err)
			}
			receive(t, svc.Messages())
			p := svc.Pushes()
			if got := p[len(p)-1].TTL; got != tc.want {
				t.Errorf("TTL: got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWebPushGone(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	tg := svc.Subscribe()
	svc.Gone(tg)
	err := wp.Notify(t.Context(), tg, message(time.Now()))
	if !errors.Is(err, notify.ErrGone) {
		t.Fatalf("got %v, want ErrGone", err)
	}
	assertNoSecret(t, err, endpointSecret(t, tg.Endpoint), tg.Auth)

	// A subscription the service never heard of is gone too (404).
	unknown := svc.Subscribe()
	unknown.Endpoint = svc.URL() + "/push/never-issued"
	if err := wp.Notify(t.Context(), unknown, message(time.Now())); !errors.Is(err, notify.ErrGone) {
		t.Fatalf("unknown subscription: got %v, want ErrGone", err)
	}
}

func TestWebPushFailures(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	tg := svc.Subscribe()
	secret := endpointSecret(t, tg.Endpoint)

	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests, http.StatusUnauthorized} {
		svc.Fail(status, 1)
		err := wp.Notify(t.Context(), tg, message(time.Now()))
		if err == nil || errors.Is(err, notify.ErrGone) {
			t.Fatalf("status %d: got %v, want an error that is not ErrGone", status, err)
		}
		if !strings.Contains(err.Error(), svc.URL()) {
			t.Errorf("status %d: error %q does not name the origin %s", status, err, svc.URL())
		}
		assertNoSecret(t, err, secret, tg.Auth, tg.P256DH)
	}
	// The service recovers: the next push goes through.
	if err := wp.Notify(t.Context(), tg, message(time.Now())); err != nil {
		t.Fatal(err)
	}
	receive(t, svc.Messages())
}

func TestWebPushTimeout(t *testing.T) {
	svc := pushtest.NewService(t)
	wp := newWebPush(t, svc)
	wp.Timeout = 100 * time.Millisecond
	svc.Delay(time.Minute)
	tg := svc.Subscribe()
	start := time.Now()
	err := wp.Notify(t.Context(), tg, message(time.Now()))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Notify took %v with a 100ms timeout", d)
	}
	assertNoSecret(t, err, endpointSecret(t, tg.Endpoint))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	wp.Timeout = 0
	if err := wp.Notify(ctx, tg, message(time.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: got %v, want Canceled", err)
	}
}

// TestWebPushRefuses covers what Notify refuses before it sends anything.
func TestWebPushRefuses(t *testing.T) {
	svc := pushtest.NewService(t)
	good := svc.Subscribe()
	tests := []struct {
		name  string
		edit  func(*notify.WebPush, *notify.Target, *notify.Message)
		avoid []byte // must not appear in the error
	}{
		{"http to a remote host", func(_ *notify.WebPush, tg *notify.Target, _ *notify.Message) {
			tg.Endpoint = "http://push.example.net/wpush/v2/sekrit-token"
		}, []byte("sekrit-token")},
		{"not a URL", func(_ *notify.WebPush, tg *notify.Target, _ *notify.Message) {
			tg.Endpoint = "https://push.example.net/%zzsekrit"
		}, []byte("sekrit")},
		{"bad subscription key", func(_ *notify.WebPush, tg *notify.Target, _ *notify.Message) {
			tg.P256DH = tg.P256DH[:33]
		}, nil},
		{"short auth", func(_ *notify.WebPush, tg *notify.Target, _ *notify.Message) {
			tg.Auth = tg.Auth[:8]
		}, nil},
		{"no VAPID key", func(w *notify.WebPush, _ *notify.Target, _ *notify.Message) {
			w.VAPID.Private = nil
		}, nil},
		{"bad topic", func(w *notify.WebPush, _ *notify.Target, _ *notify.Message) {
			w.Topic = "no spaces allowed"
		}, nil},
		{"message too large", func(_ *notify.WebPush, _ *notify.Target, m *notify.Message) {
			m.NAS = strings.Repeat("n", notify.MaxPayload)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wp := newWebPush(t, svc)
			tg := good
			tg.P256DH = append([]byte(nil), good.P256DH...)
			tg.Auth = append([]byte(nil), good.Auth...)
			m := message(time.Now())
			tc.edit(wp, &tg, &m)
			err := wp.Notify(t.Context(), tg, m)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			assertNoSecret(t, err, tc.avoid, good.Auth)
		})
	}
	if n := len(svc.Pushes()) + len(svc.Rejected()); n != 0 {
		t.Errorf("the push service saw %d requests, want 0", n)
	}
}

// TestWebPushNoRedirect: a push service that redirects gets an error, and
// the message does not follow the redirect.
func TestWebPushNoRedirect(t *testing.T) {
	svc := pushtest.NewService(t)
	tg := svc.Subscribe()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tg.Endpoint, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	wp := newWebPush(t, svc)
	via := tg
	via.Endpoint = redirect.URL + "/push/elsewhere"
	err := wp.Notify(t.Context(), via, message(time.Now()))
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Fatalf("got %v, want a status 307 error", err)
	}
	if n := len(svc.Pushes()) + len(svc.Rejected()); n != 0 {
		t.Errorf("the push service saw %d requests, want 0", n)
	}
}
