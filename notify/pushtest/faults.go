package pushtest

import (
	"context"
	"sync"
	"time"
)

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
