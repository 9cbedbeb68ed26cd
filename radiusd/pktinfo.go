package radiusd

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pktinfo serves a socket bound to a wildcard address (0.0.0.0, [::]):
// it learns the address each datagram was sent to (IP_PKTINFO,
// IPV6_PKTINFO) and answers from that address. Without it the kernel picks
// the source by routing, and on a host with several addresses, or behind a
// floating VIP, the NAS drops an answer from an address it did not ask.
type pktinfo struct {
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
}

// newPktinfo returns nil for a socket bound to one address, which answers
// from it anyway.
func newPktinfo(conn net.PacketConn) (*pktinfo, error) {
	ua, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || !ua.IP.IsUnspecified() {
		return nil, nil
	}
	if ua.IP.To4() != nil {
		p := ipv4.NewPacketConn(conn)
		if err := p.SetControlMessage(ipv4.FlagDst, true); err != nil {
			return nil, fmt.Errorf("radiusd: %s: IP_PKTINFO: %w", ua, err)
		}
		return &pktinfo{p4: p}, nil
	}
	p := ipv6.NewPacketConn(conn)
	if err := p.SetControlMessage(ipv6.FlagDst, true); err != nil {
		return nil, fmt.Errorf("radiusd: %s: IPV6_PKTINFO: %w", ua, err)
	}
	return &pktinfo{p6: p}, nil
}

// read reads one datagram with the address it was sent to.
func (p *pktinfo) read(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	var (
		n   int
		src net.Addr
		dst net.IP
		err error
	)
	if p.p4 != nil {
		var cm *ipv4.ControlMessage
		n, cm, src, err = p.p4.ReadFrom(b)
		if cm != nil {
			dst = cm.Dst
		}
	} else {
		var cm *ipv6.ControlMessage
		n, cm, src, err = p.p6.ReadFrom(b)
		if cm != nil {
			dst = cm.Dst
		}
	}
	if err != nil {
		return n, netip.AddrPort{}, netip.Addr{}, err
	}
	ua, _ := src.(*net.UDPAddr)
	if ua == nil {
		return n, netip.AddrPort{}, netip.Addr{}, nil
	}
	local, _ := netip.AddrFromSlice(dst)
	return n, ua.AddrPort(), local, nil
}

// send writes b to to from the address from (when known).
func (p *pktinfo) send(b []byte, to netip.AddrPort, from netip.Addr) error {
	dst := net.UDPAddrFromAddrPort(to)
	if p.p4 != nil {
		var cm *ipv4.ControlMessage
		if from.IsValid() {
			cm = &ipv4.ControlMessage{Src: from.Unmap().AsSlice()}
		}
		_, err := p.p4.WriteTo(b, cm, dst)
		return err
	}
	var cm *ipv6.ControlMessage
	if from.IsValid() {
		cm = &ipv6.ControlMessage{Src: from.AsSlice()}
	}
	_, err := p.p6.WriteTo(b, cm, dst)
	return err
}
