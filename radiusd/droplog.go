package radiusd

import (
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// drop counts a dropped packet and logs it, at most once a second per
// cause so that a flood cannot flood the log too.
func (s *Server) drop(cause string, src netip.AddrPort, client string) {
	s.metrics.dropped.WithLabelValues(cause).Inc()
	if !s.drops.allow(cause, s.now()) {
		return
	}
	lvl := zerolog.WarnLevel
	if cause == causeUnknownClient || cause == causeNotReady {
		lvl = zerolog.DebugLevel // expected noise: scanners, start-up
	}
	s.log.WithLevel(lvl).Str("cause", cause).Str("nas", src.Addr().Unmap().String()).
		Str("client", client).Msg("radius packet dropped")
}

// dropLog rate-limits the drop log lines per cause.
type dropLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (d *dropLog) allow(cause string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.last[cause]) < time.Second {
		return false
	}
	if d.last == nil {
		d.last = make(map[string]time.Time)
	}
	d.last[cause] = now
	return true
}
