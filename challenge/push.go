package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/notify"
)

// Notifier delivers a push notification to one device; notify.Dispatch
// implements it (Web Push and webhooks).
type Notifier interface {
	Notify(ctx context.Context, t notify.Target, m notify.Message) error
}

// PushConfig configures push approval.
type PushConfig struct {
	// Timeout is how long a push can be answered; default 60 s.
	Timeout time.Duration
	// Limit bounds the pushes a user can be sent; the configuration's
	// default is 3 in 5 minutes. The zero value does not limit.
	Limit cluster.PushLimit
	// AnswerURLs are the approval API's addresses, told to devices.
	AnswerURLs []string
	// Node names this node in the answers it records.
	Node string
	// Alert, when set, is told of every login reported as fraudulent.
	Alert func(ctx context.Context, p *cluster.Push)
	// ResendAfter is how old a push whose record says its notification
	// never left must be before a node taking the login over sends it:
	// longer than a notification may take. Default 7 s.
	ResendAfter time.Duration
}

// Defaults of push approval.
const (
	DefaultPushTimeout = time.Minute
	// DefaultNASTimeout and DefaultNASRetries are what a client entry
	// that declares nothing is assumed to wait: 5 s, sent 3 times.
	DefaultNASTimeout = 5 * time.Second
	DefaultNASRetries = 2
	// answerSkew is how far a device's clock may be from ours.
	answerSkew = 2 * time.Minute
)

// Reasons of push approval.
const (
	ReasonPushApproved     Reason = "push_approved"
	ReasonPushDenied       Reason = "push_denied"
	ReasonPushFraud        Reason = "push_fraud"
	ReasonPushTimeout      Reason = "push_timeout"
	ReasonPushWaiting      Reason = "push_waiting"
	ReasonPushMenu         Reason = "push_menu"
	ReasonPushLimited      Reason = "push_limited"
	ReasonPushUndelivered  Reason = "push_undelivered"
	ReasonPushNoDevice     Reason = "push_no_device"
	ReasonPushNeedsPrompt  Reason = "push_needs_challenge"
	ReasonPushBadSignature Reason = "push_bad_signature"
)

// Messages of push approval.
const (
	msgPushWaiting   = "Approve the login on your phone, then press Enter."
	msgPushDenied    = "The login was denied on your device."
	msgPushFraud     = "You reported this login as fraudulent: your account is locked. Contact the help desk."
	msgPushTimeout   = "No answer from your device in time. Log in again."
	msgPushLimited   = "Too many push requests: wait a few minutes, or use a passcode."
	msgPushGone      = "Your device can no longer be reached: use a passcode, or add the device again."
	msgPushNoDevice  = "You have no device for push approval: use a passcode."
	msgPushNoNumber  = "This service cannot show a verification number: use a passcode."
	msgPushMismatch  = "The number entered on your device did not match. Log in again."
	msgPushMenuIntro = "Choose: "
)

// pushFactor holds what push approval needs.
type pushFactor struct {
	cfg      PushConfig
	pushes   *cluster.Pushes
	notifier Notifier
}

// WithPush turns on push approval (it needs WithPasscodes: devices and
// challenges live in the same cluster).
func WithPush(cfg PushConfig, pushes *cluster.Pushes, notifier Notifier) Option {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPushTimeout
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = DefaultResendAfter
	}
	return func(e *Engine) { e.push = &pushFactor{cfg: cfg, pushes: pushes, notifier: notifier} }
}

// Wait is how long a login of this client may wait synchronously, for a
// device's answer or for the store: what the NAS waits (its timeout
// times its tries) less a margin for the answer's way back (a tenth, at
// least 0.5 s), and at least a second.
func (l ClientLogin) Wait() time.Duration {
	timeout, retries := l.NASTimeout, l.NASRetries
	if timeout <= 0 {
		timeout = DefaultNASTimeout
	}
	if retries < 0 {
		retries = 0
	}
	total := timeout * time.Duration(retries+1)
	margin := max(total/10, 500*time.Millisecond)
	return max(total-margin, time.Second)
}

