package radiusd

import (
	"fmt"
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

// dropMissingMA drops an Access-Request from c without a
// Message-Authenticator, and says in its log line what the admin can
// change: the client option, and which NASes are known to lack the
// attribute. Without it the admin sees only the cause.
func (s *Server) dropMissingMA(src netip.AddrPort, c *Client) {
	s.metrics.dropped.WithLabelValues(causeMissingMA).Inc()
	ev := s.drops.Event(&s.log, zerolog.WarnLevel, causeMissingMA)
	if ev == nil {
		return
	}
	ev = ev.Str("nas", src.Addr().Unmap().String()).Str("client", c.Name).
		Str("option", "require_message_authenticator").Str("setting", c.MessageAuthenticator.String())
	if c.MessageAuthenticator == MAAuto {
		ev.Str("hint", fmt.Sprintf("client %q has sent Message-Authenticator before, and require_message_authenticator auto holds it to it on every node: "+
			"a request without one is forged (BlastRADIUS) or comes from another NAS behind its address; "+
			"if the NAS was replaced by one that cannot send it, delete the client's message-authenticator record (docs/etcd-layout.md)", c.Name)).
			Msg("radius packet dropped")
		return
	}
	ev.Str("hint", fmt.Sprintf("the NAS sent no Message-Authenticator and client %q requires it (require_message_authenticator: true): "+
		"radcli before 1.5 (ocserv 1.1 and others built on it), pam_radius_auth before 3.0 (Debian 12's 2.0) and many switches never send it; "+
		"upgrade the NAS, or set require_message_authenticator: auto for this client (held to it once it sends one)", c.Name)).
		Msg("radius packet dropped")
}
