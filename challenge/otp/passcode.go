package otp

import "strings"

// Passcodes are digits only; their length bounds what Normalize accepts:
// 6 and 8 digit TOTP and HOTP codes, longer bypass and recovery codes.
const (
	minPasscode = 6
	maxPasscode = 12
)

// Normalize reads s as a typed passcode: digits, with the spaces, dashes
// and tabs people type between groups dropped ("123 456 789", as bypass
// codes are printed; "123-456"). ok is false when what is left is not 6
// to 12 digits.
func Normalize(s string) (code string, ok bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if len(code) < minPasscode || len(code) > maxPasscode {
		return "", false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}
