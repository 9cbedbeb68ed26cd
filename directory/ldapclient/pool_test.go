package ldapclient

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"twostep/internal/leakcheck"
)

// TestPoolRetry binds through a pool whose one idle connection meets a
// scripted server, on 127.0.0.1 for resets to be real: the bind is tried
// again on a fresh connection only when the idle one was dead before the
// server could act, never after a timeout or a bad or partial answer,
// which may come after the server counted the bind.
func TestPoolRetry(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name  string
		msgID int64 // of the idle connection's last request
		// idle is what the idle connection's server does with the bind
		// request it read (nil: nothing, none is sent).
		idle      func(nc net.Conn)
		wantErr   string // "": the bind succeeds
		wantFresh int64  // connections opened
	}{
		{name: "closed", idle: func(nc net.Conn) { nc.Close() }, wantFresh: 1},
		{name: "reset", idle: func(nc net.Conn) {
			nc.(*net.TCPConn).SetLinger(0)
			nc.Close()
		}, wantFresh: 1},
		{name: "notice of disconnection", idle: func(nc net.Conn) {
			nc.Write(noticeOfDisconnection())
			nc.Close()
		}, wantFresh: 1},
		{name: "message IDs used up", msgID: math.MaxInt32, wantFresh: 1},
		{name: "invalid credentials", idle: func(nc net.Conn) {
			nc.Write(bindResponse(1, ldap.LDAPResultInvalidCredentials, ""))
			io.Copy(io.Discard, nc)
		}, wantErr: "Invalid Credentials"},
		{name: "timeout", idle: func(nc net.Conn) { io.Copy(io.Discard, nc) }, wantErr: "timed out"},
		{name: "malformed", idle: func(nc net.Conn) {
			nc.Write([]byte{0x04, 0x00})
			io.Copy(io.Discard, nc)
		}, wantErr: "want a SEQUENCE"},
		{name: "partial answer", idle: func(nc net.Conn) {
			nc.Write(bindResponse(1, 0, "")[:5])
			nc.Close()
		}, wantErr: "unexpected EOF"},
		{name: "another operation", idle: func(nc net.Conn) {
			nc.Write(ldapMessage(1, resultOp(ldap.ApplicationSearchResultDone, 0, "")))
			io.Copy(io.Discard, nc)
		}, wantErr: "want Bind Response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			wg.Go(func() {
				for i := 0; ; i++ {
					nc, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Go(func() {
						defer nc.Close()
						r := bufio.NewReader(nc)
						if i == 0 && tt.idle == nil {
							io.Copy(io.Discard, r)
							return
						}
						for {
							p, err := ber.ReadPacket(r)
							if err != nil {
								return
							}
							if i == 0 {
								tt.idle(nc)
								return
							}
							id, _ := p.Children[0].Value.(int64)
							nc.Write(bindResponse(id, 0, ""))
						}
					})
				}
			})
			connect := func() (*Conn, error) {
				nc, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return nil, err
				}
				return newConn(nc), nil
			}
			var opened atomic.Int64
			p := NewPool("bind", 1, time.Minute, func(context.Context) (*Conn, error) {
				opened.Add(1)
				return connect()
			})
			defer p.Close()
			idle, err := connect()
			if err != nil {
				t.Fatal(err)
			}
			idle.msgID = tt.msgID
			p.idle = append(p.idle, idle)

			ctx := context.Background()
			err = p.Do(ctx, func(c *Conn) error {
				return WithTimeout(ctx, c, 300*time.Millisecond, func() error {
					_, err := c.Bind("uid=alice", "pw", nil)
					return err
				})
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want it to mention %q", err, tt.wantErr)
			}
			if got := opened.Load(); got != tt.wantFresh {
				t.Errorf("connections opened: got %d, want %d", got, tt.wantFresh)
			}
			wantIdle := tt.wantErr == "" || tt.name == "invalid credentials"
			if got := len(p.idle) == 1 && !p.idle[0].IsClosing(); got != wantIdle {
				t.Errorf("a connection idle afterwards: got %v, want %v", got, wantIdle)
			}
			if len(p.sem) != 0 {
				t.Errorf("got %d slots in use, want 0", len(p.sem))
			}
		})
	}
}

// TestPoolPanic checks that an operation that panics gives back its slot
// and closes its connection.
func TestPoolPanic(t *testing.T) {
	leakcheck.Check(t)
	client, server := net.Pipe()
	defer server.Close()
	c := newConn(client)
	p := NewPool("search", 1, time.Minute, func(context.Context) (*Conn, error) { return nil, errors.New("no dialing here") })
	defer p.Close()
	p.idle = append(p.idle, c)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		p.Do(context.Background(), func(*Conn) error { panic("boom") })
	}()
	if len(p.sem) != 0 {
		t.Errorf("got %d slots in use, want 0", len(p.sem))
	}
	if !c.IsClosing() || len(p.idle) != 0 {
		t.Errorf("connection kept after a panic (closing %v, %d idle)", c.IsClosing(), len(p.idle))
	}
}

// TestWithTimeoutEnded ends the context while an operation returns an
// LDAP result: the connection is closed by the time withTimeout returns,
// whether or not its AfterFunc has run, and not given back to the pool.
func TestWithTimeoutEnded(t *testing.T) {
	leakcheck.Check(t)
	client, server := net.Pipe()
	defer server.Close()
	c := newConn(client)
	p := NewPool("bind", 1, time.Minute, func(context.Context) (*Conn, error) { return nil, errors.New("no dialing here") })
	defer p.Close()
	p.idle = append(p.idle, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var closedOnReturn bool
	err := p.Do(ctx, func(c *Conn) error {
		err := WithTimeout(ctx, c, time.Second, func() error {
			cancel()
			return ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("wrong password"))
		})
		closedOnReturn = c.IsClosing()
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if !closedOnReturn {
		t.Error("connection open when withTimeout returned")
	}
	if len(p.idle) != 0 {
		t.Errorf("got %d idle connections, want 0", len(p.idle))
	}
}

// TestPoolWait queues for the one connection of a pool: the wait ends at
// the pool's own bound (OpTimeout) even when the caller's deadline is far
// off, at the caller's deadline when that comes first, and with the
// connection when it is given back in time. synctest's clock makes the
// times exact.
func TestPoolWait(t *testing.T) {
	const wait = time.Second
	tests := []struct {
		name     string
		deadline time.Duration // of the caller's context
		freeAt   time.Duration // when the busy connection is given back; 0: never
		want     error         // nil: a connection
		wantWait time.Duration
	}{
		{"gives up at the pool's bound", time.Hour, 0, ErrPoolWait, wait},
		{"caller's deadline first", wait / 2, 0, context.DeadlineExceeded, wait / 2},
		{"connection given back in time", time.Hour, wait / 4, nil, wait / 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client, server := net.Pipe()
				defer server.Close()
				p := NewPool("search", 1, wait, func(context.Context) (*Conn, error) { return newConn(client), nil })
				defer p.Close()
				busy, _, err := p.get(context.Background(), false)
				if err != nil {
					t.Fatal(err)
				}
				if tt.freeAt > 0 {
					time.AfterFunc(tt.freeAt, func() { p.put(busy, true) })
				} else {
					defer p.put(busy, false)
				}
				ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
				defer cancel()
				start := time.Now()
				c, _, err := p.get(ctx, false)
				waited := time.Since(start)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("got %v, want the connection", err)
					}
					p.put(c, true)
				} else if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				if waited != tt.wantWait {
					t.Errorf("waited %v, want %v", waited, tt.wantWait)
				}
			})
		})
	}
}
