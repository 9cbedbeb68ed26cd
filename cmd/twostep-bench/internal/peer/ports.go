package peer

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports hands out loopback ports that were free for both TCP and UDP
// when asked for, never the same twice. They are below Linux's ephemeral
// range (32768 and up), so that no client socket, nor a server that
// listens on port 0 (slapd, etcd), takes one before its server binds it.
type Ports struct {
	mu    sync.Mutex
	given map[int]bool
}

// Pick returns a free port.
func (p *Ports) Pick() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = map[int]bool{}
	}
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if p.given[port] || !free(port) {
			continue
		}
		p.given[port] = true
		return port, nil
	}
	return 0, errors.New("no free port found")
}

// free reports whether port can be bound on 127.0.0.1 for TCP and UDP.
func free(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
