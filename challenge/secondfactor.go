package challenge

import (
	"context"
	"fmt"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// The second factor: what a user whose password was right must give
// besides, by the client's mode and the user's devices (a passcode, a
// push, a menu of both), and its settings.

// ReasonPasscodeRequested: an Access-Challenge asked for a passcode.
const ReasonPasscodeRequested Reason = "passcode_requested"

// Passcodes configures the second factor: passcode checks, lockout,
// users without a device and challenge rounds.
type Passcodes struct {
	// Window is how many TOTP steps around now are accepted; the zero
	// value accepts now's step only (the configuration's default,
	// DefaultPasscodesConfig's, is one back, none ahead:
	// otp.DefaultWindow).
	Window otp.Window
	// Lockout locks a user after consecutive failed second factors; the
	// zero value never locks (the configuration's default,
	// DefaultPasscodesConfig's, is DefaultLockoutAttempts attempts,
	// locked DefaultLockoutDuration).
	Lockout cluster.LockoutPolicy
	// Unenrolled decides for users without a device; default deny.
	Unenrolled Unenrolled
	// ChallengeTTL is how long an Access-Challenge waits for its answer;
	// default 2 minutes.
	ChallengeTTL time.Duration
	// ChallengeAttempts is how many answers one challenge takes; default 3.
	ChallengeAttempts int
	// Prompt is the Reply-Message of the Access-Challenge; default
	// "Enter a passcode from your authenticator app:".
	Prompt string
	// HOTPWindow is how many counters ahead of the last accepted one an
	// HOTP token's code is looked for; ResyncWindow the same for
	// resynchronisation with two codes. The configuration's defaults are
	// 10 and 100.
	HOTPWindow   int
	ResyncWindow int
}

// Defaults of Passcodes, written once.
const (
	DefaultLockoutAttempts   = 10
	DefaultLockoutDuration   = 15 * time.Minute
	DefaultChallengeTTL      = 2 * time.Minute
	DefaultChallengeAttempts = 3
	DefaultPrompt            = "Enter a passcode from your authenticator app:"
)

func (p Passcodes) withDefaults() Passcodes {
	if p.HOTPWindow <= 0 {
		p.HOTPWindow = otp.DefaultHOTPWindow
	}
	if p.ResyncWindow <= 0 {
		p.ResyncWindow = otp.DefaultResyncWindow
	}
	if p.ChallengeTTL <= 0 {
		p.ChallengeTTL = DefaultChallengeTTL
	}
	if p.ChallengeAttempts <= 0 {
		p.ChallengeAttempts = DefaultChallengeAttempts
	}
	if p.Prompt == "" {
		p.Prompt = DefaultPrompt
	}
	if p.Unenrolled.Message == "" {
		p.Unenrolled.Message = msgNotEnrolled
	}
	return p
}

// secondFactor holds what every second factor needs: its settings, the
// users' records and the challenge rounds, in the cluster.
type secondFactor struct {
	cfg        Passcodes
	accounts   *cluster.Accounts
	challenges *cluster.Challenges
}

// require decides for user, whose password was right and whose policy
// rule asks for a second factor, with what in holds besides the password.
func (e *Engine) require(ctx context.Context, req *Request, user string, rule GroupRule, in typed) (Decision, error) {
	now := e.now()
	acct, err := e.sf.accounts.Load(ctx, user)
	if err != nil {
		return e.failMode(req, rule, err)
	}
	req.stepf("account", "loaded", func() string { return accountDetail(acct) })
	if acct.Lockout.Locked(now) {
		req.stepf("lockout", "locked", func() string { return lockDetail(acct.Lockout) })
		return withProblems(e.lockedOut(acct.Lockout), acct), nil
	}
	if len(acct.Devices) == 0 && !anyUsable(acct.Bypass, now) && !(in.hasCode && len(acct.Bypass) > 0) {
		// No device and no bypass code (an expired one typed in the
		// password box is still checked, so the log says why it failed).
		d, err := e.unenrolled(ctx, req, acct, rule, now)
		return withProblems(d, acct), err
	}
	if in.hasCode {
		vctx, cancel := nasContext(ctx, req)
		defer cancel()
		d, err := e.verify(vctx, acct, in.code, now)
		if err != nil {
			// Once a code is being checked the fail mode is over: a wrong
			// code must never pass because the store slowed down under a
			// burst of guesses. The RADIUS layer answers a plain Reject.
			req.step("passcode", "error", "the check could not be completed or counted (see the log)")
			return Decision{}, fmt.Errorf("challenge: %w", err)
		}
		req.stepf("passcode", string(d.Reason), func() string { return passcodeDetail(acct, d) })
		if d.Outcome == Accept {
			d.Attributes = rule.Reply
		}
		return d, nil
	}
	if e.push != nil {
		devs := pushDevices(acct)
		switch {
		case in.push >= 0:
			d, err := e.startPush(ctx, req, acct, rule, in.push)
			return withProblems(d, acct), err
		case len(devs) > 0 && req.Login.Mode == ModeAuto:
			d, err := e.startPush(ctx, req, acct, rule, 0)
			return withProblems(d, acct), err
		case len(devs) > 0 && req.Login.Mode == ModeChallenge:
			return e.pushMenu(ctx, req, acct, rule, devs)
		}
	}
	if req.Login.Mode == ModeAppend {
		// No passcode where one was expected: the password alone is not a
		// login, and no hint is given that it was right.
		req.step("passcode", "missing", "append mode, and no passcode after the separator")
		return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, nil
	}
	state, err := e.newRound(ctx, req, cluster.Pending{Account: acct.Name, Created: now, Expires: now.Add(e.sf.cfg.ChallengeTTL)},
		roundData{Reply: rule.Reply})
	if err != nil {
		return e.failMode(req, rule, err)
	}
	return withProblems(Decision{Outcome: Ask, Reason: ReasonPasscodeRequested, Message: e.sf.cfg.Prompt, State: state, Factor: FactorPassword}, acct), nil
}
