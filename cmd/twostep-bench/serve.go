package main

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
)

// runServe is "twostep-bench serve": a responder that checks each
// Access-Request's Message-Authenticator and accepts it at once, with a
// signed Access-Accept. Loading it measures the generator's own ceiling on
// this machine, the figure both real servers must be compared against. It
// listens on loopback only (it lets anybody in) and stops by itself after
// -for.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:18199", "loopback UDP `address` to answer on")
	secret := fs.String("secret", "", "shared `secret` (required)")
	lifetime := fs.Duration("for", 10*time.Minute, fmt.Sprintf("stop after this long (at most %s)", maxDuration))
	readers := fs.Int("readers", runtime.GOMAXPROCS(0), "goroutines reading the socket")
	requireMA := fs.Bool("message-authenticator", true, "drop requests without a valid Message-Authenticator")
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	addr, err := net.ResolveUDPAddr("udp", *listen)
	switch {
	case err != nil:
		return usageError{fmt.Sprintf("serve: -listen %q: %v", *listen, err)}
	case !addr.IP.IsLoopback():
		return usageError{fmt.Sprintf("serve: -listen %q: the responder accepts everybody, so it listens on loopback only", *listen)}
	case *secret == "":
		return usageError{"serve: -secret is required"}
	case *lifetime <= 0 || *lifetime > maxDuration:
		return usageError{fmt.Sprintf("serve: -for %s: want more than 0 and at most %s", *lifetime, maxDuration)}
	case *readers < 1 || *readers > 64:
		return usageError{fmt.Sprintf("serve: -readers %d: want 1 to 64", *readers)}
	}

	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(stdout, "listening on %s\n", conn.LocalAddr())

	ctx, cancel := context.WithTimeout(ctx, *lifetime)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var wg sync.WaitGroup
	for range *readers {
		wg.Go(func() { serveLoop(conn, []byte(*secret), *requireMA) })
	}
	wg.Wait()
	return nil
}

// serveLoop answers until the socket is closed.
func serveLoop(conn *net.UDPConn, secret []byte, requireMA bool) {
	s := newSigner(secret)
	in := make([]byte, maxPacket)
	out := make([]byte, headerLen+maLen)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := s.accept(out, in[:n], requireMA); resp != nil {
			conn.WriteToUDPAddrPort(resp, from)
		}
	}
}

// accept builds into dst an Access-Accept for req carrying only a
// Message-Authenticator, or returns nil when req is not an Access-Request
// or its Message-Authenticator is missing (and required) or wrong.
func (s *signer) accept(dst, req []byte, requireMA bool) []byte {
	if len(req) < headerLen || req[0] != codeAccessRequest {
		return nil
	}
	n := int(binary.BigEndian.Uint16(req[2:4]))
	if n < headerLen || n > len(req) {
		return nil
	}
	req = req[:n]
	maOff := -1
	for i := headerLen; i < n; {
		if n-i < 2 || req[i+1] < 2 || i+int(req[i+1]) > n {
			return nil
		}
		if req[i] == attrMessageAuthenticator {
			if maOff >= 0 || req[i+1] != maLen {
				return nil
			}
			maOff = i + 2
		}
		i += int(req[i+1])
	}
	if maOff < 0 && requireMA {
		return nil
	}
	if maOff >= 0 {
		c := s.check[:n]
		copy(c, req)
		clear(c[maOff : maOff+16])
		s.mac.Reset()
		s.mac.Write(c)
		s.sum = s.mac.Sum(s.sum[:0])
		if subtle.ConstantTimeCompare(s.sum, req[maOff:maOff+16]) != 1 {
			return nil
		}
	}

	p := dst[:headerLen+maLen]
	p[0] = codeAccessAccept
	p[1] = req[1]
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	copy(p[4:20], req[4:20]) // the request authenticator, for the M-A
	p[20], p[21] = attrMessageAuthenticator, maLen
	clear(p[22:])
	s.mac.Reset()
	s.mac.Write(p)
	s.sum = s.mac.Sum(s.sum[:0])
	copy(p[22:], s.sum)
	// Response Authenticator: MD5(Code+ID+Length+RequestAuth+Attributes+Secret).
	h := s.md5
	h.Reset()
	h.Write(p)
	h.Write(s.secret)
	s.sum = h.Sum(s.sum[:0])
	copy(p[4:20], s.sum)
	return p
}
