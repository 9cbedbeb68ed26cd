package radiusd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// ErrAddrInUse is returned by ListenGroup when the address is taken: by
// another process (another twostepd, most likely) or by an overlapping
// address of the same process.
var ErrAddrInUse = errors.New("radiusd: the address is in use by another process (another twostepd?)")

// Group is the sockets ListenGroup opened on one address, and the lock
// that keeps other processes from joining them.
type Group struct {
	// Conns are the sockets, each for its own read loop (Server.Serve).
	Conns []net.PacketConn
	// lock is held while the group is open; nil for a single socket,
	// which shares its port with nobody anyway.
	lock io.Closer
}

// Close closes the sockets not yet closed (Serve closes its own) and
// gives up the address.
func (g *Group) Close() error {
	for _, c := range g.Conns {
		c.Close()
	}
	if g.lock == nil {
		return nil
	}
	return g.lock.Close()
}

// ListenGroup opens n sockets on addr that share it through SO_REUSEPORT,
// so that n read loops (one per core) can serve one address: a single
// socket's read loop tops out near one core. The kernel hands all
// datagrams of one NAS source port to the same socket. With port 0 the
// first socket picks the port and the others join it. Where SO_REUSEPORT
// is missing, or n < 2, it opens one socket.
//
// SO_REUSEPORT would also let a second twostepd of the same user join the
// port and take part of the NAS traffic, so the group holds a lock on the
// address while it is open (lockPort), and an address already locked, or
// bound by any other socket, is ErrAddrInUse.
func ListenGroup(ctx context.Context, addr string, n int) (*Group, error) {
	if n < 2 || !reusePortSupported {
		// Without SO_REUSEPORT the kernel refuses a taken port itself.
		c, err := Listen(ctx, addr)
		if err != nil {
			return nil, inUse(err, err)
		}
		return &Group{Conns: []net.PacketConn{c}}, nil
	}
	network := udpNetwork(addr)
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, err
	}
	if ua.Port != 0 {
		return listenGroup(ctx, network, ua, n)
	}
	// The port the kernel picks for the first socket may be bound in TCP
	// (the lock's protocol) by some connection: pick another then.
	for range 8 {
		g, err := listenGroup(ctx, network, ua, n)
		if !errors.Is(err, ErrAddrInUse) {
			return g, err
		}
	}
	return nil, fmt.Errorf("radiusd: no free port on %s for a locked group", addr)
}

// listenGroup locks ua and opens n SO_REUSEPORT sockets on it. With port
// 0 the lock follows the first socket, which picked the port: no other
// process knows that port yet.
func listenGroup(ctx context.Context, network string, ua *net.UDPAddr, n int) (*Group, error) {
	g := &Group{}
	if ua.Port != 0 {
		lock, err := lockPort(network, ua)
		if err != nil {
			return nil, err
		}
		g.lock = lock
	}
	lc := net.ListenConfig{Control: setReusePort}
	for len(g.Conns) < n {
		c, err := lc.ListenPacket(ctx, network, ua.String())
		if err != nil {
			g.Close()
			return nil, inUse(err, fmt.Errorf("radiusd: SO_REUSEPORT socket %d on %s: %w", len(g.Conns)+1, ua, err))
		}
		g.Conns = append(g.Conns, c)
		if ua.Port == 0 {
			ua = &net.UDPAddr{IP: ua.IP, Port: c.LocalAddr().(*net.UDPAddr).Port, Zone: ua.Zone}
			lock, err := lockPort(network, ua)
			if err != nil {
				g.Close()
				return nil, err
			}
			g.lock = lock
		}
	}
	return g, nil
}

// inUse returns ErrAddrInUse with err if err is a bind refused for a
// taken address, and otherwise other.
func inUse(err, other error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: %w", ErrAddrInUse, err)
	}
	return other
}
