package radiusd

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestListenGroup: n sockets on one port, each served; every NAS gets its
// answers, and a retransmission is absorbed by the duplicate cache
// whichever socket the kernel hands it to.
func TestListenGroup(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT on this system")
	}
	auth := newFakeAuth(acceptAlice)
	h := newHarness(t, auth, nil)
	g, err := ListenGroup(context.Background(), "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() }) // after the server stopped serving the sockets
	conns := g.Conns
	if len(conns) != 3 {
		t.Fatalf("got %d sockets, want 3", len(conns))
	}
	port := conns[0].LocalAddr().(*net.UDPAddr).Port
	var wg sync.WaitGroup
	for _, c := range conns {
		if got := c.LocalAddr().(*net.UDPAddr).Port; got != port {
			t.Fatalf("socket on port %d, want %d", got, port)
		}
		wg.Go(func() {
			if err := h.srv.Serve(c); !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(func() { h.stop(); wg.Wait() })

	const nases = 20
	for i := range nases {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		req := request(t, testSecret, "alice", testPassword, nil)
		for range 2 { // the second is a retransmission
			h.send(c, req)
			if resp := h.recv(c, 3*time.Second); resp == nil {
				t.Fatalf("NAS %d: no answer", i)
			}
		}
		c.Close()
	}
	if got := auth.count(); got != nases {
		t.Errorf("Authenticator calls: got %d, want %d (retransmissions answered from the cache)", got, nases)
	}
}

// TestListenGroupTaken opens a group on a free port, then another on the
// same port as a second twostepd would: it is refused where the two would
// share traffic (the same address; a wildcard and an address under it),
// also with a single socket, and opens once the first group is closed.
// Another address on the same port is not shared, and opens at once.
func TestListenGroupTaken(t *testing.T) {
	if !reusePortSupported {
		t.Skip("no SO_REUSEPORT on this system")
	}
	tests := []struct {
		name          string
		first, second string // hosts
		n             int    // sockets in the second group
		wantErr       bool
	}{
		{"same address", "127.0.0.1", "127.0.0.1", 2, true},
		{"same address, one socket", "127.0.0.1", "127.0.0.1", 1, true},
		{"wildcard over the address", "127.0.0.1", "0.0.0.0", 2, true},
		{"address under the wildcard", "0.0.0.0", "127.0.0.1", 2, true},
		{"another address", "127.0.0.1", "127.0.0.2", 2, false},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := ListenGroup(ctx, net.JoinHostPort(tt.first, "0"), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			port := strconv.Itoa(first.Conns[0].LocalAddr().(*net.UDPAddr).Port)
			addr := net.JoinHostPort(tt.second, port)
			second, err := ListenGroup(ctx, addr, tt.n)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("got %v, want a group", err)
				}
				second.Close()
				return
			}
			if !errors.Is(err, ErrAddrInUse) {
				if err == nil {
					second.Close()
				}
				t.Fatalf("got %v, want %v", err, ErrAddrInUse)
			}
			first.Close()
			again, err := ListenGroup(ctx, addr, tt.n)
			if err != nil {
				t.Fatalf("after the first group closed: %v", err)
			}
			again.Close()
		})
	}
}
