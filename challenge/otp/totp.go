package otp

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	potp "github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Algorithm is the HMAC hash of a TOTP device, named as in otpauth URIs.
type Algorithm string

// The algorithms of RFC 6238. Authenticator apps reliably honour only
// SHA1 for third-party accounts; the others suit hardware tokens.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

// TOTP is one device's time-based one-time password parameters (RFC 6238).
// Its methods are pure functions of their arguments: the time and the last
// accepted step come from the caller, who keeps them in the cluster, so
// every node decides alike and a code is used once cluster-wide.
type TOTP struct {
	// Secret is the shared seed; at least 16 bytes (RFC 4226 R6).
	Secret []byte
	// Algorithm is the HMAC hash; empty means SHA1.
	Algorithm Algorithm
	// Digits is the code length, 6 or 8; 0 means 6.
	Digits int
	// Period is the time step, whole seconds from 10s to 300s; 0 means 30s.
	// Apps use 30s (some 60s); hardware tokens may use others.
	Period time.Duration
}

// Window is how many time steps around now's step a code may come from:
// Back for clocks behind and codes typed slowly, Ahead for clocks ahead.
// The zero value accepts now's step only.
type Window struct{ Back, Ahead int }

// DefaultWindow returns the usual window: one step back (a code typed as
// it changed), none ahead. A function, so no caller can change it for all.
func DefaultWindow() Window { return Window{Back: 1} }

// minSecretLen is RFC 4226 R6's 128 bits.
const minSecretLen = 16

// b32 is the base32 of otpauth URIs: RFC 4648 without padding, which every
// authenticator app reads.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Validate reports the first parameter that is out of range. Check refuses
// every code of an invalid TOTP, so configuration and enrolment call
// Validate to learn why.
func (t TOTP) Validate() error {
	if _, ok := t.hash(); !ok {
		return fmt.Errorf("otp: totp: algorithm %q not supported (want SHA1, SHA256 or SHA512)", string(t.Algorithm))
	}
	if d := t.Digits; d != 0 && d != 6 && d != 8 {
		return fmt.Errorf("otp: totp: %d digits not supported (want 6 or 8)", d)
	}
	if p := t.Period; p != 0 && (p < 10*time.Second || p > 300*time.Second || p%time.Second != 0) {
		return fmt.Errorf("otp: totp: period %v not supported (want whole seconds from 10s to 300s)", p)
	}
	if len(t.Secret) < minSecretLen {
		return fmt.Errorf("otp: totp: secret is %d bytes, want at least %d", len(t.Secret), minSecretLen)
	}
	return nil
}

// hash maps the Algorithm to the library's, with the empty default.
func (t TOTP) hash() (potp.Algorithm, bool) {
	switch t.Algorithm {
	case "", SHA1:
		return potp.AlgorithmSHA1, true
	case SHA256:
		return potp.AlgorithmSHA256, true
	case SHA512:
		return potp.AlgorithmSHA512, true
	}
	return 0, false
}

func (t TOTP) digits() int {
	if t.Digits == 0 {
		return 6
	}
	return t.Digits
}

func (t TOTP) period() time.Duration {
	if t.Period == 0 {
		return 30 * time.Second
	}
	return t.Period
}

func (t TOTP) algorithm() Algorithm {
	if t.Algorithm == "" {
		return SHA1
	}
	return t.Algorithm
}

// Step returns the RFC 6238 counter at now: whole periods since the Unix
// epoch.
func (t TOTP) Step(now time.Time) int64 {
	p := int64(t.period() / time.Second)
	if p <= 0 {
		p = 30 // Validate refuses such a period; never divide by zero
	}
	s := now.Unix()
	if s < 0 {
		return (s - p + 1) / p // floor, for the odd clock before 1970
	}
	return s / p
}

// Code returns the code of step (RFC 4226 HOTP on the step counter). It
// returns "" for a TOTP that fails Validate, and Check accepts no "".
func (t TOTP) Code(step int64) string {
	if t.Validate() != nil {
		return ""
	}
	alg, _ := t.hash()
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(t.Secret), uint64(step), hotp.ValidateOpts{
		Digits:    potp.Digits(t.digits()),
		Algorithm: alg,
	})
	if err != nil { // only a bad base32, which we encode ourselves
		return ""
	}
	return code
}

// Check reports whether code is the code of a step s in
// [now-Back, now+Ahead] with s > last, and returns the latest such s for
// the caller to store as the new last. A step at or before last is a
// replay and refused: the caller passes the last step it accepted for
// this device (-1 when none). Codes of the wrong length or with non-digits
// are refused before any HMAC; every candidate is compared in constant
// time, without early exit, so timing tells nothing about which step
// matched. Negative window sides count as 0.
func (t TOTP) Check(code string, now time.Time, last int64, w Window) (step int64, ok bool) {
	if t.Validate() != nil || len(code) != t.digits() {
		return 0, false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return 0, false
		}
	}
	back, ahead := max(w.Back, 0), max(w.Ahead, 0)
	n := t.Step(now)
	for s := n - int64(back); s <= n+int64(ahead); s++ {
		match := subtle.ConstantTimeCompare([]byte(t.Code(s)), []byte(code)) == 1
		// Ascending steps: the last match kept is the latest, so a code
		// shared by two steps cannot be used once for each.
		if match && s > last {
			step, ok = s, true
		}
	}
	return step, ok
}

