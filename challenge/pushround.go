package challenge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"twostep/challenge/otp"
	"twostep/cluster"
)

// Push in a challenge round: the menu of push devices, and the answers
// to a round bound to a push or a menu.

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
	now := e.now()
	state, err := e.newRound(ctx, req, cluster.Pending{Account: acct.Name, Created: now, Expires: now.Add(e.sf.cfg.ChallengeTTL)},
		roundData{Reply: rule.Reply, Push: &roundPush{Menu: ids, Verified: rule.VerifiedPush}})
	if err != nil {
		return e.failMode(req, rule, err)
	}
	req.stepf("push", "menu", func() string { return fmt.Sprintf("%d push device(s) offered, or a passcode", len(ids)) })
	return withProblems(Decision{Outcome: Ask, Reason: ReasonPushMenu, Message: b.String(), State: state, Factor: FactorPassword}, acct), nil
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
			req.step("push", "bad_choice", "the answer to the menu is neither a device's number nor a passcode")
			return Decision{Outcome: Reject, Reason: ReasonBadPasscode}, true, nil
		}
		req.stepf("push", "chosen", func() string { return fmt.Sprintf("menu item %d", i) })
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
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice, Factor: FactorPush}, true, nil
	}
	push, err := e.push.pushes.Get(ctx, pp.Push)
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPushTimeout, Factor: FactorPush}, true, nil
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
		d := pushDecision(Ask, ReasonPushWaiting, msg, got)
		d.State, d.Err = req.State, resendErr
		return d, true, nil
	}
	d := e.pushOutcome(acct, got, data.Reply)
	d.Err = errors.Join(d.Err, resendErr)
	return d, true, nil
}
