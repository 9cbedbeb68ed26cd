package main

import (
	"os"
	"testing"
	"time"
)

func TestProcessCPUTime(t *testing.T) {
	before, err := processCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sysBefore, err := systemCPUBusy()
	if err != nil {
		t.Fatal(err)
	}
	// Burn 100 ms of CPU as getrusage counts it (wall time would not do on
	// a busy machine); /proc counts in 10 ms ticks.
	start := cpuTime()
	x := 0
	for cpuTime()-start < 100*time.Millisecond {
		x++
	}
	after, err := processCPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sysAfter, err := systemCPUBusy()
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 70*time.Millisecond {
		t.Errorf("process CPU time grew by %v over 100ms of spinning, want about 100ms (x=%d)", d, x)
	}
	if d := sysAfter - sysBefore; d < 70*time.Millisecond {
		t.Errorf("system busy time grew by %v over 100ms of spinning, want at least about 100ms", d)
	}
	if _, err := processCPUTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
