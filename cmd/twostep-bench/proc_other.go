//go:build !linux

package main

import (
	"errors"
	"time"
)

// processCPUTime needs /proc; elsewhere -server-pid is refused.
func processCPUTime(pid int) (time.Duration, error) {
	return 0, errors.New("-server-pid needs Linux /proc")
}

// systemCPUBusy is not measured on this platform.
func systemCPUBusy() (time.Duration, error) {
	return 0, errors.New("needs Linux /proc")
}
