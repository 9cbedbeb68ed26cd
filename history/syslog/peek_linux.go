package syslog

import (
	"errors"
	"net"
	"syscall"
)

// peek looks at conn's socket without reading from it or waiting: closed
// when the peer has closed or reset the connection, data when bytes wait
// to be read.
func peek(conn net.Conn) (closed, data bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true, false
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // asked once: never wait
	})
	switch {
	case err != nil:
		return true, false
	case errors.Is(rerr, syscall.EAGAIN):
		return false, false
	case rerr != nil: // a reset
		return true, false
	}
	return n == 0, n > 0 // nothing to read but the end: closed
}
