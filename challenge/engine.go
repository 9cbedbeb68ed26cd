package challenge

import (
	"context"
	"fmt"
	"time"

	"twostep/cluster"
	"twostep/directory"
)

// Directory checks a first factor; the users file and the LDAP/AD
// backend of package directory implement it.
type Directory interface {
	Authenticate(ctx context.Context, username, password string) (directory.Result, error)
}

// Engine decides logins: the first factor against the directory, then
// the group policy, then the second factor kept in the cluster.
type Engine struct {
	dir    Directory
	policy Policy
	sf     *secondFactor  // nil: Require accepts the password alone
	push   *pushFactor    // nil: no push approval
	audit  *cluster.Audit // nil: nothing is audited
	actor  string         // who this node is, in audit events
	now    func() time.Time
	// metrics counts pushes and locks; nil: nothing counted.
	metrics *Metrics
}

// Option configures an Engine.
type Option func(*Engine)

// WithPasscodes turns on the passcode second factor for the users policy
// requires it of, with devices, lockouts and challenges kept in the
// cluster. Without it, Require accepts a correct password alone (the
// daemon warns).
func WithPasscodes(cfg Passcodes, accounts *cluster.Accounts, challenges *cluster.Challenges) Option {
	return func(e *Engine) {
		e.sf = &secondFactor{cfg: cfg.withDefaults(), accounts: accounts, challenges: challenges}
	}
}

// WithAudit records what the engine changes by itself in the cluster's
// audit trail, as actor (cluster.NodeActor: "node vpn1"): each use of a
// bypass code and each lock (too many wrong codes, a fraud report), in
// the transaction of the change; a device's push denials and fraud
// reports; a recovery passcode spent at a portal sign-in, as the user
// (cluster.PortalActor).
func WithAudit(audit *cluster.Audit, actor string) Option {
	return func(e *Engine) { e.audit, e.actor = audit, actor }
}

// WithClock sets the clock of passcode checks and expiries; default
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) { e.now = now }
}

// NewEngine returns an Engine that checks passwords against dir and applies
// policy to the user's groups.
func NewEngine(dir Directory, policy Policy, opts ...Option) *Engine {
	e := &Engine{dir: dir, policy: policy, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	if e.sf != nil && e.audit != nil {
		e.sf.accounts = e.sf.accounts.As(cluster.Actor{Name: e.actor, Now: e.now})
	}
	return e
}

// typed is what the password box held, parted: the password, and an
// appended passcode or push keyword.
type typed struct {
	password string
	code     string // the appended passcode, as passcode reads it
	hasCode  bool
	push     int // the device a push keyword asks for (0: the default); -1: none
}

// Authenticate decides req and answers it through w. A login that waits
// for the user's device holds no goroutine meanwhile: Authenticate
// releases w and returns, and the answer comes from the goroutine that
// sees the device's answer or the end of the NAS's wait. ctx must last
// until w is answered.
func (e *Engine) Authenticate(ctx context.Context, req *Request, w Responder) {
	d, err := e.decide(ctx, req, w)
	if d.wait == nil || err != nil {
		d.wait = nil
		e.metrics.pushEnded(d)
		w.Respond(d, err)
		return
	}
	w.Release()
	d.wait(func(d Decision, err error) {
		e.metrics.pushEnded(d)
		w.Respond(d, err)
	})
}

// decide decides req, or leaves the decision open (Decision.wait) for a
// login that waits for the user's device.
func (e *Engine) decide(ctx context.Context, req *Request, w Responder) (Decision, error) {
	if !validUser(req.User) {
		return Decision{Outcome: Reject, Reason: ReasonBadUsername}, nil
	}
	if req.State != nil {
		return e.answerRound(ctx, req, w)
	}
	in := typed{password: req.Password, push: -1}
	if e.sf != nil {
		in.password, in.code, in.hasCode = req.Login.split(req.Password)
	}
	if e.sf != nil && e.push != nil && !in.hasCode {
		if pw, n, ok := req.Login.splitPush(req.Password); ok {
			in.password, in.push = pw, n
		}
	}
	req.stepf("input", req.Login.Mode.String(), func() string { return inputDetail(in) })
	if e.sf != nil && e.push != nil && !in.hasCode {
		if in.push >= 0 || req.Login.Mode == ModeAuto {
			// A copy of this request may have started a push on another
			// node (the NAS failed over): join it, with no second push
			// and no second password check.
			if d, ok, err := e.joinPush(ctx, req); ok {
				return d, err
			}
		}
	}
	if in.password == "" {
		// An empty password must never reach a directory: an LDAP bind
		// with an empty password is an anonymous bind that "succeeds".
		return Decision{Outcome: Reject, Reason: ReasonEmptyPassword}, nil
	}
	res, err := e.dir.Authenticate(ctx, req.User, in.password)
	if err != nil {
		req.step("first_factor", "error", "the directory did not answer")
		return Decision{}, fmt.Errorf("challenge: directory: %w", err)
	}
	req.stepf("first_factor", res.Status.String(), func() string { return userDetail(res) })
	if res.Status == directory.OK {
		d, err := e.apply(ctx, req, res.User, in)
		return d.then(func(d Decision) Decision {
			d.User = res.User.Name
			return d
		}), err
	}
	d := firstFactorRefused(res.Status)
	d.User, d.Factor = res.User.Name, FactorPassword
	return d, nil
}

// apply decides for a user whose password was right.
func (e *Engine) apply(ctx context.Context, req *Request, u directory.User, in typed) (Decision, error) {
	rule, i := e.policy.matchIndex(u.Groups)
	req.stepf("policy", rule.Action.String(), func() string { return ruleDetail(rule, i) })
	switch {
	case rule.Action == Deny:
		return Decision{Outcome: Reject, Reason: ReasonDeniedByPolicy, Message: msgDenied}, nil
	case rule.Action == Exempt:
		return Decision{Outcome: Accept, Reason: ReasonExempt, Attributes: rule.Reply, Factor: FactorExempt}, nil
	case e.sf == nil:
		return Decision{Outcome: Accept, Reason: ReasonOK, Attributes: rule.Reply, Factor: FactorPassword}, nil
	}
	name := u.Name
	if name == "" {
		name = req.User
	}
	return e.require(ctx, req, name, rule, in)
}
