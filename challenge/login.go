package challenge

import (
	"strings"
	"time"

	"twostep/challenge/otp"
)

// Mode is how a RADIUS client carries the second factor. VPN
// concentrators differ: some show an Access-Challenge's prompt, some have
// only one password box. Each mode is named as the configuration writes
// it (ModeChallenge is "challenge").
type Mode uint8

const (
	// ModeAuto takes a passcode appended to the password when there is
	// one and otherwise answers an Access-Challenge. It is the zero value.
	ModeAuto Mode = iota
	// ModeAppend expects "password,123456" in the one password box.
	ModeAppend
	// ModeChallenge answers the password with an Access-Challenge asking
	// for the passcode.
	ModeChallenge
)

// String names the mode as the configuration writes it.
func (m Mode) String() string {
	switch m {
	case ModeAppend:
		return "append"
	case ModeChallenge:
		return "challenge"
	default:
		return "auto"
	}
}

// ParseMode reads a mode name from the configuration.
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "auto":
		return ModeAuto, true
	case "append":
		return ModeAppend, true
	case "challenge":
		return ModeChallenge, true
	}
	return ModeAuto, false
}

// FailMode is what a client's logins get while the cluster store cannot
// be reached.
type FailMode uint8

const (
	// Secure rejects: no second factor, no login. The zero value.
	Secure FailMode = iota
	// Safe lets the password alone in, logged and counted each time.
	Safe
)

// String names the fail mode as the configuration writes it.
func (f FailMode) String() string {
	if f == Safe {
		return "safe"
	}
	return "secure"
}

// ParseFailMode reads a fail mode name from the configuration.
func ParseFailMode(s string) (FailMode, bool) {
	switch s {
	case "secure":
		return Secure, true
	case "safe":
		return Safe, true
	}
	return Secure, false
}

// DefaultNASTimeout and DefaultNASRetries are what a client entry that
// declares nothing is assumed to wait: 5 s, sent 3 times.
const (
	DefaultNASTimeout = 5 * time.Second
	DefaultNASRetries = 2
)

// ClientLogin is how one RADIUS client's users give their second factor.
// The zero value is auto mode with "," as separator and fail mode secure.
type ClientLogin struct {
	Mode Mode
	// Separator parts password and passcode in append and auto mode;
	// default ",". The last separator counts, so passwords may contain it.
	Separator string
	// CodeLength, when positive, takes the last CodeLength characters as
	// the passcode with no separator at all (append mode only: in auto
	// mode nothing would tell a password from a password and a code).
	CodeLength int
	FailMode   FailMode
	// NASTimeout and NASRetries are what the client waits for an answer:
	// each request NASTimeout, sent 1+NASRetries times. A push waits that
	// long less a margin; default 5 s and 2.
	NASTimeout time.Duration
	NASRetries int
	// VerifiedPush shows a number in an Access-Challenge that the user
	// enters on the device (clients that show challenges only).
	VerifiedPush bool
}

// separator is Separator or its default ",".
func (l ClientLogin) separator() string {
	if l.Separator == "" {
		return ","
	}
	return l.Separator
}

// split parts an appended passcode from the password, and returns the
// code as otp.Normalize reads it. ok is false when the password carries none
// (or the mode does not append). Only what follows the last separator can
// be a code, so a password keeps its spaces and dashes; and only digits,
// or digits in even groups as codes are printed (appendedCode), are a
// code there: a password that ends in ",2025-01-15" or ",555 123 4567"
// stays whole. With CodeLength and no separator nothing tells a group's
// space from the password's, so the code is taken as typed, digits only.
func (l ClientLogin) split(password string) (pw, code string, ok bool) {
	switch {
	case l.Mode == ModeChallenge:
		return password, "", false
	case l.CodeLength > 0 && l.Mode == ModeAppend:
		if len(password) <= l.CodeLength {
			return password, "", false
		}
		pw, code = password[:len(password)-l.CodeLength], password[len(password)-l.CodeLength:]
		if c, ok := otp.Normalize(code); !ok || c != code {
			return password, "", false
		}
	default:
		sep := l.separator()
		i := strings.LastIndex(password, sep)
		if i < 0 {
			return password, "", false
		}
		pw, code = password[:i], password[i+len(sep):]
	}
	code, ok = appendedCode(code)
	if pw == "" || !ok {
		return password, "", false
	}
	return pw, code, true
}

// appendedCode reads s, what follows a password's last separator, as a
// passcode when it is one beyond doubt: digits only, or groups of three
// or of four digits all joined by one space or all by one dash, as bypass
// codes and authenticator apps print them ("123 456 789", "1234-5678"),
// with spaces around it ignored.
// Anything else (a date, a phone number) is part of the password.
func appendedCode(s string) (string, bool) {
	s = strings.Trim(s, " ") // "password, 123456"
	code, ok := otp.Normalize(s)
	if !ok || code == s {
		return code, ok
	}
	for _, sep := range []string{" ", "-"} {
		groups := strings.Split(s, sep)
		if len(groups) < 2 || strings.Join(groups, "") != code {
			continue
		}
		size := len(groups[0])
		even := size == 3 || size == 4
		for _, g := range groups {
			even = even && len(g) == size
		}
		if even {
			return code, true
		}
	}
	return "", false
}

// Wait is how long a login of this client may wait synchronously, for a
// device's answer or for the store: what the NAS waits (its timeout
// times its tries) less a margin for the answer's way back (a tenth, at
// least 0.5 s), and at least a second.
func (l ClientLogin) Wait() time.Duration {
	timeout, retries := l.NASTimeout, l.NASRetries
	if timeout <= 0 {
		timeout = DefaultNASTimeout
	}
	if retries < 0 {
		retries = 0
	}
	total := timeout * time.Duration(retries+1)
	margin := max(total/10, 500*time.Millisecond)
	return max(total-margin, time.Second)
}

// pushKeyword reads "push" or "pushN" (N from 1 to 9) as the device
// choice: 0 for the default device, N for the N-th push device.
func pushKeyword(s string) (int, bool) {
	s = strings.ToLower(s)
	if s == "push" {
		return 0, true
	}
	if len(s) == 5 && strings.HasPrefix(s, "push") && s[4] >= '1' && s[4] <= '9' {
		return int(s[4] - '0'), true
	}
	return 0, false
}

// splitPush parts an appended push keyword from the password, in append
// and auto mode: "secret,push" or "secret,push2".
func (l ClientLogin) splitPush(password string) (pw string, n int, ok bool) {
	if l.Mode == ModeChallenge {
		return password, 0, false
	}
	sep := l.separator()
	i := strings.LastIndex(password, sep)
	if i <= 0 {
		return password, 0, false
	}
	n, ok = pushKeyword(password[i+len(sep):])
	if !ok {
		return password, 0, false
	}
	return password[:i], n, true
}
