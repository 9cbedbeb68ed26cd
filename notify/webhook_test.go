package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"twostep/notify"
	"twostep/notify/pushtest"
)

func hookSecret(t *testing.T, endpoint string) []byte {
	t.Helper()
	_, token, ok := strings.Cut(endpoint, "/hook/")
	if !ok {
		t.Fatalf("endpoint has no /hook/")
	}
	return []byte(token)
}

func TestWebhookDelivers(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
	}{
		{"signed", []byte("hook-key-0123456789")},
		{"unsigned", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rx := pushtest.NewWebhook(t, tc.secret)
			m := message(time.Now())
			if err := (&notify.Webhook{}).Notify(t.Context(), rx.Target(), m); err != nil {
				t.Fatalf("Notify: %v (receiver: %v)", err, rx.Rejected())
			}
			if got := receive(t, rx.Messages()); !reflect.DeepEqual(got, m) {
				t.Errorf("got %+v, want %+v", got, m)
			}
		})
	}
}

// TestWebhookRequest checks the request against the contract by hand.
func TestWebhookRequest(t *testing.T) {
	secret := []byte("s3cr3t-hmac-key")
	type seen struct {
		header http.Header
		body   []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), b}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	now := time.Unix(1_800_000_000, 0)
	wh := &notify.Webhook{UserAgent: "twostep-test/1", Now: func() time.Time { return now }}
	m := message(now)
	if err := wh.Notify(t.Context(), notify.Target{Kind: notify.KindWebhook, Endpoint: srv.URL + "/x", Secret: secret}, m); err != nil {
		t.Fatal(err)
	}
	s := <-got
	for name, want := range map[string]string{
		"Content-Type":        "application/json",
		"User-Agent":          "twostep-test/1",
		"X-Twostep-Timestamp": "1800000000",
	} {
		if v := s.header.Get(name); v != want {
			t.Errorf("%s: got %q, want %q", name, v, want)
		}
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("1800000000." + string(s.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); s.header.Get("X-Twostep-Signature") != want {
		t.Errorf("signature: got %q, want %q", s.header.Get("X-Twostep-Signature"), want)
	}
	for _, field := range []string{`"tx":"tx-Zm9vYmFy"`, `"user":"alice"`, `"number":true`, `"nas":"asa-1"`, `"answer":[`} {
		if !strings.Contains(string(s.body), field) {
			t.Errorf("body %s lacks %s", s.body, field)
		}
	}
}

func TestWebhookFailures(t *testing.T) {
	rx := pushtest.NewWebhook(t, []byte("right-key"))
	tg := rx.Target()
	token := hookSecret(t, tg.Endpoint)

	wrong := tg
	wrong.Secret = []byte("wrong-key")
	err := (&notify.Webhook{}).Notify(t.Context(), wrong, message(time.Now()))
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong secret: got %v, want a 401 error", err)
	}
	assertNoSecret(t, err, token, wrong.Secret)

	rx.Fail(http.StatusInternalServerError, 1)
	err = (&notify.Webhook{}).Notify(t.Context(), tg, message(time.Now()))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("failing receiver: got %v, want a 500 error", err)
	}
	assertNoSecret(t, err, token, tg.Secret)

	rx.Delay(time.Minute)
	err = (&notify.Webhook{Timeout: 100 * time.Millisecond}).Notify(t.Context(), tg, message(time.Now()))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow receiver: got %v, want DeadlineExceeded", err)
	}
	assertNoSecret(t, err, token, tg.Secret)
	rx.Delay(0)

	gone := tg
	gone.Endpoint = strings.Replace(tg.Endpoint, "/hook/", "/hook/x", 1)
	err = (&notify.Webhook{}).Notify(t.Context(), gone, message(time.Now()))
	if err == nil || errors.Is(err, notify.ErrGone) {
		t.Fatalf("404: got %v, want an error that is not ErrGone", err)
	}
	assertNoSecret(t, err, token)

	if err := (&notify.Webhook{}).Notify(t.Context(), tg, message(time.Now())); err != nil {
		t.Fatalf("after the failures: %v", err)
	}
	receive(t, rx.Messages())
}

func TestWebhookNoRedirect(t *testing.T) {
	rx := pushtest.NewWebhook(t, nil)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, rx.Target().Endpoint, http.StatusPermanentRedirect)
	}))
	defer redirect.Close()
	err := (&notify.Webhook{}).Notify(t.Context(), notify.Target{Kind: notify.KindWebhook, Endpoint: redirect.URL + "/hook"}, message(time.Now()))
	if err == nil || !strings.Contains(err.Error(), "308") {
		t.Fatalf("got %v, want a status 308 error", err)
	}
	select {
	case m := <-rx.Messages():
		t.Errorf("the redirect target got %+v", m)
	default:
	}
	if r := rx.Rejected(); len(r) != 0 {
		t.Errorf("the redirect target saw requests: %v", r)
	}
}

func TestWebhookRefusesPlainHTTP(t *testing.T) {
	tg := notify.Target{Kind: notify.KindWebhook, Endpoint: "http://ntfy.example.net/sekrit-topic", Secret: []byte("k")}
	err := (&notify.Webhook{}).Notify(t.Context(), tg, message(time.Now()))
	if err == nil {
		t.Fatal("got nil error, want one")
	}
	if !strings.Contains(err.Error(), "http://ntfy.example.net") {
		t.Errorf("error %q does not name the origin", err)
	}
	assertNoSecret(t, err, []byte("sekrit-topic"))
}
