package radiusd

import "sync/atomic"

// limiter bounds the requests being decided at once. New conversations may
// use all slots but a reserve; requests that carry State (a user answering
// a challenge, who has already passed the first factor) may use them all.
// Under overload the server therefore sheds new logins first and lets the
// ones half done finish, which is what frees capacity soonest.
type limiter struct {
	n       atomic.Int64
	max     int64
	reserve int64
}

// newLimiter returns a limiter of workers slots keeping 1/8 of them (at
// least one, when there are two or more) for State-carrying requests.
func newLimiter(workers int) *limiter {
	reserve := 0
	if workers >= 2 {
		reserve = max(1, workers/8)
	}
	return &limiter{max: int64(workers), reserve: int64(reserve)}
}

// acquire takes a slot if one is free for this kind of request. It never
// blocks: the read loop must keep reading whatever the Authenticator does.
func (l *limiter) acquire(hasState bool) bool {
	limit := l.max
	if !hasState {
		limit -= l.reserve
	}
	for {
		n := l.n.Load()
		if n >= limit {
			return false
		}
		if l.n.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release frees a slot taken by acquire.
func (l *limiter) release() { l.n.Add(-1) }
