package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/directory"
)

// The self-service portal asks the engine the questions a NAS asks, one
// at a time: the password, then a passcode, a push or a recovery
// passcode. The same lockout, replay and push rules apply, so that the
// portal is no easier a way in than the VPN.

// Messages of the portal's sign-in.
const (
	msgRecoveryWrong = "Wrong recovery passcode."
	// A portal page asks again itself: no "log in again".
	msgPortalPushTimeout  = "No answer from your device in time. Send another push, or enter a passcode."
	msgPortalPushMismatch = "The number entered on your device did not match. Try again."
	msgRecoveryExpired    = "This recovery passcode has expired. Ask the help desk for a new one."
)

// ReasonRecovery is the reason of a sign-in by recovery passcode.
const ReasonRecovery Reason = "recovery_passcode"

// PortalUser is a user whose password the portal checked.
type PortalUser struct {
	// Name is the canonical account name the user's records are kept
	// under.
	Name string
	// MayEnroll is true for a user without devices whom the policy lets
	// in with the password alone (the enrollment grace): they may add a
	// first device without a second factor.
	MayEnroll bool
}

// portalRequest stands for the portal where the flows expect a NAS's
// request: the portal always fails secure.
func portalRequest(user string) *Request {
	return &Request{User: user, Client: PortalService, Login: ClientLogin{Mode: ModeChallenge, FailMode: Secure}}
}

// PortalPassword checks user's password and whether the account may sign
// in now. Accept means a second factor is due next (or, with MayEnroll, a
// first device may be added).
func (e *Engine) PortalPassword(ctx context.Context, user, password string) (PortalUser, Decision, error) {
	if !validUser(user) {
		return PortalUser{}, Decision{Outcome: Reject, Reason: ReasonBadUsername}, nil
	}
	if password == "" {
		return PortalUser{}, Decision{Outcome: Reject, Reason: ReasonEmptyPassword}, nil
	}
	if e.sf == nil {
		return PortalUser{}, Decision{}, errors.New("challenge: the portal needs the second factor (cluster) configured")
	}
	res, err := e.dir.Authenticate(ctx, user, password)
	if err != nil {
		return PortalUser{}, Decision{}, fmt.Errorf("challenge: directory: %w", err)
	}
	if res.Status != directory.OK {
		return PortalUser{}, firstFactorRefused(res.Status), nil
	}
	rule := e.policy.match(res.User.Groups)
	if rule.Action == Deny {
		return PortalUser{}, Decision{Outcome: Reject, Reason: ReasonDeniedByPolicy, Message: msgDenied}, nil
	}
	name := res.User.Name
	if name == "" {
		name = user
	}
	now := e.now()
	acct, err := e.sf.accounts.Load(ctx, name)
	if err != nil {
		d, err := e.failMode(portalRequest(user), rule, err)
		return PortalUser{}, d, err
	}
	pu := PortalUser{Name: acct.Name}
	if acct.Lockout.Locked(now) {
		return pu, e.lockedOut(acct.Lockout), nil
	}
	if len(acct.Devices) == 0 {
		d, err := e.unenrolled(ctx, portalRequest(user), acct, rule, now)
		if err != nil {
			return pu, Decision{}, err
		}
		pu.MayEnroll = d.Outcome == Accept
	}
	return pu, Decision{Outcome: Accept, Reason: ReasonOK}, nil
}

// portalAccount loads the account name for a second factor; ok is false
// when the answer is already d (locked, the store down) or err.
func (e *Engine) portalAccount(ctx context.Context, name string) (*cluster.Account, time.Time, Decision, bool, error) {
	if e.sf == nil {
		return nil, time.Time{}, Decision{}, false, errors.New("challenge: no second factor configured")
	}
	now := e.now()
	acct, err := e.sf.accounts.Load(ctx, name)
	if err != nil {
		d, err := e.failMode(portalRequest(name), GroupRule{}, err)
		return nil, now, d, false, err
	}
	if acct.Lockout.Locked(now) {
		return acct, now, e.lockedOut(acct.Lockout), false, nil
	}
	return acct, now, Decision{}, true, nil
}

// PortalPasscode checks a passcode (an authenticator app's, a hardware
// token's or a bypass code; spaces and dashes between its digits are
// dropped) of the account name, as a login does: once cluster-wide,
// counted toward lockout when wrong.
func (e *Engine) PortalPasscode(ctx context.Context, name, code string) (Decision, error) {
	acct, now, d, ok, err := e.portalAccount(ctx, name)
	if !ok {
		return d, err
	}
	c, ok := otp.Normalize(code)
	if !ok {
		return e.fail(ctx, acct, code, now)
	}
	d, err = e.verify(ctx, acct, c, now)
	if err != nil {
		return e.failMode(portalRequest(name), GroupRule{}, err)
	}
	return d, nil
}

// PortalFailure counts a wrong code that the portal checked itself (a
// hardware token's, when a user takes one from the inventory) toward the
// account's lockout.
func (e *Engine) PortalFailure(ctx context.Context, name, code string) (Decision, error) {
	acct, now, d, ok, err := e.portalAccount(ctx, name)
	if !ok {
		return d, err
	}
	if c, ok := otp.Normalize(code); ok {
		code = c // "123 456" and "123456" are the same wrong code
	}
	return e.fail(ctx, acct, code, now)
}

