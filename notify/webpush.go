package notify

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// WebPush delivers a Message through the push service of a Web Push
// subscription (RFC 8030): the JSON Message encrypted for the subscription
// (RFC 8291), with a VAPID token naming this server (RFC 8292). A push
// service answering 404 or 410 makes the error wrap ErrGone.
type WebPush struct {
	VAPID     VAPID            // required: the key the subscriptions were made with
	Client    *http.Client     // default: a client on http.DefaultTransport
	Timeout   time.Duration    // bound of one delivery; default 10s
	UserAgent string           // default "twostep"
	AllowHTTP bool             // permit plain http to push services that are not loopback; default false
	Now       func() time.Time // clock of the TTL and the VAPID expiry; default time.Now
	// Topic, when set, is sent as the Topic header (at most 32 characters
	// of the base64url alphabet): a newer message with the same topic
	// replaces one the push service still holds for the device, so a phone
	// that was offline wakes to the latest login only. Default: none.
	Topic string
}

// Notify encrypts m for the subscription t and posts it to t.Endpoint. The
// push service keeps it until m.Expires at most (the TTL header).
func (w *WebPush) Notify(ctx context.Context, t Target, m Message) error {
	e, err := parseEndpoint(t.Endpoint, w.AllowHTTP)
	if err != nil {
		return fmt.Errorf("notify: webpush: %w: %w", err, ErrRefused)
	}
	if err := w.notify(ctx, e, t, m); err != nil {
		return fmt.Errorf("notify: webpush %s: %w", e.origin, err)
	}
	return nil
}

func (w *WebPush) notify(ctx context.Context, e endpoint, t Target, m Message) error {
	if !validTopic(w.Topic) {
		return errors.New("topic is not at most 32 base64url characters")
	}
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	body, err := encrypt(payload, t.P256DH, t.Auth, as, salt)
	if err != nil {
		return err
	}
	auth, err := w.VAPID.authorization(e.origin, now)
	if err != nil {
		return err
	}
	ttl := int64(m.Expires.Sub(now) / time.Second)
	if ttl < 0 {
		ttl = 0
	}
	h := http.Header{}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("TTL", strconv.FormatInt(ttl, 10))
	h.Set("Urgency", "high")
	if w.Topic != "" {
		h.Set("Topic", w.Topic)
	}
	h.Set("Authorization", auth)
	h.Set("User-Agent", userAgent(w.UserAgent))
	status, err := post(ctx, w.Client, w.Timeout, e, h, body)
	switch {
	case err != nil:
		return err
	case status == http.StatusNotFound || status == http.StatusGone:
		return fmt.Errorf("status %d: %w", status, ErrGone)
	case status >= 400 && status < 500:
		return fmt.Errorf("status %d: %w", status, ErrRefused)
	case status < 200 || status > 299:
		return fmt.Errorf("status %d", status)
	}
	return nil
}

// validTopic reports whether s may be a Topic header (RFC 8030 Section 5.4).
func validTopic(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
