package pushtest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"twostep/notify"
)

// maxSkew is how far a webhook's timestamp may be from the receiver's clock.
const maxSkew = 5 * time.Minute

// Webhook is a webhook receiver on a plain httptest server on 127.0.0.1,
// like a local ntfy or Gotify. It accepts a POST to its one endpoint when
// the body is a notify.Message in JSON, the timestamp is within 5 minutes,
// and the signature matches its secret (or, with no secret, is absent). It
// answers 204, or 400, 401 or 404 with the reason kept for Rejected.
type Webhook struct {
	receiver
	srv    *httptest.Server
	secret []byte
	path   string
}

// NewWebhook starts a receiver checking signatures with secret (nil or
// empty: it requires none), closed when t's test ends.
func NewWebhook(t testing.TB, secret []byte) *Webhook {
	token := make([]byte, 16)
	rand.Read(token)
	w := &Webhook{
		secret:   append([]byte(nil), secret...),
		path:     "/hook/" + base64.RawURLEncoding.EncodeToString(token),
		receiver: newReceiver(),
	}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(func() {
		close(w.quit)
		w.srv.Close()
	})
	return w
}

// Target returns the target that delivers to this receiver: its endpoint,
// which holds a random token, and its secret.
func (w *Webhook) Target() notify.Target {
	return notify.Target{
		Kind:     notify.KindWebhook,
		Endpoint: w.srv.URL + w.path,
		Secret:   append([]byte(nil), w.secret...),
	}
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	if !w.admit(rw, r) {
		return
	}
	if r.URL.Path != w.path {
		w.reject(rw, http.StatusNotFound, "no such endpoint")
		return
	}
	if r.Method != http.MethodPost {
		w.reject(rw, http.StatusMethodNotAllowed, "method %s", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		w.reject(rw, http.StatusBadRequest, "Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.reject(rw, http.StatusBadRequest, "body: %v", err)
		return
	}
	ts := r.Header.Get(notify.HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		w.reject(rw, http.StatusBadRequest, "timestamp %q is not Unix seconds", ts)
		return
	}
	if skew := time.Since(time.Unix(sec, 0)); skew > maxSkew || skew < -maxSkew {
		w.reject(rw, http.StatusUnauthorized, "timestamp %s off the clock", skew)
		return
	}
	got := r.Header.Get(notify.HeaderSignature)
	switch {
	case len(w.secret) == 0 && got != "":
		w.reject(rw, http.StatusBadRequest, "signature without a secret")
		return
	case len(w.secret) > 0:
		mac := hmac.New(sha256.New, w.secret)
		fmt.Fprintf(mac, "%s.%s", ts, body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(got), []byte(want)) {
			w.reject(rw, http.StatusUnauthorized, "signature does not match")
			return
		}
	}
	m, err := decodeMessage(body)
	if err != nil {
		w.reject(rw, http.StatusBadRequest, "message: %v", err)
		return
	}
	if !w.deliver(r, m) {
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}
