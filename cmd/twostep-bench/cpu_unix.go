//go:build unix

package main

import (
	"syscall"
	"time"
)

// cpuTime returns the user and system CPU time this process has used, so
// that the report can show what the generator itself cost: on a small
// machine it shares the cores with the server it measures.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
