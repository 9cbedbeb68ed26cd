package radiusd

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// ListenGroup opens n sockets on addr that share it through SO_REUSEPORT,
// so that n read loops (one per core) can serve one address: a single
// socket's read loop tops out near one core. The kernel hands all
// datagrams of one NAS source port to the same socket. With port 0 the
// first socket picks the port and the others join it. Where SO_REUSEPORT
// is missing, or n < 2, it opens one socket.
func ListenGroup(ctx context.Context, addr string, n int) ([]net.PacketConn, error) {
	if n < 2 || !reusePortSupported {
		c, err := Listen(ctx, addr)
		if err != nil {
			return nil, err
		}
		return []net.PacketConn{c}, nil
	}
	lc := net.ListenConfig{Control: setReusePort}
	first, err := lc.ListenPacket(ctx, udpNetwork(addr), addr)
	if err != nil {
		return nil, err
	}
	conns := []net.PacketConn{first}
	host, _, _ := net.SplitHostPort(addr)
	bound := net.JoinHostPort(host, strconv.Itoa(first.LocalAddr().(*net.UDPAddr).Port))
	for len(conns) < n {
		c, err := lc.ListenPacket(ctx, udpNetwork(addr), bound)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("radiusd: SO_REUSEPORT socket %d on %s: %w", len(conns)+1, bound, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}
