package challenge

import (
	"context"
	"errors"
	"fmt"

	"twostep/cluster"
)

// A user's records in the cluster, loaded and decided on again when
// another node changed them meanwhile, and the answers every flow gives
// when the store cannot be reached.

// msgUnavailable tells the user that the store could not be reached.
const msgUnavailable = "The second-factor service is unavailable. Try again in a few minutes."

// Reasons of a store that could not be reached: the client's fail mode
// answered.
const (
	ReasonFailSafe   Reason = "failmode_safe"
	ReasonFailSecure Reason = "failmode_secure"
)

// retryOn runs decide on the account name, as acct holds it (nil: loaded
// first), and whenever decide returns cluster.ErrConflict loads the
// account again and runs decide again, through cluster.Retry, until ctx
// ends. It returns the account decide last saw.
func (e *Engine) retryOn(ctx context.Context, acct *cluster.Account, name, what string, decide func(context.Context, *cluster.Account) error) (*cluster.Account, error) {
	err := cluster.Retry(ctx, fmt.Sprintf("%s of %q", what, name), func(ctx context.Context) error {
		if acct == nil {
			a, err := e.sf.accounts.Load(ctx, name)
			if err != nil {
				return err
			}
			acct = a
		}
		err := decide(ctx, acct)
		if errors.Is(err, cluster.ErrConflict) {
			acct = nil // read again
		}
		return err
	})
	return acct, err
}

// withProblems adds the records Load skipped to d's log (to the final
// decision, when d is left open).
func withProblems(d Decision, acct *cluster.Account) Decision {
	if len(acct.Problems) == 0 {
		return d
	}
	return d.then(func(d Decision) Decision {
		d.Err = errors.Join(append([]error{d.Err}, acct.Problems...)...)
		return d
	})
}

// failMode answers a login whose second factor could not be checked
// because the store could not be reached, as the client is configured
// to. Any other failure (a record that does not open, a refused write) is
// an error: it never lets anybody in.
func (e *Engine) failMode(req *Request, rule GroupRule, err error) (Decision, error) {
	if !errors.Is(err, cluster.ErrUnavailable) {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	req.step("failmode", req.Login.FailMode.String(), "the cluster store did not answer")
	if req.Login.FailMode == Safe {
		return Decision{Outcome: Accept, Reason: ReasonFailSafe, Attributes: rule.Reply, Err: err, Factor: FactorPassword}, nil
	}
	return Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: err}, nil
}

// storeDown answers a challenge round the store failed: a reject saying
// the service is unavailable, whatever the fail mode, or an error when
// the failure was not the store's reachability.
func (e *Engine) storeDown(err error) (Decision, error) {
	if !errors.Is(err, cluster.ErrUnavailable) {
		return Decision{}, fmt.Errorf("challenge: %w", err)
	}
	return Decision{Outcome: Reject, Reason: ReasonFailSecure, Message: msgUnavailable, Err: err}, nil
}
