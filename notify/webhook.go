package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Headers of a webhook delivery.
const (
	// HeaderTimestamp carries the delivery's Unix time in seconds, signed
	// with the body so that a receiver can refuse a replayed delivery.
	HeaderTimestamp = "X-Twostep-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256, keyed with
	// Target.Secret, of the timestamp, ".", and the body.
	HeaderSignature = "X-Twostep-Signature"
)

// Webhook delivers a Message as a JSON POST to the target's Endpoint, signed
// when the target has a Secret. A 2xx answer is success; redirects are not
// followed.
type Webhook struct {
	Client    *http.Client     // default: a client on http.DefaultTransport
	Timeout   time.Duration    // bound of one delivery; default 10s
	UserAgent string           // default "twostep"
	AllowHTTP bool             // permit plain http to hosts that are not loopback; default false
	Now       func() time.Time // clock of the timestamp header; default time.Now
}

// Notify posts m to t.Endpoint.
func (w *Webhook) Notify(ctx context.Context, t Target, m Message) error {
	e, err := parseEndpoint(t.Endpoint, w.AllowHTTP)
	if err != nil {
		return fmt.Errorf("notify: webhook: %w: %w", err, ErrRefused)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("notify: webhook %s: %w", e.origin, err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", userAgent(w.UserAgent))
	h.Set(HeaderTimestamp, ts)
	if len(t.Secret) > 0 {
		h.Set(HeaderSignature, signature(t.Secret, ts, body))
	}
	status, err := post(ctx, w.Client, w.Timeout, e, h, body)
	if err != nil {
		return fmt.Errorf("notify: webhook %s: %w", e.origin, err)
	}
	if status < 200 || status > 299 {
		if status < 500 {
			return fmt.Errorf("notify: webhook %s: status %d: %w", e.origin, status, ErrRefused)
		}
		return fmt.Errorf("notify: webhook %s: status %d", e.origin, status)
	}
	return nil
}

// signature is the value of the HeaderSignature header for a delivery of
// body at timestamp ts (decimal Unix seconds). The timestamp is signed too,
// so that a receiver that bounds its age refuses a replay.
func signature(secret []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func userAgent(s string) string {
	if s == "" {
		return "twostep"
	}
	return s
}
