package challenge

import (
	"net/netip"
	"time"
)

// Outcome is what the RADIUS layer answers. The zero value is Reject, so a
// Decision that was never filled in cannot let anybody in.
type Outcome uint8

const (
	// Reject refuses the login (Access-Reject).
	Reject Outcome = iota
	// Accept lets the user in (Access-Accept).
	Accept
	// Ask asks the user for more before deciding: a passcode, a device
	// from a menu, Enter once a push is approved (Access-Challenge, with
	// State for the answer). Logs and metrics call it "challenge", as
	// RADIUS does.
	Ask
)

// String names the outcome for logs and metrics: the RADIUS answer.
func (o Outcome) String() string {
	switch o {
	case Accept:
		return "accept"
	case Ask:
		return "challenge"
	default:
		return "reject"
	}
}

// Reason says why a Decision was taken, in words fit for a log line and a
// metric label. It never carries user input.
type Reason string

// Reasons known to every layer.
const (
	ReasonOK              Reason = "ok"
	ReasonBadPassword     Reason = "bad_password"
	ReasonUnknownUser     Reason = "unknown_user"
	ReasonDisabled        Reason = "disabled"
	ReasonEmptyPassword   Reason = "empty_password"
	ReasonBadUsername     Reason = "bad_username"
	ReasonUnsupportedAuth Reason = "unsupported_auth"
	ReasonLocked          Reason = "locked"
	ReasonPasswordExpired Reason = "password_expired"
	ReasonAccountExpired  Reason = "account_expired"
	ReasonLogonDenied     Reason = "logon_denied"
	ReasonDeniedByPolicy  Reason = "denied_by_policy"
	ReasonExempt          Reason = "exempt"
)

// Factor names the factor a decision rested on, for the login history.
type Factor string

// Factors of the login history.
const (
	// FactorNone: no factor decided (a malformed request, a policy that
	// denies, a wrong passcode that matched no device, a locked account,
	// a store that could not be reached).
	FactorNone Factor = ""
	// FactorPassword: the directory's answer to the password decided (a
	// wrong password, an account state, a round that asks for more), or
	// the password alone let the user in (no second factor configured,
	// the enrollment grace, failmode safe).
	FactorPassword Factor = "password"
	// FactorExempt: a policy rule let the password alone in.
	FactorExempt Factor = "exempt"
	// FactorTOTP and FactorHOTP: a passcode of such a device.
	FactorTOTP Factor = "totp"
	FactorHOTP Factor = "hotp"
	// FactorPush: a push, sent, answered or timed out.
	FactorPush Factor = "push"
	// FactorBypass: a bypass code, accepted or refused as expired or
	// used up.
	FactorBypass Factor = "bypass"
	// FactorRecovery: a recovery passcode (the portal's sign-in).
	FactorRecovery Factor = "recovery"
)

// Request is one login attempt as the RADIUS layer decoded it.
type Request struct {
	// ID is the request's correlation id, also in the RADIUS layer's log
	// line: lower layers put it in theirs to tie them together. The
	// engine keeps it in the records a later round or node continues the
	// login from (a challenge round, a push), and reports that login's
	// id in Decision.LoginID when this request continues one.
	ID string
	// User is the User-Name attribute as sent.
	User string
	// Password is the decoded PAP User-Password. It must never be logged.
	Password string
	// State is the State attribute of a challenge answer, nil otherwise.
	State []byte
	// Client is the configured name of the RADIUS client (the NAS entry).
	Client string
	// Service is what a push shows the user as the service they log in
	// to (the client's display name); empty: Client.
	Service string
	// Source is the address the packet came from.
	Source netip.AddrPort
	// NASIdentifier and CallingStationID are copied for logs and policy.
	NASIdentifier    string
	CallingStationID string
	// Login is how the client carries the second factor.
	Login ClientLogin
	// Identifier and Authenticator are the packet's: with Source and User
	// they name the request, so that a retransmission reaching another
	// node joins the push this one started.
	Identifier    byte
	Authenticator [16]byte
	// Arrived is when the request reached this node: a push waits what
	// the NAS waits from then. Zero: when Authenticate was called.
	Arrived time.Time
	// Trace follows the decision step by step when somebody traces the
	// user (`twostepctl trace`); nil otherwise. It only observes.
	Trace Tracer
}

// Decision is the answer to a Request.
type Decision struct {
	Outcome Outcome
	// Reason is logged and counted; it is not shown to the user.
	Reason Reason
	// Message is shown to the user as Reply-Message when not empty.
	Message string
	// State goes with Ask and comes back in the answer.
	State []byte
	// Attributes are sent with an Accept (from the matching policy rule).
	Attributes []Attribute
	// Device names the device whose passcode was accepted, or whose push
	// or bypass code decided, for the log; DeviceID is its id.
	Device   string
	DeviceID string
	// Factor is the factor the decision rested on, for the login history.
	Factor Factor
	// LoginID is the correlation id of the login this request continues
	// (a challenge round's answer, a push a copy of the request started
	// elsewhere): the id of the login's first request, kept in the
	// round's or the push's record. Empty: the request's own ID.
	LoginID string
	// User is the user's canonical name, for the log: the directory's
	// once the password was checked, the name a waiting login's records
	// are kept under for an answer to a challenge. Empty when the engine
	// did not learn it (an unknown user, a malformed name).
	User string
	// Err is a failure the Decision absorbed: the cluster store was down
	// and the client's fail mode answered. The RADIUS layer logs it.
	Err error
	// wait, when set, leaves the decision open: the login waits for the
	// user's device. Only Authenticate sees one, and hands it to its
	// Responder; a Decision that leaves the engine is final.
	wait wait
}