// pushDevices returns acct's push devices: the user's default first (the
// one automatic pushes go to), then the others oldest first.
func pushDevices(acct *cluster.Account) []cluster.Device {
	var out []cluster.Device
	for _, d := range acct.Devices {
		if d.Type != cluster.PushApp {
			continue
		}
		if d.ID == acct.Profile.DefaultPush {
			out = append([]cluster.Device{d}, out...)
		} else {
			out = append(out, d)
		}
	}
	return out
}

// pushCount tells a user who asked for push device N of fewer how many
// there are, and what to type instead.
func pushCount(n int) string {
	if n == 1 {
		return "You have 1 device for push approval: use push or push1, or a passcode."
	}
	return fmt.Sprintf("You have %d devices for push approval: use push1 to push%d, or a passcode.", n, n)
}

// pushKeyword reads "push" or "pushN" (N from 1 to 9) as the device
// choice: 0 for the default device, N for the N-th push device.
func pushKeyword(s string) (int, bool) {
	s = strings.ToLower(s)
	if s == "push" {
		return 0, true
	}
	if len(s) == 5 && strings.HasPrefix(s, "push") && s[4] >= '1' && s[4] <= '9' {
		return int(s[4] - '0'), true
	}
	return 0, false
}

// splitPush parts an appended push keyword from the password, in append
// and auto mode: "secret,push" or "secret,push2".
func (l ClientLogin) splitPush(password string) (pw string, n int, ok bool) {
	if l.Mode == Prompt {
		return password, 0, false
	}
	sep := l.separator()
	i := strings.LastIndex(password, sep)
	if i <= 0 {
		return password, 0, false
	}
	n, ok = pushKeyword(password[i+len(sep):])
	if !ok {
		return password, 0, false
	}
	return password[:i], n, true
}

// joinKey names req for joining a push started by a copy of it.
func joinKey(req *Request) string {
	return cluster.JoinKey(req.Source.Addr().String(), req.Identifier, req.Authenticator, req.User)
}

// pushData is what a push carries for whichever node completes the login.
type pushData struct {
	Reply []Attribute `json:"reply,omitempty"`
}

// joinPush finds a push that a copy of req started (a retransmission,
// perhaps after the NAS failed over from a node that died) and completes
// the login on it, without a second push or a second password check.
func (e *Engine) joinPush(ctx context.Context, req *Request) (Decision, bool, error) {
	p, err := e.push.pushes.Join(ctx, joinKey(req), []byte(req.Password))
	switch {
	case errors.Is(err, cluster.ErrJoinMismatch):
		// The same packet identity with another password is no
		// retransmission: a forged or replayed request.
		return Decision{Outcome: Reject, Reason: ReasonBadState, Err: err}, true, nil
	case errors.Is(err, cluster.ErrPushExpired):
		// The copy's push is over and cleaned up: so is this login.
		return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPushTimeout}, true, nil
	case errors.Is(err, cluster.ErrTampered):
		return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgTimedOut, Err: err}, true, nil
	case err != nil:
		// Not found is the usual case; a store that is down is found
		// again, and answered, by the login itself.
		return Decision{}, false, nil
	}
	d, err := e.followPush(ctx, req, p)
	return d.then(func(d Decision) Decision {
		d.User = p.Account
		return d
	}), true, err
}

// followPush completes req on push p, which a copy of req started,
// perhaps on a node that has died since.
func (e *Engine) followPush(ctx context.Context, req *Request, p *cluster.Push) (Decision, error) {
	acct, err := e.sf.accounts.Load(ctx, p.Account)
	if err != nil {
		return e.storeDown(err)
	}
	var data pushData
	_ = json.Unmarshal(p.Data, &data)
	if !p.Notified && !p.State.Final() && e.now().Sub(p.Created) > e.push.cfg.ResendAfter {
		// The node that started it died before the notification left.
		// Of several nodes taking over, the one that marks it sends.
		if e.push.pushes.MarkNotified(ctx, p, e.now()) == nil {
			if d, stop := e.notifyPush(ctx, req, acct, p, false); stop {
				if d.Outcome == Accept {
					d.Attributes = data.Reply
				}
				return d, nil
			}
		}
	}
	if p.Verified() && !p.State.Final() {
		return e.pushChallenge(ctx, req, p, data.Reply)
	}
	return e.awaitPush(ctx, req, acct, p, data.Reply)
}

