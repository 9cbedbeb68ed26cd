package challenge

import (
	"context"
	"time"

	"twostep/cluster"
)

// Users without a device: refused with what to do, or let in with the
// password alone during an enrollment grace.

// Reasons of users without a device.
const (
	ReasonNotEnrolled     Reason = "not_enrolled"
	ReasonUnenrolledGrace Reason = "unenrolled_grace"
)

// msgNotEnrolled is Unenrolled.Message's default.
const msgNotEnrolled = "You have no second-factor device. Ask the help desk to enroll one, then log in again."

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

// unenrolled decides for a user with no device.
func (e *Engine) unenrolled(ctx context.Context, req *Request, acct *cluster.Account, rule GroupRule, now time.Time) (Decision, error) {
	u := e.sf.cfg.Unenrolled
	deny := Decision{Outcome: Reject, Reason: ReasonNotEnrolled, Message: u.Message}
	if !u.Allow {
		req.step("unenrolled", "deny", "no device and no usable bypass code; passcodes.unenrolled.action is deny")
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
			req.stepf("unenrolled", "deny", func() string { return "no device; the grace ended at " + first.Add(u.Grace).UTC().Format(time.RFC3339) })
			return deny, nil
		}
	}
	req.step("unenrolled", "allow", "no device; let in with the password alone (passcodes.unenrolled)")
	return Decision{Outcome: Accept, Reason: ReasonUnenrolledGrace, Attributes: rule.Reply, Factor: FactorPassword}, nil
}
