// Package leakcheck fails a test whose goroutines outlive it: the one
// goleak set-up every package's tests share.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// Check fails t if goroutines started during t outlive it and its
// cleanups. Call it first in the test: cleanups run last-registered
// first, so this one runs after every other (servers stopped, clients
// closed).
func Check(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}
