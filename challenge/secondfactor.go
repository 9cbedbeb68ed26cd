package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// Passcodes configures the passcode second factor.
type Passcodes struct {
	// Window is how many TOTP steps around now are accepted; the zero
	// value accepts now's step only (the configuration's default is one
	// back, none ahead: DefaultWindow).
	Window otp.Window
	// Lockout locks a user after consecutive failed second factors; the
	// zero value never locks (the configuration's default is 10 attempts,
	// locked 15 minutes).
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

// Unenrolled decides for a user whose password is right but who has no
// second-factor device.
type Unenrolled struct {
	// Allow lets them in with the password alone during Grace; false (the
	// default) rejects with Message.
	Allow bool
	// Grace counts from the user's first login seen by the cluster; 0
	// allows without end.
	Grace time.Duration
	// Message tells a rejected user what to do; default msgNotEnrolled.
	Message string
}

// Defaults of Passcodes, written once.
const (
	DefaultLockoutAttempts   = 10
	DefaultLockoutDuration   = 15 * time.Minute
	DefaultChallengeTTL      = 2 * time.Minute
	DefaultChallengeAttempts = 3
	DefaultPrompt            = "Enter a passcode from your authenticator app:"
)

// Messages of the second factor.
const (
	msgNotEnrolled = "You have no second-factor device. Ask the help desk to enroll one, then log in again."
	msgWrongCode   = "Wrong passcode. Try again:"
	msgTimedOut    = "Your login timed out. Log in again."
	msgLoginOver   = "This login was already finished or has expired. Log in again." // a State spent, unknown or not this user's
	msgLockedOut   = "Too many wrong passcodes: your account is locked. Contact the help desk to unlock it."
	msgLockedFraud = "Your account is locked: you reported a login as not yours. Contact the help desk."
	msgLockedAdmin = "Your account is locked by the help desk. Contact them to unlock it."
	msgUnavailable = "The second-factor service is unavailable. Try again in a few minutes."
)

// Reasons of the second factor.
const (
	ReasonBadPasscode       Reason = "bad_passcode"
	ReasonPasscodeReplayed  Reason = "passcode_replayed"
	ReasonNotEnrolled       Reason = "not_enrolled"
	ReasonUnenrolledGrace   Reason = "unenrolled_grace"
	ReasonLockedOut         Reason = "locked_out"
	ReasonChallengeExpired  Reason = "challenge_expired"
	ReasonBadState          Reason = "bad_state"
	ReasonPasscodeRequested Reason = "passcode_requested"
	ReasonFailSafe          Reason = "failmode_safe"
	ReasonFailSecure        Reason = "failmode_secure"
	ReasonBypass            Reason = "bypass_code"
	ReasonBypassExpired     Reason = "bypass_expired"
	ReasonBypassUsedUp      Reason = "bypass_used_up"
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

// secondFactor holds what the passcode factor needs: settings and the
// cluster's records.
type secondFactor struct {
	cfg        Passcodes
	accounts   *cluster.Accounts
	challenges *cluster.Challenges
}

// pendingData is what a challenge remembers of the first round.
type pendingData struct {
	Reply []Attribute `json:"reply,omitempty"`
	// Push is set when the challenge waits on a push or offers a menu.
	Push *pendingPush `json:"push,omitempty"`
}

// round is a challenge round being answered: its record, and what the
// record remembers of the first round.
type round struct {
	p    *cluster.Pending
	data pendingData
}

// require decides for user, whose password was right and whose policy
// rule asks for a second factor, with what in holds besides the password.
func (e *Engine) require(ctx context.Context, req *Request, user string, rule GroupRule, in typed) (Decision, error) {
	now := e.now()
	acct, err := e.sf.accounts.Load(ctx, user)
	if err != nil {
		return e.failMode(req, rule, err)
	}
	if acct.Lockout.Locked(now) {
		return withProblems(lockedOut(acct.Lockout), acct), nil
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
			return Decision{}, fmt.Errorf("challenge: %w", err)
		}
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
		case len(devs) > 0 && req.Login.Mode == Auto:
			d, err := e.startPush(ctx, req, acct, rule, 0)
			return withProblems(d, acct), err
		case len(devs) > 0 && req.Login.Mode == Prompt:
			return e.pushMenu(ctx, req, acct, rule, devs)
		}
	}
	if req.Login.Mode == Append {
		// No passcode where one was expected: the password alone is not a
		// login, and no hint is given that it was right.
		return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, nil
	}
	data, err := json.Marshal(pendingData{Reply: rule.Reply})
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	state, err := e.sf.challenges.Create(ctx, cluster.Pending{
		User: req.User, Account: acct.Name, Client: req.Client, NAS: req.Source.Addr().String(),
		Created: now, Expires: now.Add(e.sf.cfg.ChallengeTTL),
		AttemptsLeft: e.sf.cfg.ChallengeAttempts, Data: data,
	})
	if err != nil {
		return e.failMode(req, rule, err)
	}
	return withProblems(Decision{Outcome: Challenge, Reason: ReasonPasscodeRequested, Message: e.sf.cfg.Prompt, State: state}, acct), nil
}

