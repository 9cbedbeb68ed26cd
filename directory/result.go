package directory

// Status is the outcome of a password check. A wrong password is a Status,
// not an error; errors are reserved for a directory that cannot answer.
type Status uint8

const (
	// BadPassword: the user exists and the password does not match. It is
	// the zero value so that an unset Result never reads as success.
	BadPassword Status = iota
	// OK: the password matches and the account may log in.
	OK
	// UnknownUser: no such user.
	UnknownUser
	// Disabled: the account exists but is disabled.
	Disabled
	// Locked: the directory locked the account (AD lockout, ppolicy
	// pwdAccountLockedTime).
	Locked
	// PasswordExpired: the password is right but expired, or must be
	// changed before first use (AD 532/773, ppolicy passwordExpired).
	PasswordExpired
	// AccountExpired: the account's validity ended (AD accountExpires,
	// bind sub-code 701).
	AccountExpired
	// LogonDenied: the directory refuses this logon at this time or from
	// this workstation (AD 530/531).
	LogonDenied
)

// String names the status for logs.
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case UnknownUser:
		return "unknown_user"
	case Disabled:
		return "disabled"
	case Locked:
		return "locked"
	case PasswordExpired:
		return "password_expired"
	case AccountExpired:
		return "account_expired"
	case LogonDenied:
		return "logon_denied"
	default:
		return "bad_password"
	}
}

// User is what the directory knows of an account.
type User struct {
	// Name is the canonical username.
	Name string
	// Groups the user belongs to, as named by the directory.
	Groups []string
	// State is the account's state as Lookup reads it, without the
	// user's password, for admin tools: OK, Disabled, Locked,
	// AccountExpired or PasswordExpired. StateKnown is false where the
	// directory tells it only to the user's own bind (OpenLDAP's password
	// policy); State is then zero. Authenticate leaves both zero: its
	// Result.Status says it.
	State      Status
	StateKnown bool
}

// Result is the answer of Authenticate.
type Result struct {
	Status Status
	User   User
}
