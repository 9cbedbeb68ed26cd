//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package radiusd

import "syscall"

const reusePortSupported = false

func setReusePort(_, _ string, _ syscall.RawConn) error { return nil }
