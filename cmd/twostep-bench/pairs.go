package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"twostep/challenge/otp"
)

// pairs hands out the (user, device) pairs of passcode logins. A device
// accepts each TOTP step once, cluster-wide (replay protection), so a
// pair is used at most once per step: at thousands of logins a second the
// load needs many pairs, and when every pair of a step is taken, take
// says how long to wait for the next step instead of letting a replay
// through, and the wait is reported.
//
// Pairs are taken in an order that spreads both users and device
// positions: the k-th pair of a step is user k mod U, device
// (k/U + user) mod D. Consecutive logins hit different users (no two
// workers race on one user's records), and since the server tries a
// user's devices in order, every position is matched about as often.
type pairs struct {
	devs   [][]otp.TOTP // per user, in the users file's order
	nUsers int
	nDev   int // devices per user, the same for every user
	clock  otp.TOTP
	period time.Duration

	mu   sync.Mutex
	step int64 // the step being handed out
	next int   // pairs of step taken so far
}

// pair is one passcode login: whose device, and the step of its code.
type pair struct {
	user, device int
	step         int64
}

// newPairs checks that every user has the same number of devices, all
// with one period (so that a step means the same for each).
func newPairs(devs [][]otp.TOTP) (*pairs, error) {
	if len(devs) == 0 || len(devs[0]) == 0 {
		return nil, errors.New("no devices")
	}
	p := &pairs{devs: devs, nUsers: len(devs), nDev: len(devs[0]), clock: devs[0][0], period: totpPeriod(devs[0][0])}
	for u, ds := range devs {
		if len(ds) != p.nDev {
			return nil, fmt.Errorf("user %d of the users file has %d devices, the first has %d: want the same number for each", u+1, len(ds), p.nDev)
		}
		for _, d := range ds {
			if err := d.Validate(); err != nil {
				return nil, err
			}
			if totpPeriod(d) != p.period {
				return nil, errors.New("devices with different periods: want one period for all")
			}
		}
	}
	return p, nil
}

// totpPeriod is t's period, with the zero value's default.
func totpPeriod(t otp.TOTP) time.Duration {
	if t.Period == 0 {
		return 30 * time.Second
	}
	return t.Period
}

// size is the number of logins one step allows.
func (p *pairs) size() int { return p.nUsers * p.nDev }

// take returns the next unused pair of now's step. When all are used it
// returns false and how long until the next step begins.
func (p *pairs) take(now time.Time) (pair, time.Duration, bool) {
	s := p.clock.Step(now)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s > p.step {
		p.step, p.next = s, 0
	}
	if s < p.step || p.next >= p.size() {
		// s < p.step: a state file written by a clock ahead of ours.
		wait := p.stepStart(p.step + 1).Sub(now)
		if s < p.step {
			wait = p.stepStart(p.step).Sub(now)
		}
		return pair{}, max(wait, time.Millisecond), false
	}
	k := p.next
	p.next++
	u := k % p.nUsers
	return pair{user: u, device: (k/p.nUsers + u) % p.nDev, step: p.step}, 0, true
}

// stepStart is when step begins.
func (p *pairs) stepStart(step int64) time.Time {
	return time.Unix(step*int64(p.period/time.Second), 0)
}

// code is the passcode of pr.
func (p *pairs) code(pr pair) string { return p.devs[pr.user][pr.device].Code(pr.step) }

// digits is the code length of the devices.
func (p *pairs) digits() int { return len(p.clock.Code(0)) }

// state and resume carry the pairs used in a step from one run to the
// next (-pair-state): runs made one after the other within one step must
// not send the same codes again.
func (p *pairs) state() (step int64, next int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.step, p.next
}

func (p *pairs) resume(step int64, next int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step, p.next = step, min(max(next, 0), p.size())
}

// readPairState reads "STEP NEXT" from path; a missing file is a fresh
// start.
func readPairState(path string) (step int64, next int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%s: want \"STEP NEXT\"", path)
	}
	step, err1 := strconv.ParseInt(f[0], 10, 64)
	n, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || step < 0 || n < 0 {
		return 0, 0, fmt.Errorf("%s: want \"STEP NEXT\", two numbers", path)
	}
	return step, n, nil
}

// writePairState writes what readPairState reads.
func writePairState(path string, step int64, next int) error {
	return os.WriteFile(path, fmt.Appendf(nil, "%d %d\n", step, next), 0o600)
}

// readDevices reads a devices file ("USER otpauth://totp/..." lines, as
// written by "twostep-bench enroll") and returns each user's devices in
// the order of users. Errors name the line, never its text: it holds a
// seed.
func readDevices(path string, users []user) ([][]otp.TOTP, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byUser := map[string][]otp.TOTP{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, uri, ok := strings.Cut(line, " ")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: want USER otpauth://totp/LABEL?secret=SEED", path, n)
		}
		t, _, _, err := otp.ParseTOTPURI(strings.TrimSpace(uri))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		byUser[name] = append(byUser[name], t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	devs := make([][]otp.TOTP, len(users))
	for i, u := range users {
		if devs[i] = byUser[u.Name]; len(devs[i]) == 0 {
			return nil, fmt.Errorf("%s: user %q has no device", path, u.Name)
		}
	}
	return devs, nil
}
