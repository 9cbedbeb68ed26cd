package radiusd

import (
	"net/netip"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// answerStatus answers a Status-Server (RFC 5997) with an Access-Accept
// while the node is ready. It bypasses the duplicate cache: the answer is
// cheap, and a fresh one reflects readiness now rather than 10 s ago.
func (s *Server) answerStatus(l *listener, c *Client, p *radius.Packet, src netip.AddrPort, dst netip.Addr) {
	if !s.ready() {
		s.drop(causeNotReady, src, c.Name)
		return
	}
	var attrs radius.Attributes
	for _, ps := range proxyStates(p) {
		attrs.Add(rfc2865.ProxyState_Type, ps)
	}
	resp, err := encodeResponse(p, radius.CodeAccessAccept, attrs, c)
	if err != nil {
		s.drop(causeEncode, src, c.Name)
		return
	}
	if err := l.send(resp, src, dst); err != nil {
		s.drop(causeWriteError, src, c.Name)
		return
	}
	s.metrics.requests.WithLabelValues(c.Name, codeLabel(radius.CodeAccessAccept), string(reasonStatusServer)).Inc()
	s.log.Debug().Str("client", c.Name).Str("nas", src.Addr().Unmap().String()).Msg("radius status-server answered")
}
