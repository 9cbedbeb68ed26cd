package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Bounds of one connection's operations: a receiver that does not take
// a connection or a write within them is down.
const (
	dialTimeout  = 5 * time.Second
	writeTimeout = 10 * time.Second
	// probeWait bounds the read of what a receiver sent (open).
	probeWait = 5 * time.Millisecond
)

// errTooLarge: a message longer than maxUDPMessage for udp.
var errTooLarge = errors.New("syslog: message too large for a datagram")

// link is the connection an exporter sends on, made again when it
// breaks. One goroutine uses it.
type link struct {
	network string // udp, tcp or tls
	address string
	tls     *tls.Config // tls only
	kind    string      // login or audit: the label of its metrics
	m       *Metrics

	conn  net.Conn
	frame []byte // the framing's buffer
	probe [512]byte
}

// send writes msg as one message: a datagram over udp, an octet-counted
// frame over tcp and tls. It connects first when there is no
// connection, or when the receiver closed the one there is (it is asked
// before each message: a write into a connection the receiver has closed
// would be lost without an error). A write that fails closes the
// connection and is tried once more on a new one, so a message written
// just as the receiver went away may arrive twice. An error means the
// receiver cannot be reached now: the caller waits before the next try.
func (l *link) send(ctx context.Context, msg []byte) error {
	if l.network == NetworkUDP && len(msg) > maxUDPMessage {
		return errTooLarge
	}
	var err error
	for range 2 {
		if l.conn != nil && !l.open() {
			l.close()
		}
		if l.conn == nil {
			if err = l.dial(ctx); err != nil {
				return err
			}
		}
		if err = l.write(msg); err == nil {
			return nil
		}
		l.close()
	}
	return err
}

// dial connects to the receiver within dialTimeout (and the TLS
// handshake), counting the attempt.
func (l *link) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if l.network == NetworkTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: l.tls}).DialContext(ctx, "tcp", l.address)
	} else {
		conn, err = d.DialContext(ctx, l.network, l.address)
	}
	if err != nil {
		l.m.connect(l.kind, false)
		return fmt.Errorf("syslog: connect to %s over %s: %w", l.address, l.network, err)
	}
	l.m.connect(l.kind, true)
	l.conn = conn
	return nil
}

// write writes msg on the connection within writeTimeout.
func (l *link) write(msg []byte) error {
	if err := l.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("syslog: send to %s: %w", l.address, err)
	}
	b := msg
	if l.network != NetworkUDP {
		l.frame = appendFrame(l.frame[:0], msg)
		b = l.frame
	}
	if _, err := l.conn.Write(b); err != nil {
		return fmt.Errorf("syslog: send to %s: %w", l.address, err)
	}
	return nil
}

// open reports whether the receiver still holds the connection: a
// write into a connection the receiver has closed would be lost without
// an error, and only the next write would fail. A syslog receiver never
// sends, so bytes from it are a TLS close_notify or a post-handshake
// message (a TLS 1.3 session ticket), read here to tell which. A
// datagram socket has no close to find.
func (l *link) open() bool {
	if l.network == NetworkUDP {
		return true
	}
	raw := l.conn
	if tc, ok := l.conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	closed, data := peek(raw)
	if closed || !data {
		return !closed
	}
	// The bytes are there already: the read returns at once unless they
	// hold no application data (a session ticket), then times out.
	if err := l.conn.SetReadDeadline(time.Now().Add(probeWait)); err != nil {
		return false
	}
	_, err := l.conn.Read(l.probe[:])
	return err == nil || errors.Is(err, os.ErrDeadlineExceeded)
}

// close closes the connection, if there is one.
func (l *link) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}
