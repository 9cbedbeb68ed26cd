package challenge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"time"

	"twostep/cluster"
)

// The device's side: its signed answer, recorded once on whichever node
// it reaches and checked again by the node that decides; the pushes
// waiting for it; a fraud report's lock and alert.

// answerSkew is how far a device's clock may be from ours.
const answerSkew = 2 * time.Minute

// Errors of AnswerPush; the approval API maps them to HTTP statuses.
var (
	// ErrAnswerRefused: the answer does not prove the device (unknown
	// push or device, bad signature, clock too far off, bad decision).
	ErrAnswerRefused = errors.New("push answer refused")
	// ErrNumberMismatch: the number is wrong; the push is denied.
	ErrNumberMismatch = errors.New("push answer: the number does not match")
	// ErrUnaudited: the answer is recorded (and a fraud report's lock is
	// in force) but its audit event is not; the device is answered as
	// for a success, and the error logged.
	ErrUnaudited = errors.New("push answer recorded, its audit event not")
)

// AnswerPush records a device's answer to a push, on whichever node the
// device reached: it checks the device's signature, the time, and the
// number of a verified push, then records the answer once
// (cluster.ErrPushAnswered, cluster.ErrPushExpired otherwise). A fraud
// report locks the account, writes an audit event and raises the alert.
// a is what device sent about push id (Decision, Number, At, Signature);
// the engine records it with its own Node, and with a Reason only when it
// decides for the device.
func (e *Engine) AnswerPush(ctx context.Context, id, device string, a cluster.PushAnswer) (*cluster.Push, error) {
	if e.push == nil || e.sf == nil {
		return nil, fmt.Errorf("%w: push approval is off", ErrAnswerRefused)
	}
	switch a.Decision {
	case cluster.PushApproved, cluster.PushDenied, cluster.PushFraud:
	default:
		return nil, fmt.Errorf("%w: decision %q", ErrAnswerRefused, a.Decision)
	}
	now := e.now()
	p, err := e.push.pushes.Get(ctx, id)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return nil, fmt.Errorf("%w: no such push (answered long ago, or never sent)", ErrAnswerRefused)
	case errors.Is(err, cluster.ErrTampered):
		return nil, fmt.Errorf("%w: %w", ErrAnswerRefused, err)
	}
	if err != nil {
		return nil, err
	}
	if device != p.Device {
		return nil, fmt.Errorf("%w: the push went to another device", ErrAnswerRefused)
	}
	if d := now.Sub(a.At); d > answerSkew || d < -answerSkew {
		return nil, fmt.Errorf("%w: the device's clock is %v off", ErrAnswerRefused, d.Round(time.Second))
	}
	acct, err := e.sf.accounts.Load(ctx, p.Account)
	if err != nil {
		return nil, err
	}
	dev, ok := acct.Device(p.Device)
	if !ok {
		return nil, fmt.Errorf("%w: the device was removed", ErrAnswerRefused)
	}
	a.At, a.Reason, a.Node = a.At.UTC().Truncate(time.Second), "", e.push.cfg.Node
	if err := VerifyPushAnswer(dev, p, &a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAnswerRefused, err)
	}
	mismatch := p.Verified() && a.Decision == cluster.PushApproved && !e.push.pushes.NumberMatches(p, a.Number)
	state := a.Decision
	if mismatch {
		// One guess per push: a wrong number denies the login. The
		// device's signed answer is kept as it came; the verdict is the
		// state and the reason.
		state, a.Reason = cluster.PushDenied, answerNumberMismatch
	}
	got, err := e.push.pushes.Answer(ctx, p, state, a, now)
	if a.Decision == cluster.PushFraud && (errors.Is(err, cluster.ErrPushAnswered) || errors.Is(err, cluster.ErrPushExpired)) {
		// "This wasn't me" after the login was decided or timed out
		// still protects the account.
		return got, errors.Join(err, e.reportFraud(ctx, p, now))
	}
	if err != nil {
		return got, err
	}
	switch {
	case mismatch:
		return got, errors.Join(ErrNumberMismatch, e.auditPush(ctx, got, cluster.ActionPushNumberMismatch, now))
	case a.Decision == cluster.PushApproved:
		// For "last used" in the portal; a failed write loses only that.
		_ = e.sf.accounts.Touch(ctx, p.Account, p.Device, now)
	case a.Decision == cluster.PushDenied:
		if err := e.auditPush(ctx, got, cluster.ActionPushDeny, now); err != nil {
			return got, err
		}
	case a.Decision == cluster.PushFraud:
		if err := e.reportFraud(ctx, got, now); err != nil {
			return got, err
		}
	}
	return got, nil
}

// VerifyPushAnswer checks a's signature by dev's key over p's id and a's
// fields.
func VerifyPushAnswer(dev cluster.Device, p *cluster.Push, a *cluster.PushAnswer) error {
	if a == nil {
		return errors.New("challenge: push answer missing")
	}
	if err := verifyDeviceSignature(dev, cluster.PushSigned(p.ID, a.Decision, a.Number, a.At), a.Signature); err != nil {
		return fmt.Errorf("challenge: push answer for %s: %w", p.ID, err)
	}
	return nil
}

// answerNumberMismatch is the reason recorded for a device that sent the
// wrong number.
const answerNumberMismatch = "number_mismatch"