// URI returns the otpauth:// URI (Google's Key Uri Format) that enrolls t
// in an authenticator app, usually shown as a QR code:
// otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30.
// Google Authenticator, Microsoft Authenticator and Duo Mobile read it;
// for third-party accounts they honour SHA1, 6 digits and 30s for sure.
// Spaces become %20 (not +, which some apps show literally) and a ':'
// inside issuer or account becomes %3A, so the label's one literal ':'
// separates them. With an empty issuer the label is the account alone.
// The URI holds the secret: never log it.
func (t TOTP) URI(issuer, account string) string {
	esc := func(s string) string { return strings.ReplaceAll(url.PathEscape(s), ":", "%3A") }
	qesc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if issuer != "" {
		b.WriteString(esc(issuer))
		b.WriteString(":")
	}
	b.WriteString(esc(account))
	b.WriteString("?secret=")
	b.WriteString(b32.EncodeToString(t.Secret))
	if issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(qesc(issuer))
	}
	fmt.Fprintf(&b, "&algorithm=%s&digits=%d&period=%d", t.algorithm(), t.digits(), int64(t.period()/time.Second))
	return b.String()
}

// ParseTOTPURI reads an otpauth://totp/ URI, as exported by an
// authenticator app or printed on a hardware token's sheet, into a TOTP
// with every field explicit, its issuer and its account. It refuses
// otpauth://hotp/, a missing or non-base32 secret, unknown algorithms,
// digits or periods, a repeated parameter, an issuer parameter that
// contradicts the label, and anything Validate refuses. No error quotes
// the URI, which holds the secret.
func ParseTOTPURI(uri string) (t TOTP, issuer, account string, err error) {
	fail := func(format string, a ...any) (TOTP, string, string, error) {
		return TOTP{}, "", "", fmt.Errorf("otp: totp: uri: "+format, a...)
	}
	u, perr := url.Parse(uri)
	if perr != nil { // url.Error quotes the URI: drop it
		return fail("not a URI")
	}
	if !strings.EqualFold(u.Scheme, "otpauth") || u.Opaque != "" {
		return fail("want otpauth://totp/…")
	}
	switch strings.ToLower(u.Host) {
	case "totp":
	case "hotp":
		return fail("otpauth://hotp/ (counter-based HOTP) is not supported; want otpauth://totp/")
	default:
		return fail("want otpauth://totp/…")
	}
	q, qerr := url.ParseQuery(u.RawQuery)
	if qerr != nil {
		return fail("query does not parse")
	}
	param := func(name string) (string, error) {
		v := q[name]
		if len(v) > 1 {
			return "", fmt.Errorf("otp: totp: uri: parameter %s given %d times", name, len(v))
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	var vals [5]string
	for i, name := range []string{"secret", "issuer", "algorithm", "digits", "period"} {
		if vals[i], err = param(name); err != nil {
			return TOTP{}, "", "", err
		}
	}
	secret, pIssuer, alg, digits, period := vals[0], vals[1], vals[2], vals[3], vals[4]

	// Label: "ISSUER:ACCOUNT" or "ACCOUNT", either part percent-encoded.
	raw := strings.TrimPrefix(u.EscapedPath(), "/")
	label, lerr := url.PathUnescape(raw)
	if lerr != nil {
		return fail("label is not percent-encoded UTF-8")
	}
	var lIssuer string
	switch {
	case pIssuer != "" && strings.HasPrefix(label, pIssuer+":"):
		// The issuer parameter tells where the label splits, even when
		// the issuer holds a ':' or the separator was encoded.
		lIssuer, account = pIssuer, label[len(pIssuer)+1:]
	case strings.Contains(raw, ":"):
		i := strings.Index(raw, ":")
		lIssuer, _ = url.PathUnescape(raw[:i])
		account, _ = url.PathUnescape(raw[i+1:])
	default:
		account = label
	}
	account = strings.TrimLeft(account, " ") // the format allows spaces after ':'
	issuer = pIssuer
	if issuer == "" {
		issuer = lIssuer
	} else if lIssuer != "" && lIssuer != issuer {
		return fail("issuer parameter %q differs from the label's issuer %q", issuer, lIssuer)
	}

	if secret == "" {
		return fail("no secret parameter")
	}
	secret = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	if t.Secret, err = b32.DecodeString(secret); err != nil {
		return fail("secret is not base32")
	}
	t.Algorithm = SHA1
	if alg != "" {
		t.Algorithm = Algorithm(strings.ToUpper(alg))
		if _, ok := t.hash(); !ok {
			return fail("algorithm %q not supported (want SHA1, SHA256 or SHA512)", alg)
		}
	}
	t.Digits = 6
	if digits != "" {
		if t.Digits, err = strconv.Atoi(digits); err != nil || (t.Digits != 6 && t.Digits != 8) {
			return fail("digits %q not supported (want 6 or 8)", digits)
		}
	}
	t.Period = 30 * time.Second
	if period != "" {
		p, perr := strconv.Atoi(period)
		if perr != nil || p < 10 || p > 300 {
			return fail("period %q not supported (want 10 to 300 seconds)", period)
		}
		t.Period = time.Duration(p) * time.Second
	}
	if err := t.Validate(); err != nil {
		return TOTP{}, "", "", err
	}
	return t, issuer, account, nil
}

// NewTOTPSecret reads a fresh secret from r (crypto/rand.Reader in
// production) as long as the algorithm's hash output, as RFC 4226 and
// RFC 6238 recommend: 20 bytes for SHA1 (or empty), 32 for SHA256, 64 for
// SHA512.
func NewTOTPSecret(r io.Reader, alg Algorithm) ([]byte, error) {
	var n int
	switch alg {
	case "", SHA1:
		n = 20
	case SHA256:
		n = 32
	case SHA512:
		n = 64
	default:
		return nil, fmt.Errorf("otp: totp: algorithm %q not supported (want SHA1, SHA256 or SHA512)", string(alg))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("otp: totp: new secret: %w", err)
	}
	return b, nil
}
