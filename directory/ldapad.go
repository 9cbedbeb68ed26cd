package directory

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Presets of LDAPConfig.Preset.
const (
	PresetOpenLDAP        = "openldap"
	PresetActiveDirectory = "ad"
)

// Defaults of the Active Directory preset.
const (
	adUserFilter    = "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s)))"
	adUserAttribute = "sAMAccountName"
	// adNestedGroupFilter finds every group the DN is in, directly or
	// through other groups, in one search: LDAP_MATCHING_RULE_IN_CHAIN.
	adNestedGroupFilter = "(&(objectCategory=group)(member:1.2.840.113556.1.4.1941:=%s))"
	// adGroupFilter finds the groups that list the DN directly (GroupDepth
	// negative).
	adGroupFilter = "(&(objectCategory=group)(member=%s))"
)

// Attributes of an AD user entry that tell the account's state.
const (
	adUAC         = "userAccountControl"
	adUACComputed = "msDS-User-Account-Control-Computed"
	adExpires     = "accountExpires"
	adLockoutTime = "lockoutTime"
)

// adStateAttributes are read with the user's entry under the AD preset.
var adStateAttributes = []string{adUAC, adUACComputed, adExpires, adLockoutTime}

// userAccountControl flags (MS-ADTS 2.2.16).
const (
	uacAccountDisable   = 0x2
	uacLockout          = 0x10
	uacPasswordExpired  = 0x800000
	adNeverExpires      = 0x7FFFFFFFFFFFFFFF
	fileTimeUnixEpoch   = 116444736000000000 // 100 ns from 1601-01-01 to 1970-01-01
	fileTimeUnitsPerSec = 10000000
)

// adAccount is the account state read from an AD user entry at search
// time, and cached with it, so it may be up to CacheTTL old. Against a
// real domain controller that is harmless: AD refuses the bind of a
// disabled, expired or locked account itself. Against a directory that
// only copies AD's attributes without enforcing them, an account disabled
// since the search is still accepted until the cache entry expires: keep
// cache_ttl short (or 0) there. A refusal drops the cached entry so the
// next login reads it afresh.
type adAccount struct {
	uac uint32
	// computed: msDS-User-Account-Control-Computed was returned, so
	// uac holds AD's own view of lockout and password expiry.
	computed bool
	// expires is accountExpires as stored: 100 ns since 1601 UTC; 0 (or
	// less) or adNeverExpires for never.
	expires     int64
	lockoutTime int64
}

