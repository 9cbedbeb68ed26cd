package radiusd

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// drop counts a dropped packet and logs it, at most once a second per
// cause so that a flood cannot flood the log too; the line says how many
// of its cause went unlogged since the last one (suppressed).
func (s *Server) drop(cause string, src netip.AddrPort, client string) {
	s.metrics.dropped.WithLabelValues(cause).Inc()
	suppressed, ok := s.drops.allow(cause, s.now())
	if !ok {
		return
	}
	lvl := zerolog.WarnLevel
	if cause == causeUnknownClient || cause == causeNotReady {
		lvl = zerolog.DebugLevel // expected noise: scanners, start-up
	}
	s.log.WithLevel(lvl).Str("cause", cause).Int("suppressed", suppressed).Str("nas", src.Addr().Unmap().String()).
		Str("client", client).Msg("radius packet dropped")
}

// dropLog rate-limits the drop log lines per cause. It is the twin of
// portal.LogLimiter, which radiusd must not import; causes are this
// package's constants, so its map stays small.
type dropLog struct {
	mu    sync.Mutex
	cause map[string]*dropCause
}

// dropCause is when a cause's last line went out and how many were held
// back since.
type dropCause struct {
	last       time.Time
	suppressed int
}

// allow reports whether a line of cause may go out at now and, if so,
// how many were held back since the last one.
func (d *dropLog) allow(cause string, now time.Time) (suppressed int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cause == nil {
		d.cause = make(map[string]*dropCause)
	}
	c := d.cause[cause]
	if c == nil {
		c = &dropCause{}
		d.cause[cause] = c
	} else if now.Sub(c.last) < time.Second {
		c.suppressed++
		return 0, false
	}
	n := c.suppressed
	c.last, c.suppressed = now, 0
	return n, true
}
