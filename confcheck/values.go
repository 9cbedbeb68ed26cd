package confcheck

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePrefix reads an address or a CIDR prefix as configurations write
// them (a NAS's networks, the portal's trusted proxies). An address
// stands for itself (10.0.0.1 is 10.0.0.1/32), an IPv4-mapped IPv6
// address for the IPv4 address it carries. A prefix with host bits set
// is refused, with the prefix it probably means: 10.0.0.1/8 is a typing
// mistake for 10.0.0.0/8 as often as for 10.0.0.1, and silently masking
// it would grant a whole network.
func ParsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// HostPort checks a listen address: host:port with a port from 0 to
// 65535 (the host may be empty, an address or a name).
func HostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (use [::1]:1812 for IPv6)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

// Loopback reports whether host, or the host of host:port, names this
// machine only: localhost or a loopback address. A plain-text listener
// or URL is allowed there, where nothing crosses a network.
func Loopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
