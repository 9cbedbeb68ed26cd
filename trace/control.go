package trace

import (
	"context"
	"strings"
	"time"

	"twostep/cluster"
)

// retryEvery is how long a lost watch of the trace requests waits
// before it starts again (a store not reached yet loses each at once).
const retryEvery = time.Second

// follow keeps t.set as the trace requests say, until ctx ends: one
// watch of trace/requests/, started again when lost.
func (t *Tracing) follow(ctx context.Context) {
	for {
		t.watch(ctx)
		wait := time.NewTimer(retryEvery)
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
	}
}

// watch follows one watch until it is lost or ctx ends. Once the watch is
// in place it reads every request, so none written before is missed; a
// request's end is kept by a timer, since its key may outlive it (a
// lease only cleans up, and the memory store never reports one's end).
func (t *Tracing) watch(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := t.store.Watch(wctx, cluster.TraceRequestsPrefix)
	requests := map[string]cluster.TraceRequest{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch {
			case ev.Created:
				entries, err := t.store.List(wctx, cluster.TraceRequestsPrefix)
				if err != nil {
					return // started again, and read again
				}
				clear(requests)
				for _, e := range entries {
					if r, err := cluster.DecodeTraceRequest(e); err == nil {
						requests[e.Key] = r
					}
				}
			case ev.Deleted:
				delete(requests, ev.Entry.Key)
			default:
				r, err := cluster.DecodeTraceRequest(ev.Entry)
				if err != nil {
					delete(requests, ev.Entry.Key)
				} else {
					requests[ev.Entry.Key] = r
				}
			}
		case <-timer.C:
		}
		next := t.publish(requests)
		timer.Reset(next)
	}
}

// publish makes the requests not yet ended the traced set, and returns
// how long until the first of them ends (an hour when none is left).
func (t *Tracing) publish(requests map[string]cluster.TraceRequest) time.Duration {
	now := t.now()
	next := time.Hour
	set := &tracedSet{names: map[string]tracedUser{}}
	for key, r := range requests {
		ends := r.Ends()
		if !now.Before(ends) {
			continue
		}
		// The key names the user; the value's name is taken only as the
		// same user's (a value copied to another key traces nobody else).
		user := strings.TrimPrefix(key, cluster.TraceRequestsPrefix)
		if cluster.UserKey(r.User) != user {
			continue
		}
		u := tracedUser{user: strings.ToLower(r.User), ends: ends}
		set.names[normalName(r.User)] = u
		if r.Typed != "" {
			set.names[normalName(r.Typed)] = u
		}
		set.users++
		next = min(next, ends.Sub(now))
	}
	if set.users == 0 {
		set = nil
	}
	t.set.Store(set)
	t.metrics.setActive(t.Traced())
	return max(next, time.Millisecond)
}
