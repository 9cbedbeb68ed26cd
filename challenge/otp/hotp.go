package otp

import (
	"crypto/subtle"
	"fmt"
	"math"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// HOTP is an event-based token (RFC 4226): the common 6-digit button
// tokens, whose code advances with each press. Its methods are pure
// functions of their arguments: the stored counter comes from the caller,
// who keeps it in the cluster and writes the returned one back in a
// transaction, so every node decides alike and a code is used once
// cluster-wide.
type HOTP struct {
	// Secret is the shared seed; at least 16 bytes (RFC 4226 R6).
	Secret []byte
	// Algorithm is the HMAC hash; empty means SHA1, the only one of
	// RFC 4226. Some tokens use SHA256 (or SHA512).
	Algorithm Algorithm
	// Digits is the code length, 6 or 8; 0 means 6.
	Digits int
}

// The look-ahead of HOTP tokens: DefaultHOTPWindow counters at login,
// for presses that never reached the server; DefaultResyncWindow for
// Resync, which is safe to search further because it needs two
// consecutive codes.
const (
	DefaultHOTPWindow   = 10
	DefaultResyncWindow = 100
)

// Validate reports the first parameter that is out of range. Check and
// Resync refuse every code of an invalid HOTP, so configuration and
// enrolment call Validate to learn why.
func (h HOTP) Validate() error {
	if _, ok := h.hash(); !ok {
		return fmt.Errorf("otp: hotp: algorithm %q not supported (want SHA1, SHA256 or SHA512)", string(h.Algorithm))
	}
	if d := h.Digits; d != 0 && d != 6 && d != 8 {
		return fmt.Errorf("otp: hotp: %d digits not supported (want 6 or 8)", d)
	}
	if len(h.Secret) < minSecretLen {
		return fmt.Errorf("otp: hotp: secret is %d bytes, want at least %d", len(h.Secret), minSecretLen)
	}
	return nil
}

// hash maps the Algorithm to the library's, with the empty default; the
// same mapping as TOTP's.
func (h HOTP) hash() (potp.Algorithm, bool) { return TOTP{Algorithm: h.Algorithm}.hash() }

func (h HOTP) digits() int {
	if h.Digits == 0 {
		return 6
	}
	return h.Digits
}

// Code returns the code of counter (RFC 4226, as in its Appendix D). It
// returns "" for an HOTP that fails Validate, and Check accepts no "".
func (h HOTP) Code(counter uint64) string {
	if h.Validate() != nil {
		return ""
	}
	alg, _ := h.hash()
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(h.Secret), counter, hotp.ValidateOpts{
		Digits:    potp.Digits(h.digits()),
		Algorithm: alg,
	})
	if err != nil { // only a bad base32, which we encode ourselves
		return ""
	}
	return code
}

// Check looks for code at counters next … next+window-1, where next is
// the first unused counter (the stored one; 0 for a new token). It
// returns the counter after the match, for the caller to store as the new
// next, so a code is accepted once and codes before it are void: a code
// of a counter below next is a replay and refused. Codes of the wrong
// length or with non-digits are refused before any HMAC; every candidate
// is compared in constant time, without early exit, so timing tells
// nothing about which counter matched. A window below 1 means
// DefaultHOTPWindow; the caller bounds it (each counter costs an HMAC).
func (h HOTP) Check(code string, next uint64, window int) (newNext uint64, ok bool) {
	if !h.wellFormed(code) {
		return 0, false
	}
	n := hotpSpan(next, window, DefaultHOTPWindow)
	for i := range n {
		c := next + i
		match := subtle.ConstantTimeCompare([]byte(h.Code(c)), []byte(code)) == 1
		// Ascending counters: the last match kept is the latest, so a
		// code shared by two counters cannot be used once for each.
		if match {
			newNext, ok = c+1, true
		}
	}
	return newNext, ok
}

// Resync finds two consecutive codes, code1 at a counter c and code2 at
// c+1, both within next … next+window-1, for a token whose counter ran
// far ahead of the stored one (its button pressed many times). It returns
// the counter after code2, for the caller to store. Two codes make a wide
// window safe: a guess must hit a pair, not one code among window. The
// same code twice is refused (it cannot prove two presses). Codes are
// checked as in Check; a window below 1 means DefaultResyncWindow.
func (h HOTP) Resync(code1, code2 string, next uint64, window int) (newNext uint64, ok bool) {
	if !h.wellFormed(code1) || !h.wellFormed(code2) || code1 == code2 {
		return 0, false
	}
	n := hotpSpan(next, window, DefaultResyncWindow)
	prev := 0 // whether code1 matched the counter before c
	for i := range n {
		c := next + i
		code := []byte(h.Code(c))
		if prev&subtle.ConstantTimeCompare(code, []byte(code2)) == 1 {
			newNext, ok = c+1, true // latest pair kept, as in Check
		}
		prev = subtle.ConstantTimeCompare(code, []byte(code1))
	}
	return newNext, ok
}

// wellFormed reports whether h is valid and code has its length and only
// ASCII digits: the checks made before any HMAC.
func (h HOTP) wellFormed(code string) bool {
	if h.Validate() != nil || len(code) != h.digits() {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// hotpSpan is how many counters from next a search covers: window, or def
// when window < 1, cut so that the counter after the last one searched
// still fits in a uint64 and can be stored.
func hotpSpan(next uint64, window, def int) uint64 {
	if window < 1 {
		window = def
	}
	return min(uint64(window), math.MaxUint64-next)
}
