package challenge

import (
	"context"
	"fmt"
	"unicode/utf8"

	"twostep/directory"
)

// Directory checks a first factor. directory.File and (later) the LDAP
// backend implement it.
type Directory interface {
	Authenticate(ctx context.Context, username, password string) (directory.Result, error)
}

// Engine decides logins: the first factor against the directory, then
// the group policy. The second factor arrives with the cluster package;
// until then Require accepts a correct password.
type Engine struct {
	dir    Directory
	policy Policy
}

// NewEngine returns an Engine that checks passwords against dir and applies
// policy to the user's groups.
func NewEngine(dir Directory, policy Policy) *Engine {
	return &Engine{dir: dir, policy: policy}
}

// Messages shown to users whose password was right but whose account
// cannot log in now. They say what to do, and reveal nothing to somebody
// without the password: directories report these states after the bind.
const (
	msgDisabled        = "Your account is disabled. Contact the help desk."
	msgLocked          = "Your account is locked. Contact the help desk, or try again later."
	msgPasswordExpired = "Your password has expired. Change it, then log in again."
	msgAccountExpired  = "Your account has expired. Contact the help desk."
	msgLogonDenied     = "You may not log in at this time or from this place."
	msgDenied          = "You are not allowed to use this service."
)

// maxUsername bounds User-Name; RADIUS allows 253 bytes and no directory
// has longer names.
const maxUsername = 253

// Authenticate decides one login request.
func (e *Engine) Authenticate(ctx context.Context, req *Request) (Decision, error) {
	if req.User == "" || len(req.User) > maxUsername || !utf8.ValidString(req.User) {
		return Decision{Outcome: Reject, Reason: ReasonBadUsername}, nil
	}
	if req.Password == "" {
		// An empty password must never reach a directory: an LDAP bind
		// with an empty password is an anonymous bind that "succeeds".
		return Decision{Outcome: Reject, Reason: ReasonEmptyPassword}, nil
	}
	res, err := e.dir.Authenticate(ctx, req.User, req.Password)
	if err != nil {
		return Decision{}, fmt.Errorf("challenge: directory: %w", err)
	}
	switch res.Status {
	case directory.OK:
		return e.apply(res.User), nil
	case directory.Disabled:
		return Decision{Outcome: Reject, Reason: ReasonDisabled, Message: msgDisabled}, nil
	case directory.Locked:
		return Decision{Outcome: Reject, Reason: ReasonLocked, Message: msgLocked}, nil
	case directory.PasswordExpired:
		return Decision{Outcome: Reject, Reason: ReasonPasswordExpired, Message: msgPasswordExpired}, nil
	case directory.AccountExpired:
		return Decision{Outcome: Reject, Reason: ReasonAccountExpired, Message: msgAccountExpired}, nil
	case directory.LogonDenied:
		return Decision{Outcome: Reject, Reason: ReasonLogonDenied, Message: msgLogonDenied}, nil
	case directory.UnknownUser:
		return Decision{Outcome: Reject, Reason: ReasonUnknownUser}, nil
	default:
		return Decision{Outcome: Reject, Reason: ReasonBadPassword}, nil
	}
}

// apply decides for a user whose password was right.
func (e *Engine) apply(u directory.User) Decision {
	rule := e.policy.match(u.Groups)
	switch rule.Action {
	case Deny:
		return Decision{Outcome: Reject, Reason: ReasonDeniedByPolicy, Message: msgDenied}
	case Exempt:
		return Decision{Outcome: Accept, Reason: ReasonExempt, Attributes: rule.Reply}
	default:
		// Require: the second factor is checked here once it exists.
		return Decision{Outcome: Accept, Reason: ReasonOK, Attributes: rule.Reply}
	}
}
