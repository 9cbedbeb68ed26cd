package pushtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"twostep/notify"
)

// receiver is what the push service and the webhook receiver share: the
// messages they hand over, the requests they refused, and the failures a
// test asked for.
type receiver struct {
	msgs   chan notify.Message
	quit   chan struct{}
	faults faults

	mu       sync.Mutex
	rejected []string
}

func newReceiver() receiver {
	return receiver{msgs: make(chan notify.Message, 64), quit: make(chan struct{})}
}

// Messages returns the channel on which each accepted message is handed
// over. It holds 64; past that a delivery waits for the test to read.
func (rc *receiver) Messages() <-chan notify.Message { return rc.msgs }

// Rejected returns why requests were refused so far, in order.
func (rc *receiver) Rejected() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.rejected...)
}

// Fail makes the next n requests fail with status, before any check.
func (rc *receiver) Fail(status, n int) { rc.faults.fail(status, n) }

// Delay makes each answer wait d, or until the request is canceled.
func (rc *receiver) Delay(d time.Duration) { rc.faults.setDelay(d) }

func (rc *receiver) reject(w http.ResponseWriter, status int, format string, args ...any) {
	reason := fmt.Sprintf(format, args...)
	rc.mu.Lock()
	rc.rejected = append(rc.rejected, reason)
	rc.mu.Unlock()
	http.Error(w, reason, status)
}

// admit applies the faults asked for; false when the request is answered
// (failed as told) or gone.
func (rc *receiver) admit(w http.ResponseWriter, r *http.Request) bool {
	switch status := rc.faults.apply(r.Context(), rc.quit); {
	case status < 0:
		return false
	case status > 0:
		http.Error(w, "failing as told", status)
		return false
	}
	return true
}

// deliver hands m to the test; false when the request or the server
// ended first.
func (rc *receiver) deliver(r *http.Request, m notify.Message) bool {
	select {
	case rc.msgs <- m:
		return true
	case <-r.Context().Done():
	case <-rc.quit:
	}
	return false
}

// faults are the failures a test asked a server for.
type faults struct {
	mu     sync.Mutex
	n      int           // requests still to fail
	status int           // their status
	delay  time.Duration // before every answer
}

func (f *faults) fail(status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.n = status, n
}

func (f *faults) setDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// apply waits out the delay, and returns the status to fail this request
// with, 0 for none, or -1 if the request or the server ended meanwhile.
func (f *faults) apply(ctx context.Context, quit <-chan struct{}) int {
	f.mu.Lock()
	d := f.delay
	status := 0
	if f.n > 0 {
		f.n--
		status = f.status
	}
	f.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return -1
		case <-quit:
			return -1
		}
	}
	return status
}