// DefaultResendAfter is PushConfig.ResendAfter's default.
const DefaultResendAfter = 7 * time.Second

// startPush sends a push to device n (0: the default) of acct and waits
// for it, or answers the challenge of a verified push.
func (e *Engine) startPush(ctx context.Context, req *Request, acct *cluster.Account, rule GroupRule, n int) (Decision, error) {
	devs := pushDevices(acct)
	switch {
	case len(devs) == 0:
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}, nil
	case n > len(devs):
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: pushCount(len(devs))}, nil
	}
	dev := devs[0]
	if n > 0 {
		dev = devs[n-1]
	}
	verified := req.Login.VerifiedPush || rule.VerifiedPush
	if verified && req.Login.Mode == Append {
		return Decision{Outcome: Reject, Reason: ReasonPushNeedsPrompt, Message: msgPushNoNumber}, nil
	}
	number := ""
	if verified {
		number = cluster.NewPushNumber()
	}
	data, err := json.Marshal(pushData{Reply: rule.Reply})
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	join := joinKey(req)
	now := e.now()
	var p *cluster.Push
	var joined *Decision
	var joinErr error
	acct, err = e.retryOn(ctx, acct, acct.Name, "start a push", func(ctx context.Context, acct *cluster.Account) error {
		p = &cluster.Push{
			User: req.User, Device: dev.ID, DeviceName: dev.Name,
			Client: req.Client, Service: req.Service, NASAddr: req.Source.Addr().String(), NASID: req.NASIdentifier, From: req.CallingStationID,
			Created: now, Expires: now.Add(e.push.cfg.Timeout), Data: data,
		}
		err := e.push.pushes.Start(ctx, acct, p, number, join, []byte(req.Password), e.push.cfg.Limit, now)
		if errors.Is(err, cluster.ErrConflict) {
			// A copy of this request (the NAS failed over while this node
			// checked the password) may have started the push: follow it.
			if d, ok, jerr := e.joinPush(ctx, req); ok {
				joined, joinErr = &d, jerr
				return nil
			}
		}
		return err
	})
	if joined != nil {
		return *joined, joinErr
	}
	switch {
	case errors.Is(err, cluster.ErrPushLimit):
		return Decision{Outcome: Reject, Reason: ReasonPushLimited, Message: msgPushLimited, Device: dev.Name}, nil
	case err != nil:
		return e.failMode(req, rule, err)
	}
	if d, stop := e.notifyPush(ctx, req, acct, p, true); stop {
		if d.Outcome == Accept {
			d.Attributes = rule.Reply
		}
		return d, nil
	}
	if verified {
		return e.pushChallenge(ctx, req, p, rule.Reply)
	}
	return e.awaitPush(ctx, req, acct, p, rule.Reply)
}

// notifyPush tells p's device. stop is true when the login ends here: the
// device is gone, or the notifier failed and the client's fail mode
// answers.
func (e *Engine) notifyPush(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push, mark bool) (Decision, bool) {
	dev, ok := acct.Device(p.Device)
	if !ok {
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}, true
	}
	pd, err := dev.PushDevice()
	if err != nil {
		return Decision{Outcome: Reject, Reason: ReasonPushUndelivered, Message: msgPushGone, Err: err, Device: dev.Name}, true
	}
	msg := notify.Message{
		Tx: p.ID, User: p.User, Device: p.Device, Service: p.ShownService(), NAS: p.NASID, From: p.From, Purpose: PushPurpose(p),
		Created: p.Created, Expires: p.Expires, Number: p.Verified(), Answer: e.push.cfg.AnswerURLs,
	}
	target := notify.Target{Kind: pd.Kind, Endpoint: pd.Endpoint, P256DH: pd.P256DH, Auth: pd.Auth, Secret: pd.Secret}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.push.notifier.Notify(nctx, target, msg); err != nil {
		if errors.Is(err, notify.ErrGone) || errors.Is(err, notify.ErrRefused) {
			// The device or its settings are at fault, not the service:
			// no fail mode, whatever the client's.
			return Decision{Outcome: Reject, Reason: ReasonPushUndelivered, Message: msgPushGone, Err: err, Device: dev.Name}, true
		}
		// The push service or webhook is down: the client's fail mode
		// decides, as for a store that cannot be reached.
		if req.Login.FailMode == Safe {
			return Decision{Outcome: Accept, Reason: ReasonFailSafe, Err: fmt.Errorf("challenge: push notification: %w", err), Device: dev.Name}, true
		}
		return Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: fmt.Errorf("challenge: push notification: %w", err), Device: dev.Name}, true
	}
	if mark {
		// Best effort: a node taking over resends when this is not
		// recorded.
		_ = e.push.pushes.MarkNotified(ctx, p, e.now())
	}
	return Decision{}, false
}