// parseADAccount reads the state attributes of e. Missing or unreadable
// values count as "nothing to report".
func parseADAccount(e *ldap.Entry) adAccount {
	num := func(attr string) (int64, bool) {
		v := e.GetAttributeValue(attr)
		if v == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	var a adAccount
	if n, ok := num(adUAC); ok {
		a.uac = uint32(n)
	}
	// The stored userAccountControl does not keep LOCKOUT or
	// PASSWORD_EXPIRED up to date on AD; the computed one does.
	if n, ok := num(adUACComputed); ok {
		a.uac |= uint32(n)
		a.computed = true
	}
	a.expires, _ = num(adExpires)
	a.lockoutTime, _ = num(adLockoutTime)
	return a
}

// status is what the entry says of the account at now: OK, Disabled,
// Locked, AccountExpired or PasswordExpired, in that order of precedence.
// A login asks it only after the password was proven by a bind (see
// LDAP.Authenticate); Lookup, for admin tools, asks it without one.
//
// lockoutTime counts only when msDS-User-Account-Control-Computed was not
// returned: AD leaves lockoutTime set after the lockout duration has
// lapsed, until the next successful logon, which is the very bind that
// preceded this check, so on AD it would turn a lapsed lockout into a
// refusal. The computed flag applies the domain's lockout duration. A
// directory that copies AD's attributes without computing them (a synced
// replica) has only lockoutTime to go by.
func (a adAccount) status(now time.Time) Status {
	switch {
	case a.uac&uacAccountDisable != 0:
		return Disabled
	case a.uac&uacLockout != 0, !a.computed && a.lockoutTime > 0:
		return Locked
	case a.expires > 0 && a.expires != adNeverExpires && !now.Before(fileTime(a.expires)):
		return AccountExpired
	case a.uac&uacPasswordExpired != 0:
		return PasswordExpired
	}
	return OK
}

// fileTime converts a Windows FILETIME (100 ns since 1601 UTC) to a time.
func fileTime(ft int64) time.Time {
	d := ft - fileTimeUnixEpoch
	return time.Unix(d/fileTimeUnitsPerSec, (d%fileTimeUnitsPerSec)*100).UTC()
}

// adDataCode finds the Win32 error in AD's and Samba's diagnostic message
// for a failed bind: "80090308: LdapErr: DSID-0C09044E, comment:
// AcceptSecurityContext error, data 52e, v4563".
var adDataCode = regexp.MustCompile(`AcceptSecurityContext error, data ([0-9a-fA-F]+)`)

// adBindStatus reads the reason of a failed simple bind (result 49,
// invalidCredentials) from Active Directory's diagnostic message, or from
// the NT_STATUS name that Samba AD before 4.4 gave instead. ok is false
// when the message is neither, as from OpenLDAP.
//
// AD tells these states only to the right password (533, 701, 532, 773,
// 530, 531 all follow a successful password check; a wrong password on a
// disabled or expired account is 52e), except lockout: a locked account
// answers 775 to any password, so Locked may reach a guesser, as it does
// from AD itself.
func adBindStatus(diagnostic string) (st Status, ok bool) {
	if m := adDataCode.FindStringSubmatch(diagnostic); m != nil {
		code, err := strconv.ParseUint(m[1], 16, 32)
		if err != nil {
			return BadPassword, false
		}
		switch code {
		case 0x525: // ERROR_NO_SUCH_USER
			return UnknownUser, true
		case 0x52e: // ERROR_LOGON_FAILURE
			return BadPassword, true
		case 0x530, 0x531: // ERROR_INVALID_LOGON_HOURS, ERROR_INVALID_WORKSTATION
			return LogonDenied, true
		case 0x532, 0x773: // ERROR_PASSWORD_EXPIRED, ERROR_PASSWORD_MUST_CHANGE
			return PasswordExpired, true
		case 0x533: // ERROR_ACCOUNT_DISABLED
			return Disabled, true
		case 0x701: // ERROR_ACCOUNT_EXPIRED
			return AccountExpired, true
		case 0x775: // ERROR_ACCOUNT_LOCKED_OUT
			return Locked, true
		}
		// Another code (1326-style failures, 52f restrictions): a refusal
		// with no state worth telling.
		return BadPassword, true
	}
	for _, s := range []struct {
		name string
		st   Status
	}{
		// Longest first where one name prefixes another.
		{"NT_STATUS_PASSWORD_MUST_CHANGE", PasswordExpired},
		{"NT_STATUS_PASSWORD_EXPIRED", PasswordExpired},
		{"NT_STATUS_ACCOUNT_DISABLED", Disabled},
		{"NT_STATUS_ACCOUNT_LOCKED_OUT", Locked},
		{"NT_STATUS_ACCOUNT_EXPIRED", AccountExpired},
		{"NT_STATUS_INVALID_LOGON_HOURS", LogonDenied},
		{"NT_STATUS_INVALID_WORKSTATION", LogonDenied},
		{"NT_STATUS_NO_SUCH_USER", UnknownUser},
		{"NT_STATUS_WRONG_PASSWORD", BadPassword},
		{"NT_STATUS_LOGON_FAILURE", BadPassword},
	} {
		if strings.Contains(diagnostic, s.name) {
			return s.st, true
		}
	}
	return BadPassword, false
}
