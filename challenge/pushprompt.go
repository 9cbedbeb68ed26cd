package challenge

import (
	"context"
	"fmt"

	"twostep/cluster"
)

// The Access-Challenge of a push that waits: the number to enter for a
// verified push, or "approve, then press Enter".

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
	state, err := e.newRound(ctx, req, cluster.Pending{Account: p.Account, Created: e.now(), Expires: p.Expires},
		roundData{Reply: reply, Push: &roundPush{Push: p.ID}})
	if err != nil {
		return e.storeDown(err)
	}
	req.stepf("push", "challenge", func() string {
		if p.Verified() {
			return "the Access-Challenge shows the number to enter on " + p.DeviceName
		}
		return "the NAS would stop waiting first: the Access-Challenge asks to approve on " + p.DeviceName + ", then press Enter"
	})
	d := pushDecision(Ask, ReasonPushWaiting, msg, p)
	d.State = state
	return d, nil
}
