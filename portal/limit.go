package portal

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The rate limits of this node's portal and push approval API. They
// slow a guesser down cheaply, on one node and in fixed one-minute
// windows; the cluster-wide lockout is what stops one.
//
// A sign-in step (password, passcode, recovery passcode, push) counts
// against three budgets, and goes through only while none is spent:
//   - per address and user name, SignInsPerMinute (default 10): what one
//     browser gets for one account;
//   - per user name whatever the address, SignInsPerMinute passwords that
//     did not sign in: a guesser spread over many addresses gets no more
//     tries at a password than one browser does (the price: while somebody
//     guesses at alice's password, alice waits too);
//   - per address, AddressSignInsPerMinute (default 10 × SignInsPerMinute):
//     the ceiling of a whole NAT. A guesser behind a campus NAT spends
//     their own budgets, and shuts the others out only when they try many
//     names.

// limiter counts attempts per key in a fixed window. Its memory is
// bounded: past maxLimiterKeys keys new ones are refused until the
// window ends (a flood of made-up names), and a key holds at most an
// address and a user name cut to maxUserKey bytes: a few tens of MB at
// worst.
type limiter struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	start  time.Time
	counts map[string]int
}

// maxLimiterKeys bounds a limiter's keys.
const maxLimiterKeys = 100000

func newLimiter(per time.Duration, now func() time.Time) *limiter {
	return &limiter{window: per, now: now, counts: map[string]int{}}
}

// limit is one budget an attempt counts against.
type limit struct {
	name string // for the log and the metric: one of the limit* constants
	key  string
	max  int
}

// Names of the limits (the limit label of twostep_portal_throttled_total
// and the limit field of the log).
const (
	limitAddressUser = "address_user"
	limitUser        = "user"
	limitAddress     = "address"
	limitDevice      = "device"
	limitCapacity    = "capacity" // the limiter's table is full
)

// allow counts one attempt against every limit, or against none when one
// is spent; refused names the spent one ("" when the attempt may go on)
// and wait is how long until the budgets free. A refused attempt uses up
// nothing, so a guesser who keeps trying past their own budget does not
// eat into the budgets they share with others (their address's).
func (l *limiter) allow(limits ...limit) (refused string, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= l.window {
		l.start, l.counts = now, map[string]int{}
	}
	wait = l.start.Add(l.window).Sub(now)
	fresh := 0
	for _, lim := range limits {
		n, seen := l.counts[lim.key]
		if n >= lim.max {
			return lim.name, wait
		}
		if !seen {
			fresh++
		}
	}
	if len(l.counts)+fresh > maxLimiterKeys {
		return limitCapacity, wait
	}
	for _, lim := range limits {
		l.counts[lim.key]++
	}
	return "", 0
}

// refund gives one attempt back to key. Across the end of a window it
// may give back one that the new window did not count: one attempt more
// at most.
func (l *limiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.counts[key]; n > 0 {
		l.counts[key] = n - 1
	}
}

// retryAfter tells the client, in whole seconds (at least one), when to
// try again, and returns them.
func retryAfter(w http.ResponseWriter, wait time.Duration) int {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// addressKey is what an address limit counts: the address, or for IPv6
// its /64, which one host or home usually holds whole (an attacker
// rotating through it is still one address).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a = a.Unmap(); a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// maxUserKey bounds a user name in a key: longer names are refused by
// the engine anyway (challenge's limit is 253 bytes).
const maxUserKey = 253

// userKey is what a user limit counts: the name without case, realm or
// domain, so that alice, ALICE, alice@example.edu and EXAMPLE\alice share
// one budget.
func userKey(user string) string {
	u := strings.ToLower(strings.TrimSpace(user))
	if i := strings.LastIndexByte(u, '\\'); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.IndexByte(u, '@'); i >= 0 {
		u = u[:i]
	}
	if len(u) > maxUserKey {
		u = u[:maxUserKey]
	}
	return u
}

func userLimitKey(user string) string { return "u " + userKey(user) }

// allowSignIn counts one sign-in step of user from this request's
// address; password says it is a password (the per-user limit counts
// passwords only: the lockout counts codes). When a budget is spent it
// sets Retry-After, counts and logs the refusal (at most a line a
// second), and returns false for the caller to answer 429.
func (p *Portal) allowSignIn(w http.ResponseWriter, r *http.Request, user string, password bool) bool {
	ip := p.remoteIP(r)
	addr, name := addressKey(ip), userKey(user)
	limits := []limit{{limitAddressUser, "au " + addr + " " + name, p.cfg.SignInsPerMinute}}
	if password {
		limits = append(limits, limit{limitUser, userLimitKey(user), p.cfg.SignInsPerMinute})
	}
	limits = append(limits, limit{limitAddress, "a " + addr, p.cfg.AddressSignInsPerMinute})
	refused, wait := p.limits.allow(limits...)
	if refused == "" {
		return true
	}
	secs := retryAfter(w, wait)
	p.cfg.Metrics.throttle(endpointSignIn, refused)
	p.logs.Event(&p.log, zerolog.WarnLevel, "signin_throttled").Str("limit", refused).Str("user", user[:min(len(user), maxUserKey)]).
		Str("remote", ip).Str("path", r.URL.Path).Int("retry_after", secs).Msg("portal: sign-in attempts refused (429)")
	return false
}
