package main

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestGroup checks the run group's contract: the first actor to return
// ends the group, every interrupt is called once, in the order the actors
// were added, with the first's error, and run returns only when every
// actor has, leaving no goroutine behind.
func TestGroup(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Run("empty", func(t *testing.T) {
		var g group
		if err := g.run(); err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})
	for _, tt := range []struct {
		name  string
		first int // the actor that returns by itself
		err   error
	}{
		{"first actor ends with nil", 0, nil},
		{"last actor fails", 2, errors.New("boom")},
		{"middle actor fails", 1, errors.New("bang")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3
			var (
				g           group
				mu          sync.Mutex
				interrupted []int
				got         []error
				returned    [n]bool
			)
			stops := make([]chan struct{}, n)
			for i := range n {
				stops[i] = make(chan struct{})
				g.add(func() error {
					if i == tt.first {
						mu.Lock()
						returned[i] = true
						mu.Unlock()
						return tt.err
					}
					<-stops[i]
					mu.Lock()
					returned[i] = true
					mu.Unlock()
					return errors.New("interrupted")
				}, func(err error) {
					mu.Lock()
					interrupted = append(interrupted, i)
					got = append(got, err)
					mu.Unlock()
					if i != tt.first {
						close(stops[i])
					}
				})
			}
			if err := g.run(); err != tt.err {
				t.Errorf("run: got %v, want %v", err, tt.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []int{0, 1, 2}; !slices.Equal(interrupted, want) {
				t.Errorf("interrupted: got %v, want %v", interrupted, want)
			}
			for i, err := range got {
				if err != tt.err {
					t.Errorf("interrupt %d: got %v, want %v", i, err, tt.err)
				}
			}
			for i, r := range returned {
				if !r {
					t.Errorf("actor %d still running when run returned", i)
				}
			}
		})
	}
}

// TestGroupInterruptBlocks checks that an interrupt that blocks (a server
// draining its requests) holds the next interrupt back until it returns.
func TestGroupInterruptBlocks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var g group
	stop, drained, last := make(chan struct{}), make(chan struct{}), make(chan struct{})
	g.add(func() error { return nil }, func(error) {})
	g.add(func() error {
		<-stop
		close(drained)
		return nil
	}, func(error) {
		close(stop)
		<-drained // Shutdown returns once the requests in flight are done
	})
	var drainedFirst bool
	g.add(func() error { <-last; return nil }, func(error) {
		select {
		case <-drained:
			drainedFirst = true
		default:
		}
		close(last)
	})
	g.run()
	if !drainedFirst {
		t.Error("the next interrupt ran before the drain ended")
	}
}
