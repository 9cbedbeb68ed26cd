package challenge

import (
	"context"
	"errors"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// The passcode flow: a code from an authenticator app or a hardware
// token (or a bypass code) checked against the user's devices, its step
// taken once cluster-wide, a wrong one counted toward lockout.

// Reasons of passcode checks.
const (
	ReasonBadPasscode      Reason = "bad_passcode"
	ReasonPasscodeReplayed Reason = "passcode_replayed"
)

// verify checks code for acct and records the outcome. When another node
// changed the records meanwhile (cluster.ErrConflict) it loads them
// again and decides again: a lock that landed wins, a step another node
// took is a replay.
func (e *Engine) verify(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, error) {
	var d Decision
	acct, err := e.retryOn(ctx, acct, acct.Name, "check a passcode", func(ctx context.Context, acct *cluster.Account) error {
		if acct.Lockout.Locked(now) {
			d = e.lockedOut(acct.Lockout)
			return nil
		}
		var err error
		d, err = e.checkCode(ctx, acct, code, now)
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	return withProblems(d, acct), nil
}

// nasContext bounds a passcode check by what req's NAS waits: past that,
// nobody hears the answer, and a check that kept meeting other nodes'
// writes gives up (a plain Reject) instead of holding a worker.
func nasContext(ctx context.Context, req *Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, req.Login.Wait())
}

// checkCode validates code against acct's devices, then its bypass
// codes, and records the outcome: the accepted step (once,
// cluster-wide) or a failure toward lockout. cluster.ErrConflict asks
// the caller to load and check again; other errors are store failures.
func (e *Engine) checkCode(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, error) {
	replayed := false
	for _, dev := range acct.Devices {
		last := int64(-1)
		if u, ok := acct.Used[dev.ID]; ok {
			last = u.Step
		}
		var step int64
		switch dev.Type {
		case cluster.TOTP:
			t := otp.TOTP{Secret: dev.Secret, Algorithm: otp.Algorithm(dev.Algorithm), Digits: dev.Digits, Period: dev.Period}
			s, ok := t.Check(code, now, last, e.sf.cfg.Window)
			if !ok {
				if s, matched := t.Check(code, now, -1, e.sf.cfg.Window); matched && s <= last {
					replayed = true
				}
				continue
			}
			step = s
		case cluster.HOTP:
			// The used step of an HOTP device is its last accepted
			// counter; the look-ahead starts after it.
			h := otp.HOTP{Secret: dev.Secret, Algorithm: otp.Algorithm(dev.Algorithm), Digits: dev.Digits}
			next, ok := h.Check(code, uint64(last+1), e.sf.cfg.HOTPWindow)
			if !ok {
				replayed = replayed || hotpReplay(h, code, last, e.sf.cfg.HOTPWindow)
				continue
			}
			step = int64(next) - 1
		default:
			continue
		}
		err := e.sf.accounts.Accept(ctx, acct, dev, step, now)
		if errors.Is(err, cluster.ErrReplay) {
			replayed = true
			continue
		}
		if err != nil {
			return Decision{}, err
		}
		return Decision{Outcome: Accept, Reason: ReasonOK, Device: dev.Name, DeviceID: dev.ID, Factor: passcodeFactor(dev.Type)}, nil
	}
	if len(acct.Bypass) > 0 {
		d, done, err := e.useBypass(ctx, acct, code, now)
		if done || err != nil {
			return d, err
		}
	}
	if replayed {
		// A code already taken (the same code sent twice, a NAS failing
		// over, a code seen over a shoulder): refused, but not a guess, so
		// it does not count toward lockout.
		return Decision{Outcome: Reject, Reason: ReasonPasscodeReplayed}, nil
	}
	return e.fail(ctx, acct, code, now)
}

// passcodeFactor is the factor of an accepted passcode of a device of
// type t.
func passcodeFactor(t cluster.DeviceType) Factor {
	if t == cluster.HOTP {
		return FactorHOTP
	}
	return FactorTOTP
}

// hotpReplay reports whether code is one of the window codes an HOTP
// token showed up to last, its last accepted counter: a code already
// taken, not a guess (as a TOTP code of a used step).
func hotpReplay(h otp.HOTP, code string, last int64, window int) bool {
	if last < 0 {
		return false
	}
	first := max(last+1-int64(window), 0)
	_, ok := h.Check(code, uint64(first), int(last-first+1))
	return ok
}