// pendingPush is what a challenge remembers of a push or a push menu.
type pendingPush struct {
	Push string   `json:"push,omitempty"`
	Menu []string `json:"menu,omitempty"` // device ids, in menu order
	// Verified carries the group's verified push to the menu's answer.
	Verified bool `json:"verified,omitempty"`
}

// pushPrompt is the Access-Challenge's message while p waits: for a
// verified push the number to enter, in every round (a user who pressed
// Enter too soon still needs it), else "approve, then press Enter".
func (e *Engine) pushPrompt(p *cluster.Push) (string, error) {
	if !p.Verified() {
		return msgPushWaiting, nil
	}
	number, err := e.push.pushes.Number(p)
	if err != nil {
		return "", fmt.Errorf("challenge: %w", err)
	}
	return fmt.Sprintf("Enter %s on your phone (%s) and approve, then press Enter.", number, p.DeviceName), nil
}

// pushChallenge answers an Access-Challenge with a State bound to push p,
// which waits: the first round of a verified push (the number to enter
// on the device), or a push the NAS would give up on ("approve, then
// press Enter").
func (e *Engine) pushChallenge(ctx context.Context, req *Request, p *cluster.Push, reply []Attribute) (Decision, error) {
	msg, err := e.pushPrompt(p)
	if err != nil {
		return Decision{}, err
	}
	data, err := json.Marshal(pendingData{Reply: reply, Push: &pendingPush{Push: p.ID}})
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	now := e.now()
	state, err := e.sf.challenges.Create(ctx, cluster.Pending{
		User: req.User, Account: p.Account, Client: req.Client, NAS: req.Source.Addr().String(),
		Created: now, Expires: p.Expires, AttemptsLeft: e.sf.cfg.ChallengeAttempts, Data: data,
	})
	if err != nil {
		return e.storeDown(err)
	}
	return Decision{Outcome: Challenge, Reason: ReasonPushWaiting, Message: msg, State: state, Device: p.DeviceName}, nil
}

// awaitPush leaves the decision open until p's answer, or as long as
// the NAS waits. When the NAS would give up first, a client that shows
// challenges gets one ("approve, then press Enter"); the push stays
// answerable.
func (e *Engine) awaitPush(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push, reply []Attribute) (Decision, error) {
	canChallenge := req.Login.Mode != Append
	decide := func(got *cluster.Push, err error) (Decision, error) {
		switch {
		case errors.Is(err, cluster.ErrNotFound):
			return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPushTimeout, Device: p.DeviceName}, nil
		case errors.Is(err, cluster.ErrTampered):
			// Edited in etcd while the login waited: refused as if gone.
			return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgPushTimeout, Device: p.DeviceName, Err: err}, nil
		case err != nil:
			return e.storeDown(err)
		}
		if !got.State.Final() && !got.Expired(e.now()) && canChallenge {
			return e.pushChallenge(ctx, req, got, reply)
		}
		if got.State == cluster.PushApproved {
			// Decide on the records as they are now: a lock or a device
			// removal during the wait wins over the approval.
			fresh, err := e.sf.accounts.Load(ctx, acct.Name)
			if err != nil {
				return e.storeDown(err)
			}
			if fresh.Lockout.Locked(e.now()) {
				return lockedOut(fresh.Lockout), nil
			}
			acct = fresh
		}
		return e.pushOutcome(acct, got, reply), nil
	}
	return Decision{wait: func(done func(Decision, error)) {
		e.await(ctx, req, acct, p, func(got *cluster.Push, err, resendErr error) {
			d, err := decide(got, err)
			d.Err = errors.Join(d.Err, resendErr)
			done(d, err)
		})
	}}, nil
}

