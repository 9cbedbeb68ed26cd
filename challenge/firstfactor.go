package challenge

import (
	"unicode/utf8"

	"twostep/directory"
)

// The first factor's answers: a user name that cannot be anybody's, and
// the directory's refusals.

// maxUsername bounds User-Name; RADIUS allows 253 bytes and no directory
// has longer names.
const maxUsername = 253

// validUser reports whether name can be a user's: not empty, valid
// UTF-8, within maxUsername.
func validUser(name string) bool {
	return name != "" && len(name) <= maxUsername && utf8.ValidString(name)
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

// firstFactorRefused is the answer to a directory status other than OK.
// The messages of the states a directory reports after a right password
// say what to do; a wrong password or an unknown user says nothing.
func firstFactorRefused(s directory.Status) Decision {
	switch s {
	case directory.Disabled:
		return Decision{Outcome: Reject, Reason: ReasonDisabled, Message: msgDisabled}
	case directory.Locked:
		return Decision{Outcome: Reject, Reason: ReasonLocked, Message: msgLocked}
	case directory.PasswordExpired:
		return Decision{Outcome: Reject, Reason: ReasonPasswordExpired, Message: msgPasswordExpired}
	case directory.AccountExpired:
		return Decision{Outcome: Reject, Reason: ReasonAccountExpired, Message: msgAccountExpired}
	case directory.LogonDenied:
		return Decision{Outcome: Reject, Reason: ReasonLogonDenied, Message: msgLogonDenied}
	case directory.UnknownUser:
		return Decision{Outcome: Reject, Reason: ReasonUnknownUser}
	default:
		return Decision{Outcome: Reject, Reason: ReasonBadPassword}
	}
}
