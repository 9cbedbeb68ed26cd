// Package loglimit keeps log lines that outsiders can cause at will
// (dropped packets, failed TLS handshakes, bogus push answers, throttled
// sign-ins) to at most one a second per cause: a flood of requests must
// not become a flood of log lines. The metrics count every event; the
// line that goes out says how many of its cause were held back since the
// previous one. The RADIUS transport, the portal and the daemon's HTTP
// servers share it.
package loglimit

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Limiter lets at most one log line a second through per cause; the line
// it lets through says how many of its cause were held back since the
// previous one (field suppressed). Causes come from fixed sets in the
// code, never from a request, so its memory stays bounded. It is safe
// for concurrent use.
type Limiter struct {
	now   func() time.Time
	mu    sync.Mutex
	cause map[string]*logCause
}

// logCause is the state of one cause: when its last line went out and
// how many were held back since.
type logCause struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter on the clock now; nil means time.Now.
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, cause: map[string]*logCause{}}
}

// Event starts a line of log at level with the fields cause and
// suppressed, or returns nil when a line of cause went out less than a
// second ago (zerolog's methods do nothing on a nil event, so callers
// chain fields and Msg as usual). A level log does not write is neither
// counted nor let through.
func (l *Limiter) Event(log *zerolog.Logger, level zerolog.Level, cause string) *zerolog.Event {
	if log.GetLevel() > level || level < zerolog.GlobalLevel() {
		return nil
	}
	n, ok := l.allow(cause)
	if !ok {
		return nil
	}
	return log.WithLevel(level).Str("cause", cause).Int("suppressed", n)
}

// allow reports whether a line of cause may go out now and, if so, how
// many were held back since the last one.
func (l *Limiter) allow(cause string) (suppressed int, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cause[cause]
	if c == nil {
		c = &logCause{}
		l.cause[cause] = c
	} else if now.Sub(c.last) < time.Second {
		c.suppressed++
		return 0, false
	}
	n := c.suppressed
	c.last, c.suppressed = now, 0
	return n, true
}
