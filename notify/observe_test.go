package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"twostep/notify"
)

// notificationRecorder is an Observer that keeps what it is told.
type notificationRecorder struct{ got []string }

func (r *notificationRecorder) ObserveNotification(kind, result string, took time.Duration) {
	if took < 0 {
		result += " (negative duration)"
	}
	r.got = append(r.got, kind+" "+result)
}

// TestDispatchObserver: a notification sent with a context that carries
// an Observer is told to it, by kind and result, with or without
// Metrics; a web authenticator without a subscription is told as not
// sent.
func TestDispatchObserver(t *testing.T) {
	wp, wh := &recorder{}, &recorder{err: notify.ErrGone}
	rec := &notificationRecorder{}
	ctx := notify.WithObserver(context.Background(), rec)
	m := message(time.Now())
	for _, d := range []notify.Dispatch{{WebPush: wp, Webhook: wh}, {WebPush: wp, Webhook: wh, Metrics: notify.NewMetrics(nil)}} {
		d.Notify(ctx, notify.Target{Kind: notify.KindWebPush}, m)
		d.Notify(ctx, notify.Target{Kind: notify.KindWebhook}, m)
		d.Notify(ctx, notify.Target{Kind: notify.KindApp}, m)
		if err := d.Notify(context.Background(), notify.Target{Kind: notify.KindWebhook}, m); !errors.Is(err, notify.ErrGone) {
			t.Fatal(err)
		}
	}
	want := []string{"webpush ok", "webhook gone", "app not_sent", "webpush ok", "webhook gone", "app not_sent"}
	if len(rec.got) != len(want) {
		t.Fatalf("observed %q, want %q", rec.got, want)
	}
	for i := range want {
		if rec.got[i] != want[i] {
			t.Errorf("observation %d: %q, want %q", i, rec.got[i], want[i])
		}
	}
}