// verify checks code for acct and records the outcome. When another node
// changed the records meanwhile (cluster.ErrConflict) it loads them
// again and decides again: a lock that landed wins, a step another node
// took is a replay.
func (e *Engine) verify(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, error) {
	var d Decision
	acct, err := e.retryOn(ctx, acct, acct.Name, "check a passcode", func(ctx context.Context, acct *cluster.Account) error {
		if acct.Lockout.Locked(now) {
			d = lockedOut(acct.Lockout)
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

// retryOn runs decide on the account name, as acct holds it (nil: loaded
// first), and whenever decide returns cluster.ErrConflict loads the
// account again and runs decide again, through cluster.Retry, until ctx
// ends. It returns the account decide last saw.
func (e *Engine) retryOn(ctx context.Context, acct *cluster.Account, name, what string, decide func(context.Context, *cluster.Account) error) (*cluster.Account, error) {
	err := cluster.Retry(ctx, fmt.Sprintf("%s of %q", what, name), func(ctx context.Context) error {
		if acct == nil {
			a, err := e.sf.accounts.Load(ctx, name)
			if err != nil {
				return err
			}
			acct = a
		}
		err := decide(ctx, acct)
		if errors.Is(err, cluster.ErrConflict) {
			acct = nil // read again
		}
		return err
	})
	return acct, err
}

// withProblems adds the records Load skipped to d's log (to the final
// decision, when d is left open).
func withProblems(d Decision, acct *cluster.Account) Decision {
	if len(acct.Problems) == 0 {
		return d
	}
	return d.then(func(d Decision) Decision {
		d.Err = errors.Join(append([]error{d.Err}, acct.Problems...)...)
		return d
	})
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
		return Decision{Outcome: Accept, Reason: ReasonOK, Device: dev.Name}, nil
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

// useBypass tries code as one of acct's bypass codes. done is false when
// no code matches, so the caller counts a failure.
func (e *Engine) useBypass(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, bool, error) {
	b, err := e.sf.accounts.UseBypass(ctx, acct, code, now)
	switch {
	case errors.Is(err, cluster.ErrNoCode):
		return Decision{}, false, nil
	case errors.Is(err, cluster.ErrCodeExpired):
		// The right code, too late: not a guess, no lockout count.
		return Decision{Outcome: Reject, Reason: ReasonBypassExpired, Device: "bypass " + b.ID}, true, nil
	case errors.Is(err, cluster.ErrCodeUsedUp):
		return Decision{Outcome: Reject, Reason: ReasonBypassUsedUp, Device: "bypass " + b.ID}, true, nil
	case err != nil:
		return Decision{}, true, err
	}
	d := Decision{Outcome: Accept, Reason: ReasonBypass, Device: "bypass " + b.ID}
	if e.audit != nil {
		uses := "unlimited uses"
		if b.MaxUses > 0 {
			uses = fmt.Sprintf("use %d of %d", b.Used, b.MaxUses)
		}
		err := e.audit.Record(ctx, cluster.Event{Time: now, Action: "bypass.use", Actor: e.actor, User: acct.Name,
			Detail: fmt.Sprintf("code %s (%s), %s, expires %s", b.ID, b.Profile, uses, b.Expires.Format(time.RFC3339))})
		if err != nil {
			d.Err = err // the login stands; the log line carries the event
		}
	}
	return d, true, nil
}

// anyUsable reports whether one of codes may log in at now.
func anyUsable(codes []cluster.Bypass, now time.Time) bool {
	for _, b := range codes {
		if b.Usable(now) {
			return true
		}
	}
	return false
}

// ErrUncounted: a wrong second factor whose failure could not be
// recorded toward lockout in time (the records kept changing under a
// burst of guesses until the request's deadline, or the store stopped
// answering). Such a code is never answered as merely wrong: the request
// ends in an error, which the RADIUS layer answers with a plain Reject
// (no "try again") and counts as an error, and the client's fail mode
// does not apply.
var ErrUncounted = errors.New("challenge: a wrong second factor could not be counted toward lockout")

// fail counts a wrong second factor and says whether it locked the user.
// The answer waits for the count, so that between two unlocks at most
// the lockout's attempts of wrong codes are answered, at any concurrency.
func (e *Engine) fail(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, error) {
	l, err := e.sf.accounts.Fail(ctx, acct, code, e.sf.cfg.Lockout, now)
	if err != nil {
		// %v, not %w: the store's ErrUnavailable must not reach a fail
		// mode that would let this wrong code in.
		return Decision{}, fmt.Errorf("%w: %v", ErrUncounted, err)
	}
	if l.Locked(now) {
		return lockedOut(l), nil
	}
	return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, nil
}

// lockedOut is the answer to a locked user: why, and what to do (for
// wrong codes, until when). A user who reported a login as not theirs,
// or whom the help desk locked, must not be told of wrong passcodes.
func lockedOut(l cluster.Lockout) Decision {
	msg := msgLockedOut
	switch {
	case l.LockedBy() == cluster.LockFraud:
		msg = msgLockedFraud
	case l.LockedBy() == cluster.LockAdmin:
		msg = msgLockedAdmin
	case !l.LockedUntil.IsZero():
		msg = fmt.Sprintf("Too many wrong passcodes: your account is locked until %s UTC. Contact the help desk to unlock it sooner.",
			l.LockedUntil.UTC().Format("2006-01-02 15:04"))
	}
	return Decision{Outcome: Reject, Reason: ReasonLockedOut, Message: msg}
}

// unenrolled decides for a user with no device.
func (e *Engine) unenrolled(ctx context.Context, req *Request, acct *cluster.Account, rule GroupRule, now time.Time) (Decision, error) {
	u := e.sf.cfg.Unenrolled
	deny := Decision{Outcome: Reject, Reason: ReasonNotEnrolled, Message: u.Message}
	if !u.Allow {
		return deny, nil
	}
	if u.Grace > 0 {
		// The one login that writes the profile: the grace counts from
		// the first login without a device (for a user who removed every
		// device, from the first one after), once per user.
		first, err := e.sf.accounts.FirstSeen(ctx, acct, now)
		if err != nil {
			return e.failMode(req, rule, err)
		}
		if !now.Before(first.Add(u.Grace)) {
			return deny, nil
		}
	}
	return Decision{Outcome: Accept, Reason: ReasonUnenrolledGrace, Attributes: rule.Reply}, nil
}

// failMode answers a login whose second factor could not be checked
// because the store could not be reached, as the client is configured
// to. Any other failure (a record that does not open, a refused write) is
// an error: it never lets anybody in.
func (e *Engine) failMode(req *Request, rule GroupRule, err error) (Decision, error) {
	if !errors.Is(err, cluster.ErrUnavailable) {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	if req.Login.FailMode == Safe {
		return Decision{Outcome: Accept, Reason: ReasonFailSafe, Attributes: rule.Reply, Err: err}, nil
	}
	return Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: err}, nil
}

// answer decides a request carrying State: the passcode typed in answer
// to an Access-Challenge, perhaps on another node than the one that asked.
// Each answer first spends one of the challenge's attempts (a
// compare-and-swap, so parallel answers cannot check more codes than the
// attempts allow), then checks the code.
func (e *Engine) answer(ctx context.Context, req *Request, w Responder) (dec Decision, err error) {
	var account string // the waiting login's, once its record is trusted
	defer func() {
		dec = dec.then(func(d Decision) Decision {
			if d.User == "" {
				d.User = account
			}
			return d
		})
	}()
	timedOut := Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgLoginOver}
	if e.sf == nil {
		return timedOut, nil
	}
	now := e.now()
	p, err := e.sf.challenges.Get(ctx, req.State)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return timedOut, nil
	case errors.Is(err, cluster.ErrTampered):
		timedOut.Err = err // for the log, at error level
		return timedOut, nil
	}
	if err != nil {
		// Without the store the State cannot be trusted, whatever the
		// fail mode: the password of the first round is not in this
		// request.
		return e.storeDown(err)
	}
	if p.User != req.User || p.Client != req.Client || p.NAS != req.Source.Addr().String() {
		return timedOut, nil
	}
	account = p.Account
	if p.Expired(now) {
		d := Decision{Outcome: Reject, Reason: ReasonChallengeExpired, Message: msgTimedOut}
		d.Err = e.sf.challenges.Finish(ctx, p)
		return d, nil
	}
	var data pendingData
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return Decision{}, fmt.Errorf("challenge: pending login: %w", err)
	}
	if data.Push != nil && e.push != nil {
		// A retransmission of an answer that started a push on another
		// node follows that push, without spending an attempt or sending
		// a second push.
		if d, ok, err := e.joinPush(ctx, req); ok {
			return d, err
		}
	}
	last := p.AttemptsLeft <= 1
	if last {
		err = e.sf.challenges.Take(ctx, p)
	} else {
		err = e.sf.challenges.Retry(ctx, p)
	}
	switch {
	case errors.Is(err, cluster.ErrConflict):
		return timedOut, nil // another answer to this State won the round
	case err != nil:
		return e.storeDown(err)
	}

	acct, err := e.sf.accounts.Load(ctx, p.Account)
	if err != nil {
		return e.storeDown(err)
	}
	if acct.Lockout.Locked(now) {
		d := lockedOut(acct.Lockout)
		d.Err = e.sf.challenges.Finish(ctx, p)
		return d, nil
	}
	code, isCode := otp.Normalize(req.Password)
	var d Decision
	handled := false
	if data.Push != nil && e.push != nil {
		if d, handled, err = e.pushAnswerPending(ctx, req, w, round{p, data}, acct); err != nil {
			return Decision{}, err
		}
		if handled && d.Outcome == Challenge {
			if !bytes.Equal(d.State, req.State) {
				// A new State (the menu started a push): this one is done.
				d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
			}
			return d, nil
		}
	}
	switch {
	case handled:
	case isCode:
		vctx, cancel := nasContext(ctx, req)
		defer cancel()
		if d, err = e.verify(vctx, acct, code, now); err != nil {
			return e.storeDown(err)
		}
	default:
		// Not a passcode at all (an empty box, a word): it spends an
		// attempt but is not a guess, so lockout does not count it.
		d = Decision{Outcome: Reject, Reason: ReasonBadPasscode}
	}
	if handled && d.Outcome == Reject && d.Reason != ReasonBadPasscode {
		// The push was denied, timed out or went wrong: the login ends.
		if !last {
			d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
		}
		return d, nil
	}
	if d.Outcome == Accept {
		d.Attributes = data.Reply
		if !last {
			if err := e.sf.challenges.Finish(ctx, p); err != nil {
				d.Err = errors.Join(d.Err, err) // the step is spent: the State is useless anyway
			}
		}
		return d, nil
	}
	if last || d.Reason == ReasonLockedOut {
		if !last {
			d.Err = errors.Join(d.Err, e.sf.challenges.Finish(ctx, p))
		}
		return d, nil
	}
	return Decision{Outcome: Challenge, Reason: d.Reason, Message: msgWrongCode, State: req.State, Err: d.Err}, nil
}

// storeDown answers a challenge round the store failed: a reject saying
// the service is unavailable, whatever the fail mode, or an error when
// the failure was not the store's reachability.
func (e *Engine) storeDown(err error) (Decision, error) {
	if !errors.Is(err, cluster.ErrUnavailable) {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	return Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: err}, nil
}
