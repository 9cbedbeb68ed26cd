package radiusd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"layeh.com/radius"

	"twostep/challenge"
)

// recordConn is a net.PacketConn that keeps what is written to it; the
// fuzz target drives handlePacket directly, without a socket.
type recordConn struct {
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), b...))
	return len(b), nil
}
func (c *recordConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, net.ErrClosed }
func (c *recordConn) Close() error                           { return nil }
func (c *recordConn) LocalAddr() net.Addr                    { return &net.UDPAddr{} }
func (c *recordConn) SetDeadline(time.Time) error            { return nil }
func (c *recordConn) SetReadDeadline(time.Time) error        { return nil }
func (c *recordConn) SetWriteDeadline(time.Time) error       { return nil }

// authFunc adapts a function to Authenticator; unlike fakeAuth it keeps
// nothing, so a long fuzz run does not grow.
type authFunc func(ctx context.Context, req *challenge.Request) (challenge.Decision, error)

func (f authFunc) Authenticate(ctx context.Context, req *challenge.Request, w challenge.Responder) {
	w.Respond(f(ctx, req))
}

// FuzzParsePacket drives the whole request path, from the bytes of a
// datagram to the bytes of the answer, and checks what must hold whatever
// arrives: no panic; every answer verifies with the client's secret and
// has the Message-Authenticator first; an Access-Accept only answers a
// Status-Server or a request the Authenticator accepted; a strict client
// never gets an Access-Request answered without a valid
// Message-Authenticator; an unknown source never gets an answer.
func FuzzParsePacket(f *testing.F) {
	ct, err := NewClientTable([]Client{
		{Name: "open", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Secret: testSecret, MessageAuthenticator: MAAuto},
		{Name: "strict", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Secret: testSecret},
	})
	if err != nil {
		f.Fatal(err)
	}
	var mu sync.Mutex
	accepted := 0
	auth := authFunc(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		switch req.User {
		case "alice":
			if req.Password == testPassword {
				mu.Lock()
				accepted++
				mu.Unlock()
				return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, Message: "Welcome"}, nil
			}
		case "carol":
			return challenge.Decision{Outcome: challenge.Ask, Reason: "need_passcode", Message: "Passcode:", State: []byte(req.Password)}, nil
		case "dave":
			return challenge.Decision{}, errors.New("directory down")
		}
		return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword}, nil
	})
	s, err := NewServer(Options{Authenticator: auth, Clients: ct, Logger: zerolog.Nop()})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte, host byte) {
		// Hosts 1 and 2 are clients, anything else is unknown.
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, host%3 + 1}), 40000)
		s.cache = newDedupCache(defaultDuplicateTTL) // each input on its own
		conn := &recordConn{}
		l := &listener{id: 1, conn: conn}
		mu.Lock()
		before := accepted
		mu.Unlock()

		s.handlePacket(l, data, src, netip.Addr{})
		l.handlers.Wait()

		if len(conn.writes) > 1 {
			t.Fatalf("got %d answers to one datagram", len(conn.writes))
		}
		if len(conn.writes) == 0 {
			return
		}
		if host%3 == 2 {
			t.Fatal("an unknown source got an answer")
		}
		resp := conn.writes[0]
		req, _ := frame(data) // answered, so it framed
		checkAnswer(t, resp, req, testSecret)
		code := radius.Code(req[0])
		if host%3 == 1 && code == radius.CodeAccessRequest {
			off, err := findMA(req)
			if err != nil || off < 0 || !verifyMA(newMAC(testSecret), req, off, req[4:20]) {
				t.Fatal("a strict client was answered without a valid Message-Authenticator")
			}
		}
		mu.Lock()
		newAccept := accepted > before
		mu.Unlock()
		if radius.Code(resp[0]) == radius.CodeAccessAccept && code != radius.CodeStatusServer && !newAccept {
			t.Fatal("an Access-Accept the Authenticator did not give")
		}
	})
}
