package radiusd

import (
	"net/netip"

	"github.com/rs/zerolog"
)

// drop counts a dropped packet and logs it, at most once a second per
// cause so that a flood cannot flood the log too; the line says how many
// of its cause went unlogged since the last one (suppressed).
func (s *Server) drop(cause string, src netip.AddrPort, client string) {
	s.metrics.dropped.WithLabelValues(cause).Inc()
	lvl := zerolog.WarnLevel
	if cause == causeUnknownClient || cause == causeNotReady {
		lvl = zerolog.DebugLevel // expected noise: scanners, start-up
	}
	s.drops.Event(&s.log, lvl, cause).Str("nas", src.Addr().Unmap().String()).
		Str("client", client).Msg("radius packet dropped")
}
