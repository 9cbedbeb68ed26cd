//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package radiusd

import (
	"io"
	"net"
	"syscall"
)

const reusePortSupported = false

func setReusePort(_, _ string, _ syscall.RawConn) error { return nil }

// lockPort is never called without SO_REUSEPORT: a single socket shares
// its port with nobody.
func lockPort(string, *net.UDPAddr) (io.Closer, error) { return nil, nil }
