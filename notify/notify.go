package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kinds of Target.
const (
	KindWebPush = "webpush" // a Web Push subscription (a browser, the authenticator app)
	KindWebhook = "webhook" // an HTTPS endpoint that takes the Message as JSON
	// KindApp is a web authenticator without a push subscription (its
	// browser offers none): nothing is sent, and the app shows the
	// waiting logins when it is opened.
	KindApp = "app"
	// KindAlert is the fraud alert: a webhook told of every login
	// reported as not the user's, sent and counted apart from devices'.
	KindAlert = "alert"
)

// ErrGone is wrapped by the error of a delivery the push service refused
// because the subscription no longer exists (404 or 410): the caller should
// mark the device as unreachable rather than try again.
var ErrGone = errors.New("subscription gone")

// ErrRefused wraps every failure that retrying will not mend: the target
// or message is unusable here (an unknown kind, a bad or plain-http
// endpoint, no notifier for the kind) or the receiver answered 4xx. The
// others (the receiver unreachable, timing out, answering 5xx) are the
// service being down, which a caller may treat differently.
var ErrRefused = errors.New("notification refused")

// Message is what a device is told about a login waiting for its answer. It
// carries no secret.
type Message struct {
	Tx      string    `json:"tx"`                // push transaction id (random, URL-safe)
	User    string    `json:"user"`              // user name
	Device  string    `json:"device"`            // device id
	Service string    `json:"service"`           // the service the user logs in to: the RADIUS client's display_name
	NAS     string    `json:"nas,omitempty"`     // NAS-Identifier
	From    string    `json:"from,omitempty"`    // Calling-Station-Id (user's source address)
	Purpose string    `json:"purpose,omitempty"` // what a push of the portal confirms ("Remove the device “phone”"); empty for a login
	Created time.Time `json:"created"`           // when the login asked for the push
	Expires time.Time `json:"expires"`           // after this, an answer is refused
	Number  bool      `json:"number"`            // verified push: the app asks for the number shown at login
	Answer  []string  `json:"answer,omitempty"`  // URLs of the approval API, any of them
}

// Target is where one device receives notifications.
type Target struct {
	Kind     string // KindWebPush or KindWebhook
	Endpoint string // push service URL (webpush) or webhook URL; may hold a secret token: never in an error or log
	P256DH   []byte // webpush: the subscription's public key (65-byte uncompressed P-256 point)
	Auth     []byte // webpush: the subscription's 16-byte auth secret
	Secret   []byte // webhook: HMAC-SHA256 key for the signature header (may be empty: no signature)
}

// Notifier delivers one message to one target.
type Notifier interface {
	Notify(ctx context.Context, t Target, m Message) error
}

// Dispatch is a Notifier that hands each target to the Notifier of its
// kind, and counts what it sends.
type Dispatch struct {
	WebPush Notifier // for KindWebPush targets; nil: they fail
	Webhook Notifier // for KindWebhook and KindAlert targets; nil: they fail
	Metrics *Metrics // counts every notification but KindApp's; nil: none
}

// Notify delivers m to t through the Notifier of t.Kind.
func (d Dispatch) Notify(ctx context.Context, t Target, m Message) error {
	var n Notifier
	switch t.Kind {
	case KindWebPush:
		n = d.WebPush
	case KindWebhook, KindAlert:
		n = d.Webhook
	case KindApp:
		// Nothing is sent: the app lists waiting logins.
		if o := observerOf(ctx); o != nil {
			o.ObserveNotification(KindApp, "not_sent", 0)
		}
		return nil
	default:
		// Not counted: the kind is a stored value, and would not be a
		// bounded label.
		return fmt.Errorf("notify: unknown target kind %q: %w", t.Kind, ErrRefused)
	}
	start := time.Now()
	err := d.send(ctx, n, t, m)
	d.Metrics.observe(ctx, t.Kind, start, err)
	return err
}

func (d Dispatch) send(ctx context.Context, n Notifier, t Target, m Message) error {
	if n == nil {
		return fmt.Errorf("notify: no notifier for %s targets: %w", t.Kind, ErrRefused)
	}
	return n.Notify(ctx, t, m)
}
