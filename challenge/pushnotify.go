package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostep/cluster"
	"twostep/notify"
)

// Telling the device: the push notification, and the client's fail mode
// when the push service cannot be reached.

// notifyPush tells p's device. stop is true when the login ends here: the
// device is gone, or the notifier failed and the client's fail mode
// answers.
func (e *Engine) notifyPush(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push, mark bool) (Decision, bool) {
	dev, ok := acct.Device(p.Device)
	if !ok {
		req.step("push", "no_device", "the push's device was removed")
		return Decision{Outcome: Reject, Reason: ReasonPushNoDevice, Message: msgPushNoDevice, Factor: FactorPush}, true
	}
	pd, err := dev.PushDevice()
	if err != nil {
		req.step("push", "undelivered", "the device's registration does not open (see the log)")
		d := deviceDecision(Reject, ReasonPushUndelivered, msgPushGone, dev)
		d.Err = err
		return d, true
	}
	msg := notify.Message{
		Tx: p.ID, User: p.User, Device: p.Device, Service: p.ShownService(), NAS: p.NASID, From: p.From, Purpose: PushPurpose(p),
		Created: p.Created, Expires: p.Expires, Number: p.Verified(), Answer: e.push.cfg.AnswerURLs,
	}
	target := notify.Target{Kind: pd.Kind, Endpoint: pd.Endpoint, P256DH: pd.P256DH, Auth: pd.Auth, Secret: pd.Secret}
	nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.push.notifier.Notify(nctx, target, msg); err != nil {
		req.stepf("push", "undelivered", func() string { return "the notification to " + dev.Name + " (" + pd.Kind + ") failed (see the log)" })
		if errors.Is(err, notify.ErrGone) || errors.Is(err, notify.ErrRefused) {
			// The device or its settings are at fault, not the service:
			// no fail mode, whatever the client's.
			d := deviceDecision(Reject, ReasonPushUndelivered, msgPushGone, dev)
			d.Err = err
			return d, true
		}
		// The push service or webhook is down: the client's fail mode
		// decides, as for a store that cannot be reached.
		d := deviceDecision(Reject, ReasonFailSecure, msgUnavailable, dev)
		d.Factor, d.Err = FactorNone, fmt.Errorf("challenge: push notification: %w", err)
		if req.Login.FailMode == Safe {
			// The password alone lets the user in.
			d.Outcome, d.Reason, d.Message, d.Factor = Accept, ReasonFailSafe, "", FactorPassword
		}
		return d, true
	}
	req.stepf("push", "notified", func() string { return dev.Name + " (" + pd.Kind + ")" })
	if mark {
		// Best effort: a node taking over resends when this is not
		// recorded.
		_ = e.push.pushes.MarkNotified(ctx, p, e.now())
	}
	return Decision{}, false
}
