package challenge

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/directory"
)

// Tracer follows one request's decision step by step, for `twostepctl
// trace` (package trace's Request implements it). The transport sets it
// on the Request of a user somebody traces, and leaves it nil otherwise,
// which costs the engine a nil check per step. It travels with the
// Request, explicitly; the store's, the directory's and the notifier's
// own observers of the same request travel in the context, for
// observation only. The engine decides alike with or without a Tracer.
type Tracer interface {
	// Step tells of one step: its kind (input, first_factor, policy,
	// account, passcode, lockout, unenrolled, round, push), how it ended,
	// and what it was about. The detail never holds a password, a code,
	// a State, a verification number or a secret.
	Step(kind, result, detail string)
	// Continues tells that the request continues login id (a challenge
	// round's, a push's): its steps are that login's.
	Continues(id string)
}

// step tells req's Tracer, if any, of a step whose detail is already
// made.
func (r *Request) step(kind, result, detail string) {
	if r.Trace != nil {
		r.Trace.Step(kind, result, detail)
	}
}

// stepf tells req's Tracer, if any, of a step whose detail is made only
// then, so that untraced requests pay nothing for it.
func (r *Request) stepf(kind, result string, detail func() string) {
	if r.Trace != nil {
		r.Trace.Step(kind, result, detail())
	}
}

// continues tells req's Tracer, if any, that req continues login id.
func (r *Request) continues(id string) {
	if r.Trace != nil && id != "" {
		r.Trace.Continues(id)
	}
}

// inputDetail says what the password box held, never what: the password
// alone, with a passcode after the separator, or with a push keyword.
func inputDetail(in typed) string {
	switch {
	case in.hasCode:
		return "the password and a passcode after the separator"
	case in.push == 0:
		return "the password and the push keyword"
	case in.push > 0:
		return fmt.Sprintf("the password and the keyword push%d", in.push)
	}
	return "the password alone"
}

// userDetail names the directory's user and groups.
func userDetail(res directory.Result) string {
	if res.User.Name == "" {
		return "no user named"
	}
	groups := "none"
	if len(res.User.Groups) > 0 {
		groups = strings.Join(res.User.Groups, ", ")
	}
	return "user " + res.User.Name + ", groups: " + groups
}

// ruleDetail says which policy rule matched: its index and group, or the
// default, and the reply attributes it sends.
func ruleDetail(rule GroupRule, i int) string {
	s := "no rule matched: policy.default"
	if i >= 0 {
		s = fmt.Sprintf("policy.groups[%d]: group %s", i, rule.Group)
	}
	if rule.VerifiedPush {
		s += ", verified push"
	}
	if len(rule.Reply) > 0 {
		names := make([]string, len(rule.Reply))
		for j, a := range rule.Reply {
			names[j] = a.Name
		}
		s += "; reply: " + strings.Join(names, ", ")
	}
	return s
}

// accountDetail sums up a user's records: devices, bypass codes, lockout.
func accountDetail(acct *cluster.Account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d device(s)", len(acct.Devices))
	for i, d := range acct.Devices {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s (%s, id %s)", sep, d.Name, d.Type, d.ID)
	}
	if len(acct.Bypass) > 0 {
		fmt.Fprintf(&b, "; %d bypass code(s)", len(acct.Bypass))
	}
	if l := acct.Lockout; l.Failures > 0 || !l.LockedAt.IsZero() {
		fmt.Fprintf(&b, "; lockout: %d failure(s)", l.Failures)
	}
	if len(acct.Problems) > 0 {
		fmt.Fprintf(&b, "; %d record(s) skipped (see the log)", len(acct.Problems))
	}
	return b.String()
}

// passcodeDetail says against what a passcode was checked and what
// decided: the device (or bypass code) that took it, or the devices it
// matched none of.
func passcodeDetail(acct *cluster.Account, d Decision) string {
	if d.Device != "" {
		return d.Device
	}
	var names []string
	for _, dev := range acct.Devices {
		if dev.Type == cluster.TOTP || dev.Type == cluster.HOTP {
			names = append(names, dev.Name+" ("+string(dev.Type)+")")
		}
	}
	s := "no device took it; checked: " + strings.Join(names, ", ")
	if len(names) == 0 {
		s = "no passcode device"
	}
	if len(acct.Bypass) > 0 {
		s += fmt.Sprintf(", and %d bypass code(s)", len(acct.Bypass))
	}
	return s
}

// lockDetail says who locked an account and until when.
func lockDetail(l cluster.Lockout) string {
	s := "locked by " + string(l.LockedBy())
	if !l.LockedUntil.IsZero() {
		s += " until " + l.LockedUntil.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return s
}

// answerResult names how a wait for a push ended: the push's state
// (pending when it ended unanswered), or gone or error.
func answerResult(p *cluster.Push, err error) string {
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return "gone"
	case err != nil:
		return "error"
	}
	return string(p.State)
}

// answerDetail says who answered a push, where and when.
func answerDetail(p *cluster.Push, err error) string {
	switch {
	case errors.Is(err, cluster.ErrNotFound):
		return "the push expired and was cleaned up"
	case errors.Is(err, cluster.ErrTampered):
		return "the push's record fails its integrity check (see the log)"
	case err != nil:
		return "the push could not be read"
	case p.Answer == nil:
		return "no answer yet from " + p.DeviceName
	}
	s := p.DeviceName + " answered " + string(p.Answer.Decision) + " at " + p.Answer.At.UTC().Format(time.RFC3339)
	if p.Answer.Node != "" {
		s += " through " + p.Answer.Node
	}
	if p.Answer.Reason != "" {
		s += " (" + p.Answer.Reason + ")"
	}
	return s
}
