package challenge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"twostep/cluster"
)

// Starting a push: to the device the user chose, or following the push a
// copy of the request started on another node (the NAS failed over),
// without a second push or a second password check.

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
		return Decision{Outcome: Reject, Reason: ReasonPushTimeout, Message: msgPushTimeout, Factor: FactorPush}, true, nil
	case errors.Is(err, cluster.ErrTampered):
		return Decision{Outcome: Reject, Reason: ReasonBadState, Message: msgTimedOut, Err: err}, true, nil
	case err != nil:
		// Not found is the usual case; a store that is down is found
		// again, and answered, by the login itself.
		return Decision{}, false, nil
	}
	req.continues(p.Login)
	req.stepf("push", "joined", func() string {
		return "push " + p.ID + " to " + p.DeviceName + ", which a copy of this request started (another node, or this one before)"
	})
	if p.Login != "" {
		// The login's id, from the request that started the push: the
		// same as req's for a copy of it, the first round's when the push
		// was started in a later one.
		r := *req
		r.ID = p.Login
		req = &r
	}
	d, err := e.followPush(ctx, req, p)
	return d.then(func(d Decision) Decision {
		d.User = p.Account
		if d.LoginID == "" && p.Login != "" {
			d.LoginID = p.Login
		}
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

// startPush sends a push to device n (0: the default) of acct and waits
// for it, or answers the challenge of a verified push.
func (e *Engine) startPush(ctx context.Context, req *Request, acct *cluster.Account, rule GroupRule, n int) (Decision, error) {
	devs := pushDevices(acct)
	switch {
	case len(devs) == 0:
		req.step("push", "no_device", "the user has no push device")
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice, Factor: FactorPush}, nil
	case n > len(devs):
		req.stepf("push", "no_device", func() string { return fmt.Sprintf("push device %d asked for, of %d", n, len(devs)) })
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: pushCount(len(devs)), Factor: FactorPush}, nil
	}
	dev := devs[0]
	if n > 0 {
		dev = devs[n-1]
	}
	verified := req.Login.VerifiedPush || rule.VerifiedPush
	if verified && req.Login.Mode == ModeAppend {
		req.step("push", "needs_challenge", "verified push, and the client is in append mode: no number can be shown")
		return deviceDecision(Reject, ReasonPushNeedsPrompt, msgPushNoNumber, dev), nil
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
			Created: now, Expires: now.Add(e.push.cfg.Timeout), Data: data, Login: req.ID,
		}
		err := e.push.pushes.Start(ctx, acct, p, cluster.PushStart{Number: number, Join: join, Secret: []byte(req.Password), Limit: e.push.cfg.Limit}, now)
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
		req.stepf("push", "limited", func() string {
			return fmt.Sprintf("push.limit reached: %d push(es) per %s", e.push.cfg.Limit.Count, e.push.cfg.Limit.Window)
		})
		return deviceDecision(Reject, ReasonPushLimited, msgPushLimited, dev), nil
	case err != nil:
		return e.failMode(req, rule, err)
	}
	req.stepf("push", "started", func() string {
		s := "push " + p.ID + " to " + dev.Name + " (id " + dev.ID + "), answerable until " + p.Expires.UTC().Format(time.RFC3339)
		if verified {
			s += "; verified: the user enters the number shown"
		}
		return s
	})
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
