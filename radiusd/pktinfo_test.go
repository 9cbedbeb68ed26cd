package radiusd

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestWildcardAnswersFromAddressAsked: on a socket bound to 0.0.0.0 the
// answer must leave from the address the NAS sent to. A NAS (like this
// connected socket) drops an answer from any other address: on a host
// with several addresses, or behind a floating VIP, that is an outage.
func TestWildcardAnswersFromAddressAsked(t *testing.T) {
	h := newHarness(t, nil, nil)
	conn, err := Listen(context.Background(), "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(conn) }()
	t.Cleanup(func() {
		h.stop()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: got %v, want ErrServerClosed", err)
		}
	})
	port := conn.LocalAddr().(*net.UDPAddr).Port
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		t.Run(ip, func(t *testing.T) {
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := request(t, testSecret, "alice", testPassword, nil)
			h.send(c, req)
			resp := h.recv(c, 3*time.Second)
			if resp == nil {
				t.Fatalf("no answer from %s (it left from another address)", ip)
			}
			checkAnswer(t, resp, req, testSecret)
		})
	}
}
