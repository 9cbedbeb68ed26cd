package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"twostep/notify"
	"twostep/notify/pushtest"
)

type recorder struct {
	got []notify.Target
	err error
}

func (r *recorder) Notify(_ context.Context, t notify.Target, _ notify.Message) error {
	r.got = append(r.got, t)
	return r.err
}

func TestDispatch(t *testing.T) {
	boom := errors.New("boom")
	wp, wh := &recorder{}, &recorder{err: boom}
	d := notify.Dispatch{WebPush: wp, Webhook: wh}
	m := message(time.Now())
	if err := d.Notify(t.Context(), notify.Target{Kind: notify.KindWebPush, Endpoint: "a"}, m); err != nil {
		t.Errorf("webpush: %v", err)
	}
	if err := d.Notify(t.Context(), notify.Target{Kind: notify.KindWebhook, Endpoint: "b"}, m); !errors.Is(err, boom) {
		t.Errorf("webhook: got %v, want the webhook notifier's error", err)
	}
	if len(wp.got) != 1 || wp.got[0].Endpoint != "a" || len(wh.got) != 1 || wh.got[0].Endpoint != "b" {
		t.Errorf("routed webpush %v, webhook %v", wp.got, wh.got)
	}
	for _, kind := range []string{"", "sms", "WebPush"} {
		if err := d.Notify(t.Context(), notify.Target{Kind: kind}, m); err == nil {
			t.Errorf("kind %q: got nil error, want one", kind)
		}
	}
	if err := (notify.Dispatch{WebPush: wp}).Notify(t.Context(), notify.Target{Kind: notify.KindWebhook}, m); err == nil {
		t.Error("no webhook notifier: got nil error, want one")
	}
}

// TestDispatchEndToEnd routes to the real notifiers and test servers.
func TestDispatchEndToEnd(t *testing.T) {
	svc := pushtest.NewService(t)
	rx := pushtest.NewWebhook(t, []byte("hook-key"))
	d := notify.Dispatch{WebPush: newWebPush(t, svc), Webhook: &notify.Webhook{}}
	m := message(time.Now())
	if err := d.Notify(t.Context(), svc.Subscribe(), m); err != nil {
		t.Fatal(err)
	}
	if err := d.Notify(t.Context(), rx.Target(), m); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, svc.Messages()); got.Tx != m.Tx {
		t.Errorf("webpush: got tx %q, want %q", got.Tx, m.Tx)
	}
	if got := receive(t, rx.Messages()); got.Tx != m.Tx {
		t.Errorf("webhook: got tx %q, want %q", got.Tx, m.Tx)
	}
}
