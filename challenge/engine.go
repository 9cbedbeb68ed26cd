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

// Engine decides logins. For now it checks the first factor only; the
// second factor arrives with the cluster package.
type Engine struct {
	dir Directory
}

// NewEngine returns an Engine that checks passwords against dir.
func NewEngine(dir Directory) *Engine {
	return &Engine{dir: dir}
}

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
		return Decision{Outcome: Accept, Reason: ReasonOK}, nil
	case directory.Disabled:
		return Decision{Outcome: Reject, Reason: ReasonDisabled, Message: "Your account is disabled. Contact the help desk."}, nil
	case directory.UnknownUser:
		return Decision{Outcome: Reject, Reason: ReasonUnknownUser}, nil
	default:
		return Decision{Outcome: Reject, Reason: ReasonBadPassword}, nil
	}
}
