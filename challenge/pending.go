package challenge

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"twostep/cluster"
)

// A challenge round's record: what a login waiting for the answer to its
// Access-Challenge keeps in the cluster, so that the answer may reach any
// node, and what a round that cannot be answered tells the user.

// Reasons of a round that cannot be answered.
const (
	ReasonChallengeExpired Reason = "challenge_expired"
	ReasonBadState         Reason = "bad_state"
)

// Messages of a round that cannot be answered.
const (
	msgTimedOut  = "Your login timed out. Log in again."
	msgLoginOver = "This login was already finished or has expired. Log in again." // a State spent, unknown or not this user's
)

// roundData is what a challenge round remembers of the login that asked
// it (cluster.Pending.Data).
type roundData struct {
	Reply []Attribute `json:"reply,omitempty"`
	// Push is set when the round waits on a push or offers a menu.
	Push *roundPush `json:"push,omitempty"`
}

// roundPush is what a challenge round remembers of a push or a push menu.
type roundPush struct {
	Push string   `json:"push,omitempty"`
	Menu []string `json:"menu,omitempty"` // device ids, in menu order
	// Verified carries the group's verified push to the menu's answer.
	Verified bool `json:"verified,omitempty"`
}

// round is a challenge round being answered: its record, and what the
// record remembers of the first round.
type round struct {
	p    *cluster.Pending
	data roundData
}

// newRound records a challenge round that asks req's user for more, its
// Account, Created and Expires set in r, remembering data for the
// answer. It returns the round's State.
func (e *Engine) newRound(ctx context.Context, req *Request, r cluster.Pending, data roundData) ([]byte, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	r.User, r.Client, r.NAS = req.User, req.Client, req.Source.Addr().String()
	r.AttemptsLeft, r.Data, r.Login = e.sf.cfg.ChallengeAttempts, b, req.ID
	state, err := e.sf.challenges.Create(ctx, r)
	if err != nil {
		req.step("round", "error", "the round could not be kept in the cluster store")
		return nil, err
	}
	req.stepf("round", "created", func() string {
		return fmt.Sprintf("an Access-Challenge round of login %s: %d attempt(s), until %s", r.Login, r.AttemptsLeft, r.Expires.UTC().Format(time.RFC3339))
	})
	return state, nil
}