// waitFor is how much longer req's NAS waits for its answer: from the
// request's arrival, what the client declared less a margin, and never
// past the push's expiry.
func (e *Engine) waitFor(req *Request, p *cluster.Push) time.Duration {
	now := e.now()
	arrived := req.Arrived
	if arrived.IsZero() || arrived.After(now) {
		arrived = now
	}
	until := arrived.Add(req.Login.Wait())
	if p.Expires.Before(until) {
		until = p.Expires
	}
	return max(until.Sub(now), time.Millisecond)
}

// waitPush waits for p's answer as long as req's NAS waits, holding the
// goroutine (await's synchronous form), having released w.
func (e *Engine) waitPush(ctx context.Context, w Responder, req *Request, acct *cluster.Account, p *cluster.Push) (got *cluster.Push, err, resendErr error) {
	w.Release()
	type result struct {
		p              *cluster.Push
		err, resendErr error
	}
	ch := make(chan result, 1)
	e.await(ctx, req, acct, p, func(p *cluster.Push, err, resendErr error) { ch <- result{p, err, resendErr} })
	r := <-ch
	return r.p, r.err, r.resendErr
}

// await waits for p's answer as long as req's NAS waits and calls done
// once, on a goroutine of its own, as cluster.Pushes.Await does (no
// goroutine and no etcd call while it waits). It also makes sure that
// the notification left: the node that starts a push records that it
// sent it (Push.Notified); when the record still says otherwise
// ResendAfter after the push was created (that node died first), this
// node sends it, unless another node taking the login over marked it
// first. The record is checked when that time comes, whenever the copy
// of the request arrived. resendErr says why a notification sent here
// failed, for the log.
func (e *Engine) await(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push, done func(got *cluster.Push, err, resendErr error)) {
	end := e.now().Add(e.waitFor(req, p))
	var resendErr error
	var round func(p *cluster.Push)
	round = func(p *cluster.Push) {
		now := e.now()
		wait := end.Sub(now)
		resendAt := p.Created.Add(e.push.cfg.ResendAfter)
		watch := !p.Notified && resendAt.Before(end)
		if watch {
			wait = min(wait, resendAt.Sub(now))
		}
		e.push.pushes.Await(ctx, p.ID, max(wait, time.Millisecond), func(got *cluster.Push, err error) {
			if !watch || err != nil || got.State.Final() || got.Expired(e.now()) || ctx.Err() != nil || !e.now().Before(end) {
				done(got, err, resendErr)
				return
			}
			if !got.Notified {
				resendErr = e.resend(ctx, req, acct, got)
			}
			next := *got
			next.Notified = true // checked: wait out the rest
			round(&next)
		})
	}
	round(p)
}

// resend sends p's notification for a node that died before it did, if
// this node's mark that it is sent lands first (of several nodes taking
// the login over, one sends). It returns why the notification failed.
func (e *Engine) resend(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push) error {
	if err := e.push.pushes.MarkNotified(ctx, p, e.now()); err != nil {
		return nil // another node sent it, or will answer the login
	}
	if d, stop := e.notifyPush(ctx, req, acct, p, false); stop {
		return fmt.Errorf("challenge: resend push %s: %s: %w", p.ID, d.Reason, d.Err)
	}
	return nil
}

