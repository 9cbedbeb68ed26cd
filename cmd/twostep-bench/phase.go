package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// phase is a closed-loop run of workers that drive a server directly (a
// directory, a store), timed and measured as the RADIUS load is.
type phase struct {
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	ServerPID   int // the server driven, whose CPU is measured; 0: none
}

// run starts Concurrency workers, each running work(i, measureStart, end)
// to the end of the phase, samples the CPU clocks when the measured phase
// begins and after the last worker returns, and sums the workers'
// tallies. The first error of a worker (while ctx lasts) is returned
// instead of the figures, which would then mean nothing.
func (p phase) run(ctx context.Context, work func(i int, measureStart, end time.Time) (tally, error)) (loadResult, error) {
	start := time.Now()
	measureStart := start.Add(p.Warmup)
	end := measureStart.Add(p.Duration)
	results := make([]tally, p.Concurrency)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range p.Concurrency {
		wg.Go(func() {
			t, err := work(i, measureStart, end)
			results[i] = t
			if err != nil && ctx.Err() == nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	timer := time.NewTimer(time.Until(measureStart))
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	pids := [3]int{p.ServerPID}
	c0 := sampleCPU(pids)
	wg.Wait()
	wallEnd := time.Now()
	if wallEnd.After(end) {
		wallEnd = end
	}
	c1 := sampleCPU(pids)
	if err, _ := failed.Load().(error); err != nil {
		return loadResult{}, err
	}
	var res loadResult
	for i := range results {
		res.add(&results[i])
	}
	res.Elapsed = max(wallEnd.Sub(measureStart), 0)
	res.setCPU(c0, c1)
	res.Interrupted = ctx.Err() != nil
	return res, nil
}
