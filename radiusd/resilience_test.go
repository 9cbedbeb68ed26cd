package radiusd

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// TestProxyStateNeedsMessageAuthenticator: a client allowed to omit
// Message-Authenticator must still sign a request that carries
// Proxy-State, whose value an answer echoes (BlastRADIUS).
func TestProxyStateNeedsMessageAuthenticator(t *testing.T) {
	h := newHarness(t, nil, func(o *Options) { o.Clients = testClients(t, false) })
	p, err := NewAccessRequest(testSecret, "alice", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	rfc2865.ProxyState_Add(p, []byte("forged"))
	h.expectDrop(unsigned(t, p), causeProxyStateNoMA)

	// Without Proxy-State such a client is still answered unsigned.
	q, err := NewAccessRequest(testSecret, "alice", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	req := unsigned(t, q)
	c := h.dial()
	h.send(c, req)
	if resp := h.recv(c, 5*time.Second); resp == nil {
		t.Fatal("an unsigned request without Proxy-State got no answer from a client allowed to omit Message-Authenticator")
	}
	// And a signed one with Proxy-State has it echoed.
	signed := h.exchange(request(t, testSecret, "alice", testPassword, func(p *radius.Packet) {
		rfc2865.ProxyState_Add(p, []byte("real"))
	}), testSecret)
	if got := string(signed.Get(rfc2865.ProxyState_Type)); got != "real" {
		t.Errorf("Proxy-State: got %q, want real", got)
	}
}

// flakyConn fails its first read with a passing error, as a socket does on
// ENOBUFS or an ICMP error.
type flakyConn struct {
	net.PacketConn
	failed atomic.Bool
}

func (f *flakyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if f.failed.CompareAndSwap(false, true) {
		return 0, nil, errors.New("recvfrom: no buffer space available")
	}
	return f.PacketConn.ReadFrom(b)
}

// TestReadErrorDoesNotStopServing: a passing read error is counted and the
// listener reads on.
func TestReadErrorDoesNotStopServing(t *testing.T) {
	h := newHarness(t, nil, nil)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyConn{PacketConn: conn}
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(flaky) }()
	t.Cleanup(func() {
		h.stop()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: got %v, want ErrServerClosed", err)
		}
	})
	h.waitMetric(h.metrics.dropped.WithLabelValues(causeReadError), 1)
	c, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := request(t, testSecret, "alice", testPassword, nil)
	h.send(c, req)
	if resp := h.recv(c, 5*time.Second); resp == nil {
		t.Fatal("no answer after a passing read error")
	}
}