// DevicePushes returns the pushes waiting for a device's answer, for the
// device's app to show, and the device's name as the account has it now
// (the user may have renamed it). The request must carry the device's
// signature over cluster.PendingSigned(user, device, at), with at within
// the clock skew allowed to answers; ErrAnswerRefused otherwise.
func (e *Engine) DevicePushes(ctx context.Context, user, device string, at time.Time, sig []byte) (name string, pushes []*cluster.Push, err error) {
	if e.push == nil || e.sf == nil {
		return "", nil, fmt.Errorf("%w: push approval is off", ErrAnswerRefused)
	}
	now := e.now()
	if d := now.Sub(at); d > answerSkew || d < -answerSkew {
		return "", nil, fmt.Errorf("%w: the device's clock is %v off", ErrAnswerRefused, d.Round(time.Second))
	}
	if !validUser(user) {
		return "", nil, fmt.Errorf("%w: bad user name", ErrAnswerRefused)
	}
	acct, err := e.sf.accounts.Load(ctx, user)
	if err != nil {
		return "", nil, err
	}
	dev, ok := acct.Device(device)
	if !ok || dev.Type != cluster.PushApp {
		return "", nil, fmt.Errorf("%w: no such push device", ErrAnswerRefused)
	}
	if err := verifyDeviceSignature(dev, cluster.PendingSigned(user, device, at), sig); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrAnswerRefused, err)
	}
	pushes, err = e.push.pushes.Open(ctx, acct, device, now)
	return dev.Name, pushes, err
}

// verifyDeviceSignature checks sig (r||s) by push device dev's key over
// msg.
func verifyDeviceSignature(dev cluster.Device, msg, sig []byte) error {
	pd, err := dev.PushDevice()
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pd.PublicKey)
	if err != nil {
		return fmt.Errorf("challenge: device %q: public key: %w", dev.Name, err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("challenge: signature of %d bytes, want 64 (r||s)", len(sig))
	}
	sum := sha256.Sum256(msg)
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, sum[:], r, s) {
		return fmt.Errorf("challenge: signature does not verify with device %q's key", dev.Name)
	}
	return nil
}

// reportFraud locks p's account, records the event and raises the alert.
// It runs to its end even when the device hangs up: a fraud report must
// not be lost with the HTTP request.
func (e *Engine) reportFraud(ctx context.Context, p *cluster.Push, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := e.sf.accounts.Lock(ctx, p.Account, cluster.LockFraud, now); err != nil {
		return fmt.Errorf("challenge: lock after a fraud report: %w", err)
	}
	e.metrics.locked(cluster.LockFraud)
	err := e.auditPush(ctx, p, cluster.ActionPushFraud, now)
	if e.push.cfg.Alert != nil {
		e.push.cfg.Alert(ctx, p)
	}
	return err
}

// auditPush records what a device said about a login, after the answer
// is recorded: an error wraps ErrUnaudited.
func (e *Engine) auditPush(ctx context.Context, p *cluster.Push, action string, now time.Time) error {
	if e.audit == nil {
		return nil
	}
	detail := fmt.Sprintf("push %s to device %q for %s from %s (NAS %s)", p.ID, p.DeviceName, p.Client, orDash(p.From), p.NASAddr)
	if action == cluster.ActionPushFraud {
		detail += "; account locked until an admin unlocks it"
	}
	if err := e.audit.Record(ctx, cluster.Event{Time: now, Action: action, Actor: e.actor, User: p.Account, Detail: detail}); err != nil {
		return fmt.Errorf("%w: %w", ErrUnaudited, err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pushOutcome turns a push as it stands into a Decision. An approval
// counts only with the device's signature, checked again here: a record
// written to etcd without the device's key approves nothing.
func (e *Engine) pushOutcome(acct *cluster.Account, p *cluster.Push, reply []Attribute) Decision {
	d := pushDecision(Reject, "", "", p)
	switch p.State {
	case cluster.PushApproved:
		dev, ok := acct.Device(p.Device)
		if !ok {
			d.Reason, d.Message = ReasonPushNoDevice, msgPushNoDevice
			return d
		}
		if err := VerifyPushAnswer(dev, p, p.Answer); err != nil {
			d.Reason, d.Message, d.Err = ReasonPushBadSignature, msgPushDenied, err
			return d
		}
		// The record's state is not signed by the device: only the
		// device's own signed approval, with the right number for a
		// verified push, approves.
		if p.Answer.Decision != cluster.PushApproved || (p.Verified() && !e.push.pushes.NumberMatches(p, p.Answer.Number)) {
			d.Reason, d.Message, d.Err = ReasonPushBadSignature, msgPushDenied, fmt.Errorf("challenge: push %s: state approved without the device's signed approval", p.ID)
			return d
		}
		d.Outcome, d.Reason, d.Attributes = Accept, ReasonPushApproved, reply
	case cluster.PushFraud:
		d.Reason, d.Message = ReasonPushFraud, msgPushFraud
	case cluster.PushDenied:
		d.Reason, d.Message = ReasonPushDenied, msgPushDenied
		if p.Answer != nil && p.Answer.Reason == answerNumberMismatch {
			d.Message = msgPushMismatch
		}
	default:
		d.Reason, d.Message = ReasonPushTimeout, msgPushTimeout
	}
	return d
}
