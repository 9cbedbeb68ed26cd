package radiusd

import (
	"context"
	"errors"
	"net"
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
	conns, err := ListenGroup(context.Background(), "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
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
