package notify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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

func TestDispatchMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	gone := &recorder{err: fmt.Errorf("status 410: %w", notify.ErrGone)}
	down := &recorder{err: errors.New("connection refused")}
	d := notify.Dispatch{WebPush: gone, Webhook: down, Metrics: notify.NewMetrics(reg)}
	m := message(time.Now())
	for _, kind := range []string{notify.KindWebPush, notify.KindWebhook, notify.KindAlert, notify.KindApp, "sms"} {
		d.Notify(t.Context(), notify.Target{Kind: kind}, m)
	}
	d.WebPush = &recorder{}
	d.Notify(t.Context(), notify.Target{Kind: notify.KindWebPush}, m)
	(notify.Dispatch{Metrics: d.Metrics}).Notify(t.Context(), notify.Target{Kind: notify.KindWebhook}, m)

	want := `
# HELP twostep_push_notifications_total Push notifications sent, by kind (webpush, webhook, alert: the fraud alert webhook) and result (ok; gone: the subscription no longer exists; refused: 4xx or unusable target; error: unreachable, timed out, 5xx).
# TYPE twostep_push_notifications_total counter
twostep_push_notifications_total{kind="alert",result="error"} 1
twostep_push_notifications_total{kind="alert",result="gone"} 0
twostep_push_notifications_total{kind="alert",result="ok"} 0
twostep_push_notifications_total{kind="alert",result="refused"} 0
twostep_push_notifications_total{kind="webhook",result="error"} 1
twostep_push_notifications_total{kind="webhook",result="gone"} 0
twostep_push_notifications_total{kind="webhook",result="ok"} 0
twostep_push_notifications_total{kind="webhook",result="refused"} 1
twostep_push_notifications_total{kind="webpush",result="error"} 0
twostep_push_notifications_total{kind="webpush",result="gone"} 1
twostep_push_notifications_total{kind="webpush",result="ok"} 1
twostep_push_notifications_total{kind="webpush",result="refused"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "twostep_push_notifications_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "twostep_push_notification_duration_seconds"); n != 3 {
		t.Errorf("latency histograms: got %d, want one per kind sent (3)", n)
	}
}
