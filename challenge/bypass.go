package challenge

import (
	"context"
	"errors"
	"time"

	"twostep/cluster"
)

// Bypass codes the help desk issues: used once cluster-wide per use,
// within their expiry, each use audited.

// Reasons of bypass codes.
const (
	ReasonBypass        Reason = "bypass_code"
	ReasonBypassExpired Reason = "bypass_expired"
	ReasonBypassUsedUp  Reason = "bypass_used_up"
)

// useBypass tries code as one of acct's bypass codes. done is false when
// no code matches, so the caller counts a failure.
func (e *Engine) useBypass(ctx context.Context, acct *cluster.Account, code string, now time.Time) (Decision, bool, error) {
	b, err := e.sf.accounts.UseBypass(ctx, acct, code, now)
	switch {
	case errors.Is(err, cluster.ErrNoCode):
		return Decision{}, false, nil
	case errors.Is(err, cluster.ErrCodeExpired):
		// The right code, too late: not a guess, no lockout count.
		return bypassDecision(Reject, ReasonBypassExpired, b), true, nil
	case errors.Is(err, cluster.ErrCodeUsedUp):
		return bypassDecision(Reject, ReasonBypassUsedUp, b), true, nil
	case err != nil:
		return Decision{}, true, err
	}
	// The use's audit event (WithAudit) committed with it.
	return bypassDecision(Accept, ReasonBypass, b), true, nil
}

// bypassDecision is the decision o for reason r that bypass code b took.
func bypassDecision(o Outcome, r Reason, b cluster.Bypass) Decision {
	return Decision{Outcome: o, Reason: r, Device: "bypass " + b.ID, DeviceID: b.ID, Factor: FactorBypass}
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
