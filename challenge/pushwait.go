package challenge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twostep/cluster"
)

// Waiting for the device: as long as the NAS waits, holding no goroutine,
// sending the notification again for a node that died before it did.

// awaitPush leaves the decision open until p's answer, or as long as
// the NAS waits. When the NAS would give up first, a client that shows
// challenges gets one ("approve, then press Enter"); the push stays
// answerable.
func (e *Engine) awaitPush(ctx context.Context, req *Request, acct *cluster.Account, p *cluster.Push, reply []Attribute) (Decision, error) {
	canChallenge := req.Login.Mode != ModeAppend
	decide := func(got *cluster.Push, err error) (Decision, error) {
		switch {
		case errors.Is(err, cluster.ErrNotFound):
			return pushDecision(Reject, ReasonPushTimeout, msgPushTimeout, p), nil
		case errors.Is(err, cluster.ErrTampered):
			// Edited in etcd while the login waited: refused as if gone.
			d := pushDecision(Reject, ReasonBadState, msgPushTimeout, p)
			d.Factor, d.Err = FactorNone, err
			return d, nil
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
				return e.lockedOut(fresh.Lockout), nil
			}
			acct = fresh
		}
		return e.pushOutcome(acct, got, reply), nil
	}
	req.stepf("push", "waiting", func() string {
		return fmt.Sprintf("for %s's answer, up to %s (what the NAS waits)", p.DeviceName, e.waitFor(req, p).Round(time.Millisecond))
	})
	return Decision{wait: func(done func(Decision, error)) {
		e.await(ctx, req, acct, p, func(got *cluster.Push, err, resendErr error) {
			req.stepf("push", answerResult(got, err), func() string { return answerDetail(got, err) })
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
	req.stepf("push", "waiting", func() string {
		return fmt.Sprintf("for %s's answer, up to %s (what the NAS waits)", p.DeviceName, e.waitFor(req, p).Round(time.Millisecond))
	})
	ch := make(chan result, 1)
	e.await(ctx, req, acct, p, func(p *cluster.Push, err, resendErr error) { ch <- result{p, err, resendErr} })
	r := <-ch
	req.stepf("push", answerResult(r.p, r.err), func() string { return answerDetail(r.p, r.err) })
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
	e.metrics.waiting(1)
	waited := done
	done = func(got *cluster.Push, err, resendErr error) {
		e.metrics.waiting(-1)
		waited(got, err, resendErr)
	}
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
