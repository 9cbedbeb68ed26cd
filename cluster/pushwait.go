package cluster

// The push waiter: how a node learns that a device answered a push it is
// waiting on, whichever node's approval API recorded the answer. One
// watch over push/ per process feeds every waiting login (Wait, Await);
// a lost watch is started again and the waiters re-read, so no answer is
// missed.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Wait returns push id once it is answered, or as it stands when ctx
// ends (still pending, perhaps expired: the caller checks and decides
// what to answer the NAS). It returns an error only when the push cannot
// be read at all.
func (ps *Pushes) Wait(ctx context.Context, id string) (*Push, error) {
	type result struct {
		p   *Push
		err error
	}
	ch := make(chan result, 1)
	ps.Await(ctx, id, 0, func(p *Push, err error) { ch <- result{p, err} })
	r := <-ch
	return r.p, r.err
}

// Await calls done once, on a goroutine of its own: with push id when it
// is answered, or as it stands when ctx ends or after wait (when
// positive). A login waiting this way costs no goroutine and no etcd call
// while it waits: one watch per process over every push tells the
// waiters, with the pushes' new values. done gets an error only when the
// push cannot be read at all (ErrNotFound once it is cleaned up).
func (ps *Pushes) Await(ctx context.Context, id string, wait time.Duration, done func(*Push, error)) {
	w := &pushWaiter{id: id, done: done}
	// fire takes w.mu after winning, so it sees the timer and the
	// context hook, whichever of them (or the watch) ends the wait first.
	w.mu.Lock()
	ps.addWaiter(w)
	if wait > 0 {
		w.timer = time.AfterFunc(wait, func() { ps.finish(w) })
	}
	w.stop = context.AfterFunc(ctx, func() { ps.finish(w) })
	w.mu.Unlock()
	// The first read comes after the waiter is in place, so an answer
	// recorded meanwhile is seen by one or the other.
	go ps.check(w)
}

// pushWaiter is one login waiting for a push.
type pushWaiter struct {
	id    string
	done  func(*Push, error)
	mu    sync.Mutex // guards timer and stop while Await sets them
	timer *time.Timer
	stop  func() bool
	fired atomic.Bool
	// last is the push as last read, for a wait that ends pending.
	last atomic.Pointer[Push]
}

// check reads w's push and ends the wait when it is answered.
func (ps *Pushes) check(w *pushWaiter) {
	if w.fired.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := ps.Get(ctx, w.id)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTampered):
		ps.fire(w, nil, err)
	case err != nil:
		// The store did not answer: keep waiting; the watch, the timer
		// or the context ends the wait, with a read of its own.
	case p.State.Final():
		ps.fire(w, p, nil)
	default:
		w.last.Store(p)
	}
}

// finish ends w's wait as its push stands, read once more (or as last
// read, when the store does not answer).
func (ps *Pushes) finish(w *pushWaiter) {
	if w.fired.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	p, err := ps.Get(ctx, w.id)
	cancel()
	if err != nil {
		if last := w.last.Load(); last != nil {
			p, err = last, nil
		}
	}
	ps.fire(w, p, err)
}

// fire calls w's done once.
func (ps *Pushes) fire(w *pushWaiter, p *Push, err error) {
	if !w.fired.CompareAndSwap(false, true) {
		return
	}
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.stop != nil {
		w.stop()
	}
	w.mu.Unlock()
	ps.removeWaiter(w)
	w.done(p, err)
}

// Close stops the watch behind Wait.
func (ps *Pushes) Close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.stop != nil {
		ps.stop()
	}
	ps.running = false
}

func (ps *Pushes) addWaiter(w *pushWaiter) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	set := ps.waiters[w.id]
	if set == nil {
		set = make(map[*pushWaiter]struct{})
		ps.waiters[w.id] = set
	}
	set[w] = struct{}{}
	if !ps.running {
		ps.running = true
		ctx, cancel := context.WithCancel(context.Background())
		ps.stop = cancel
		go ps.watch(ctx)
	}
}

func (ps *Pushes) removeWaiter(w *pushWaiter) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.waiters[w.id], w)
	if len(ps.waiters[w.id]) == 0 {
		delete(ps.waiters, w.id)
	}
}

// waitersOf returns the waiters of id, or every waiter for id "".
func (ps *Pushes) waitersOf(id string) []*pushWaiter {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []*pushWaiter
	if id != "" {
		for w := range ps.waiters[id] {
			out = append(out, w)
		}
		return out
	}
	for _, set := range ps.waiters {
		for w := range set {
			out = append(out, w)
		}
	}
	return out
}

// watch follows push/ and ends the waits of each push answered, with the
// value the watch carries (no read). When the watch is (re)established
// every waiter reads its push again, since changes in between were
// missed; a store that is down is retried every second.
func (ps *Pushes) watch(ctx context.Context) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(ctx)
		for ev := range ps.store.Watch(wctx, "push/") {
			switch {
			case ev.Created:
				// Every waiter reads again, 16 at a time: after a leader
				// change thousands may wait on this node.
				go func(ws []*pushWaiter) {
					sem := make(chan struct{}, 16)
					for _, w := range ws {
						sem <- struct{}{}
						go func() {
							defer func() { <-sem }()
							ps.check(w)
						}()
					}
				}(ps.waitersOf(""))
			case ev.Deleted:
				for _, w := range ps.waitersOf(pushIDFromKey(ev.Entry.Key)) {
					go ps.check(w)
				}
			default:
				ws := ps.waitersOf(pushIDFromKey(ev.Entry.Key))
				if len(ws) == 0 {
					continue
				}
				p, err := ps.decode(ev.Entry)
				switch {
				case errors.Is(err, ErrTampered):
					// A login waits on a record edited without the key
					// file: it ends now, refused.
					for _, w := range ws {
						go ps.fire(w, nil, err)
					}
				case err == nil && p.State.Final():
					for _, w := range ws {
						go ps.fire(w, p, nil)
					}
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
