//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package radiusd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

const reusePortSupported = true

func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// lockPort binds a TCP socket to the UDP group's address ua, without
// SO_REUSEADDR and without listening, and returns it as the group's lock.
//
// The lock must be one the kernel releases when the process dies (no
// stale lock file after a kill -9), and it must clash wherever the UDP
// sockets would share traffic: the same address, but also 0.0.0.0 and
// 127.0.0.1 on one port (the more specific socket takes the loopback
// traffic), or [::] dual-stack and an IPv4 address. A TCP bind without
// SO_REUSEADDR clashes with any other bind of the port on an overlapping
// address, by the kernel's own rules, and the TCP port space is apart
// from UDP's, so the group's sockets still bind. An abstract unix socket
// named for the address would be Linux-only and blind to overlaps; a
// first UDP socket without SO_REUSEPORT would keep out the group's own
// sockets too. Never listening, the lock accepts no connection and leaves
// no TIME_WAIT; the price is that nothing else can use TCP on that
// address and port.
func lockPort(network string, ua *net.UDPAddr) (io.Closer, error) {
	family, v6only := lockFamily(network, ua.IP)
	fd, err := tcpSocket(family)
	if errors.Is(err, unix.EAFNOSUPPORT) && family == unix.AF_INET6 && !v6only && (ua.IP == nil || ua.IP.IsUnspecified()) {
		// No IPv6: Go binds a dual-stack wildcard in IPv4 then.
		family = unix.AF_INET
		fd, err = tcpSocket(family)
	}
	if err != nil {
		return nil, fmt.Errorf("radiusd: lock tcp %s: %w", ua, err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(v6only)); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("radiusd: lock tcp %s: IPV6_V6ONLY: %w", ua, err)
		}
	}
	if err := unix.Bind(fd, lockSockaddr(family, ua)); err != nil {
		unix.Close(fd)
		err = fmt.Errorf("lock tcp %s: %w", ua, err)
		return nil, inUse(err, fmt.Errorf("radiusd: %w", err))
	}
	return os.NewFile(uintptr(fd), "radius lock tcp "+ua.String()), nil
}

// tcpSocket opens a TCP socket that a child process does not inherit: a
// child that outlived the daemon would keep the address locked.
func tcpSocket(family int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

// lockFamily is the address family, and IPV6_V6ONLY, that Go's
// ListenPacket uses for network and ip, so that the lock covers what the
// UDP sockets cover: udp6 is IPv6 only, and a wildcard under plain udp is
// dual-stack.
func lockFamily(network string, ip net.IP) (family int, v6only bool) {
	switch {
	case network == "udp4":
		return unix.AF_INET, false
	case network == "udp6":
		return unix.AF_INET6, true
	case ip == nil || ip.IsUnspecified():
		return unix.AF_INET6, false
	case ip.To4() != nil:
		return unix.AF_INET, false
	}
	return unix.AF_INET6, false
}

func lockSockaddr(family int, ua *net.UDPAddr) unix.Sockaddr {
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: ua.Port}
		if ip := ua.IP.To4(); ip != nil {
			copy(sa.Addr[:], ip)
		}
		return sa
	}
	sa := &unix.SockaddrInet6{Port: ua.Port}
	if ip := ua.IP.To16(); ip != nil {
		copy(sa.Addr[:], ip)
	}
	if ua.Zone != "" {
		if ifi, err := net.InterfaceByName(ua.Zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		} else if n, err := strconv.ParseUint(ua.Zone, 10, 32); err == nil {
			sa.ZoneId = uint32(n)
		}
	}
	return sa
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