// pushOutcome turns a push as it stands into a Decision. An approval
// counts only with the device's signature, checked again here: a record
// written to etcd without the device's key approves nothing.
func (e *Engine) pushOutcome(acct *cluster.Account, p *cluster.Push, reply []Attribute) Decision {
	d := Decision{Outcome: Reject, Device: p.DeviceName}
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

// answerNumberMismatch is the reason recorded for a device that sent the
// wrong number.
const answerNumberMismatch = "number_mismatch"

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

// pushMenu answers the first round of a challenge client's login for a
// user with push devices: a menu of them, or a passcode.
func (e *Engine) pushMenu(ctx context.Context, req *Request, acct *cluster.Account, rule GroupRule, devs []cluster.Device) (Decision, error) {
	var b strings.Builder
	b.WriteString(msgPushMenuIntro)
	ids := make([]string, len(devs))
	for i, d := range devs {
		ids[i] = d.ID
		item := fmt.Sprintf("%d: push to %s, ", i+1, d.Name)
		// Reply-Message holds 253 bytes: drop devices beyond it.
		if b.Len()+len(item)+len("or type a passcode.") > 253 {
			ids = ids[:i]
			break
		}
		b.WriteString(item)
	}
	b.WriteString("or type a passcode.")
	data, err := json.Marshal(pendingData{Reply: rule.Reply, Push: &pendingPush{Menu: ids, Verified: rule.VerifiedPush}})
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	now := e.now()
	state, err := e.sf.challenges.Create(ctx, cluster.Pending{
		User: req.User, Account: acct.Name, Client: req.Client, NAS: req.Source.Addr().String(),
		Created: now, Expires: now.Add(e.sf.cfg.ChallengeTTL),
		AttemptsLeft: e.sf.cfg.ChallengeAttempts, Data: data,
	})
	if err != nil {
		return e.failMode(req, rule, err)
	}
	return withProblems(Decision{Outcome: Challenge, Reason: ReasonPushMenu, Message: b.String(), State: state}, acct), nil
}

// menuChoice reads an answer to the push menu: a device's number.
func menuChoice(s string, n int) (int, bool) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || i < 1 || i > n {
		return 0, false
	}
	return i, true
}

// pushAnswerPending decides an answer to a challenge bound to a push or
// a push menu, after the round's attempt was spent. ok is false when the
// answer is a passcode for the usual check.
func (e *Engine) pushAnswerPending(ctx context.Context, req *Request, w Responder, r round, acct *cluster.Account) (Decision, bool, error) {
	p, data := r.p, r.data
	pp := data.Push
	if _, ok := otp.Normalize(req.Password); ok {
		return Decision{}, false, nil
	}
	rule := GroupRule{Reply: data.Reply, VerifiedPush: pp.Verified}
	if len(pp.Menu) > 0 {
		i, ok := menuChoice(req.Password, len(pp.Menu))
		if !ok {
			return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, true, nil
		}
		// The menu's device, by its position among push devices now.
		for n, d := range pushDevices(acct) {
			if d.ID == pp.Menu[i-1] {
				// Waited for here: the State is finished by what the
				// device answers.
				d, err := e.startPush(ctx, req, acct, rule, n+1)
				d, err = settle(w, d, err)
				return d, true, err
			}
		}
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice}, true, nil
	}
	push, err := e.push.pushes.Get(ctx, pp.Push)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPushTimeout}, true, nil
	case errors.Is(err, cluster.ErrTampered):
		return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgLoginOver, Err: err}, true, nil
	case err != nil:
		d, err := e.storeDown(err)
		return d, true, err
	}
	if push.Account != acct.Name {
		return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgLoginOver}, true, nil
	}
	got, err, resendErr := e.waitPush(ctx, w, req, acct, push)
	if err != nil {
		d, err := e.storeDown(err)
		return d, true, err
	}
	if !got.State.Final() && !got.Expired(e.now()) && p.AttemptsLeft > 1 {
		// Enter pressed before the approval: ask again, same State.
		msg, err := e.pushPrompt(got)
		if err != nil {
			return Decision{}, true, err
		}
		return Decision{Outcome: Challenge, Reason: ReasonPushWaiting, Message: msg, State: req.State, Device: got.DeviceName, Err: resendErr}, true, nil
	}
	d := e.pushOutcome(acct, got, data.Reply)
	d.Err = errors.Join(d.Err, resendErr)
	return d, true, nil
}

// PushReply is a device's answer as the approval API received it.
type PushReply struct {
	Push      string
	Device    string
	Decision  cluster.PushState
	Number    string
	At        time.Time
	Signature []byte
}