// PortalRecovery spends the account's recovery passcode code, issued by
// the help desk for a user who lost every device. A wrong code counts
// toward lockout.
func (e *Engine) PortalRecovery(ctx context.Context, name, code string) (Decision, error) {
	acct, now, d, ok, err := e.portalAccount(ctx, name)
	if !ok {
		return d, err
	}
	if c, ok := otp.Normalize(code); ok {
		code = c
	}
	// The user spends it, in the portal: their event, with the use.
	accounts := e.sf.accounts
	if e.audit != nil {
		accounts = accounts.As(cluster.Actor{Name: cluster.PortalActor(acct.Name), Note: "to sign in to the portal", Now: e.now})
	}
	locked := false
	acct, err = e.retryOn(ctx, acct, name, "check a recovery passcode", func(ctx context.Context, acct *cluster.Account) error {
		if locked = acct.Lockout.Locked(now); locked {
			return nil
		}
		_, err := accounts.UseRecovery(ctx, acct, code, now)
		return err
	})
	switch {
	case locked:
		return e.lockedOut(acct.Lockout), nil
	case err == nil:
		return withProblems(Decision{Outcome: Accept, Reason: ReasonRecovery, Factor: FactorRecovery}, acct), nil
	case errors.Is(err, cluster.ErrCodeExpired):
		return Decision{Outcome: Reject, Reason: ReasonBypassExpired, Message: msgRecoveryExpired}, nil
	case errors.Is(err, cluster.ErrNoCode):
		d, err := e.fail(ctx, acct, code, now)
		if d.Reason == ReasonBadPasscode {
			d.Message = msgRecoveryWrong
		}
		return withProblems(d, acct), err
	default:
		return e.failMode(portalRequest(name), GroupRule{}, err)
	}
}

// PortalPush is a push the portal started; the page shows Number.
type PortalPush struct {
	ID     string
	Number string
	Device string // the device's name
}

// PortalPush sends a verified push to the account's push device (its id;
// empty: the default one), from the browser at from, for purpose (what
// the device shows the user is approving: "Sign in", "Remove the device
// …"). Outcome Ask means it was sent: the page shows the number and asks
// PortalPushResult. The push limit applies as for logins.
func (e *Engine) PortalPush(ctx context.Context, name, device, from, purpose string) (PortalPush, Decision, error) {
	if e.sf == nil || e.push == nil {
		return PortalPush{}, Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}, nil
	}
	req := portalRequest(name)
	req.CallingStationID = from
	now := e.now()
	number := cluster.NewPushNumber()
	var p *cluster.Push
	var refused *Decision
	acct, err := e.retryOn(ctx, nil, name, "start a push", func(ctx context.Context, acct *cluster.Account) error {
		if acct.Lockout.Locked(now) {
			refused = &Decision{}
			*refused = e.lockedOut(acct.Lockout)
			return nil
		}
		devs := pushDevices(acct)
		if len(devs) == 0 {
			refused = &Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}
			return nil
		}
		dev := devs[0]
		if device != "" {
			var ok bool
			if dev, ok = acct.Device(device); !ok || dev.Type != cluster.PushApp {
				refused = &Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}
				return nil
			}
		}
		p = &cluster.Push{
			User: name, Device: dev.ID, DeviceName: dev.Name, Client: PortalService, NASID: purpose,
			NASAddr: e.push.cfg.Node, From: from, Created: now, Expires: now.Add(e.push.cfg.Timeout),
		}
		return e.push.pushes.Start(ctx, acct, p, cluster.PushStart{Number: number, Limit: e.push.cfg.Limit}, now)
	})
	if refused != nil {
		return PortalPush{}, *refused, nil
	}
	switch {
	case errors.Is(err, cluster.ErrPushLimit):
		return PortalPush{}, Decision{Outcome: Reject, Reason: ReasonPushLimited, Message: msgPushLimited}, nil
	case err != nil:
		d, err := e.failMode(req, GroupRule{}, err)
		return PortalPush{}, d, err
	}
	if d, stop := e.notifyPush(ctx, req, acct, p, true); stop {
		if d.Outcome == Accept { // the fail mode is secure: never, but be sure
			d = Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: d.Err}
		}
		return PortalPush{}, d, nil
	}
	return PortalPush{ID: p.ID, Number: number, Device: p.DeviceName},
		pushDecision(Ask, ReasonPushWaiting, "", p), nil
}

// PortalPushResult tells how the push id that the portal started for the
// account name ended: Outcome Ask while it waits, Accept for the
// device's signed approval with the right number, Reject otherwise.
func (e *Engine) PortalPushResult(ctx context.Context, name, id string) (Decision, error) {
	d, err := e.portalPushResult(ctx, name, id)
	e.metrics.pushEnded(d)
	return d, err
}

func (e *Engine) portalPushResult(ctx context.Context, name, id string) (Decision, error) {
	if e.sf == nil || e.push == nil {
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}, nil
	}
	p, err := e.push.pushes.Get(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPortalPushTimeout}, nil
	case errors.Is(err, cluster.ErrTampered):
		return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgPortalPushTimeout, Err: err}, nil
	}
	if err != nil {
		return e.failMode(portalRequest(name), GroupRule{}, err)
	}
	if p.Account != name || p.Client != PortalService {
		return Decision{Outcome: Reject, Reason: ReasonPushBadSignature, Message: msgPushDenied,
			Err: fmt.Errorf("challenge: push %s is not a portal push of %q", id, name)}, nil
	}
	if p.State == cluster.PushPending && !p.Expired(e.now()) {
		return pushDecision(Ask, ReasonPushWaiting, "", p), nil
	}
	acct, err := e.sf.accounts.Load(ctx, name)
	if err != nil {
		return e.failMode(portalRequest(name), GroupRule{}, err)
	}
	if acct.Lockout.Locked(e.now()) {
		return e.lockedOut(acct.Lockout), nil
	}
	d := e.pushOutcome(acct, p, nil)
	switch {
	case d.Reason == ReasonPushTimeout:
		d.Message = msgPortalPushTimeout
	case d.Message == msgPushMismatch:
		d.Message = msgPortalPushMismatch
	}
	return d, nil
}