// Errors of AnswerPush; the approval API maps them to HTTP statuses.
var (
	// ErrAnswerRefused: the answer does not prove the device (unknown
	// push or device, bad signature, clock too far off, bad decision).
	ErrAnswerRefused = errors.New("push answer refused")
	// ErrNumberMismatch: the number is wrong; the push is denied.
	ErrNumberMismatch = errors.New("push answer: the number does not match")
)

// AnswerPush records a device's answer to a push, on whichever node the
// device reached: it checks the device's signature, the time, and the
// number of a verified push, then records the answer once
// (cluster.ErrPushAnswered, cluster.ErrPushExpired otherwise). A fraud
// report locks the account, writes an audit event and raises the alert.
func (e *Engine) AnswerPush(ctx context.Context, r PushReply) (*cluster.Push, error) {
	if e.push == nil || e.sf == nil {
		return nil, fmt.Errorf("%w: push approval is off", ErrAnswerRefused)
	}
	switch r.Decision {
	case cluster.PushApproved, cluster.PushDenied, cluster.PushFraud:
	default:
		return nil, fmt.Errorf("%w: decision %q", ErrAnswerRefused, r.Decision)
	}
	now := e.now()
	p, err := e.push.pushes.Get(ctx, r.Push)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return nil, fmt.Errorf("%w: no such push (answered long ago, or never sent)", ErrAnswerRefused)
	case errors.Is(err, cluster.ErrTampered):
		return nil, fmt.Errorf("%w: %w", ErrAnswerRefused, err)
	}
	if err != nil {
		return nil, err
	}
	if r.Device != p.Device {
		return nil, fmt.Errorf("%w: the push went to another device", ErrAnswerRefused)
	}
	if d := now.Sub(r.At); d > answerSkew || d < -answerSkew {
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
	a := cluster.PushAnswer{Decision: r.Decision, Number: r.Number, At: r.At.UTC().Truncate(time.Second), Signature: r.Signature, Node: e.push.cfg.Node}
	if err := VerifyPushAnswer(dev, p, &a); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAnswerRefused, err)
	}
	mismatch := p.Verified() && r.Decision == cluster.PushApproved && !e.push.pushes.NumberMatches(p, r.Number)
	state := a.Decision
	if mismatch {
		// One guess per push: a wrong number denies the login. The
		// device's signed answer is kept as it came; the verdict is the
		// state and the reason.
		state, a.Reason = cluster.PushDenied, answerNumberMismatch
	}
	got, err := e.push.pushes.Answer(ctx, p, state, a, now)
	if r.Decision == cluster.PushFraud && (errors.Is(err, cluster.ErrPushAnswered) || errors.Is(err, cluster.ErrPushExpired)) {
		// "This wasn't me" after the login was decided or timed out
		// still protects the account.
		e.reportFraud(ctx, p, now)
		return got, err
	}
	if err != nil {
		return got, err
	}
	switch {
	case mismatch:
		e.auditPush(ctx, got, "push.number_mismatch", now)
		return got, ErrNumberMismatch
	case a.Decision == cluster.PushApproved:
		// For "last used" in the portal; a failed write loses only that.
		_ = e.sf.accounts.Touch(ctx, p.Account, p.Device, now)
	case a.Decision == cluster.PushDenied:
		e.auditPush(ctx, got, "push.deny", now)
	case a.Decision == cluster.PushFraud:
		if err := e.reportFraud(ctx, got, now); err != nil {
			return got, err
		}
	}
	return got, nil
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
	e.auditPush(ctx, p, "push.fraud", now)
	if e.push.cfg.Alert != nil {
		e.push.cfg.Alert(ctx, p)
	}
	return nil
}

// auditPush records what a device said about a login.
func (e *Engine) auditPush(ctx context.Context, p *cluster.Push, action string, now time.Time) {
	if e.audit == nil {
		return
	}
	detail := fmt.Sprintf("push %s to device %q for %s from %s (NAS %s)", p.ID, p.DeviceName, p.Client, orDash(p.From), p.NASAddr)
	if action == "push.fraud" {
		detail += "; account locked until an admin unlocks it"
	}
	_ = e.audit.Record(ctx, cluster.Event{Time: now, Action: action, Actor: e.actor, User: p.Account, Detail: detail})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
