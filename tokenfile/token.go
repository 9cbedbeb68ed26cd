package tokenfile

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Token types.
const (
	// HOTP is a counter-based token, RFC 4226: a code per button press.
	HOTP = "hotp"
	// TOTP is a time-based token, RFC 6238: a code per period.
	TOTP = "totp"
)

// HMAC hashes, named as in otpauth URIs and otp.Algorithm.
const (
	SHA1   = "SHA1"
	SHA256 = "SHA256"
	SHA512 = "SHA512"
)

// Limits on what a file may say about a token.
const (
	// minSecretLen is RFC 4226 R6's 128 bits.
	minSecretLen = 16
	// maxSecretLen is twice the longest seed RFC 6238 uses (SHA512): a
	// longer one is a mistake, not a token.
	maxSecretLen = 128
	// maxPeriod is the longest TOTP period accepted.
	maxPeriod = 300 * time.Second
	// maxSerialLen and maxTextLen bound names that end up in keys, logs
	// and listings.
	maxSerialLen = 64
	maxTextLen   = 256
)

// Token is one hardware token read from a file. Read returns tokens with
// every default filled in and every field valid.
//
// Token formats (%v, %+v, %s, ...) without its Secret, and its Secret is
// left out of JSON, so a token that reaches a log line or a status page by
// mistake does not take its seed with it.
type Token struct {
	// Serial is the vendor's serial number, printed on the token; unique
	// within a file. PSKC: DeviceInfo/SerialNo, else the Key's Id.
	Serial string
	// Type is HOTP or TOTP.
	Type string
	// Secret is the seed, 16 to 128 bytes: RFC 4226 asks for at least
	// 128 bits.
	Secret []byte `json:"-"`
	// Algorithm is the HMAC hash: SHA1 (the default), SHA256 or SHA512.
	Algorithm string
	// Digits is the code length, 6 (the default) or 8.
	Digits int
	// Period is a TOTP token's time step, whole seconds up to 5 minutes;
	// 30s by default. Zero for HOTP.
	Period time.Duration
	// Counter is the moving factor an HOTP token starts from (PSKC
	// Data/Counter); 0 by default and for TOTP.
	Counter uint64
	// Manufacturer, Model and Issuer are what the file says, when it does
	// (PSKC DeviceInfo/Manufacturer, DeviceInfo/Model, Key/Issuer).
	Manufacturer, Model, Issuer string
	// NotBefore and NotAfter bound the token's use when the file says so
	// (PSKC Policy/StartDate and ExpiryDate, or DeviceInfo's when
	// stricter); zero when it does not. Read does not compare them with
	// the time: the importer decides what an expired token means.
	NotBefore, NotAfter time.Time
	// Line is where the token is in its file (the CSV record, the PSKC
	// Key element), for messages about it after reading.
	Line int
}

// Format writes the token without its secret, whatever the verb.
func (t Token) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "{Serial:%q Type:%s Algorithm:%s Digits:%d", t.Serial, t.Type, t.Algorithm, t.Digits)
	if t.Type == TOTP {
		fmt.Fprintf(f, " Period:%v", t.Period)
	} else {
		fmt.Fprintf(f, " Counter:%d", t.Counter)
	}
	fmt.Fprintf(f, " Secret:[%d bytes]", len(t.Secret))
	if t.Model != "" {
		fmt.Fprintf(f, " Model:%q", t.Model)
	}
	f.Write([]byte("}"))
}

// Token fields as the checks name them; each source maps them to its
// column or element.
const (
	fieldSerial       = "serial"
	fieldType         = "type"
	fieldSecret       = "secret"
	fieldAlgorithm    = "algorithm"
	fieldDigits       = "digits"
	fieldPeriod       = "period"
	fieldCounter      = "counter"
	fieldManufacturer = "manufacturer"
	fieldModel        = "model"
	fieldIssuer       = "issuer"
	fieldDates        = "dates"
)

// fieldProblem is a check's finding about one field of a token.
type fieldProblem struct {
	field string
	msg   string
}

// setDefaults fills in what a file may leave out.
func (t *Token) setDefaults() {
	if t.Algorithm == "" {
		t.Algorithm = SHA1
	}
	if t.Digits == 0 {
		t.Digits = 6
	}
	if t.Type == TOTP && t.Period == 0 {
		t.Period = 30 * time.Second
	}
}

// check reports every field of t that is out of range. Messages never hold
// the secret.
func (t *Token) check() []fieldProblem {
	var ps []fieldProblem
	add := func(field, format string, args ...any) {
		ps = append(ps, fieldProblem{field, fmt.Sprintf(format, args...)})
	}
	if msg := checkSerial(t.Serial); msg != "" {
		add(fieldSerial, "%s", msg)
	}
	switch t.Type {
	case HOTP, TOTP:
	default:
		add(fieldType, "type %s is not hotp or totp", quoteShort(t.Type))
	}
	switch n := len(t.Secret); {
	case n < minSecretLen:
		add(fieldSecret, "secret is %d bytes; RFC 4226 requires at least %d (128 bits)", n, minSecretLen)
	case n > maxSecretLen:
		add(fieldSecret, "secret is %d bytes; at most %d are accepted", n, maxSecretLen)
	}
	switch t.Algorithm {
	case SHA1, SHA256, SHA512:
	default:
		add(fieldAlgorithm, "algorithm %s is not SHA1, SHA256 or SHA512", quoteShort(t.Algorithm))
	}
	if t.Digits != 6 && t.Digits != 8 {
		add(fieldDigits, "%d digits: want 6 or 8", t.Digits)
	}
	switch {
	case t.Type == HOTP && t.Period != 0:
		add(fieldPeriod, "a period is for totp tokens; this one is hotp")
	case t.Type == TOTP && (t.Period <= 0 || t.Period > maxPeriod || t.Period%time.Second != 0):
		add(fieldPeriod, "period %v: want whole seconds from 1s to %v", t.Period, maxPeriod)
	}
	if t.Type == TOTP && t.Counter != 0 {
		add(fieldCounter, "a counter is for hotp tokens; this one is totp")
	}
	for _, f := range []struct{ field, value string }{
		{fieldManufacturer, t.Manufacturer}, {fieldModel, t.Model}, {fieldIssuer, t.Issuer},
	} {
		if msg := checkText(f.value); msg != "" {
			add(f.field, "%s %s", f.field, msg)
		}
	}
	if !t.NotBefore.IsZero() && !t.NotAfter.IsZero() && t.NotAfter.Before(t.NotBefore) {
		add(fieldDates, "the token expires (%s) before it starts (%s)",
			t.NotAfter.Format(time.RFC3339), t.NotBefore.Format(time.RFC3339))
	}
	return ps
}

// checkSerial says what is wrong with a serial, or "".
func checkSerial(s string) string {
	switch {
	case s == "":
		return "serial is empty"
	case len(s) > maxSerialLen:
		return fmt.Sprintf("serial is %d bytes; at most %d are accepted", len(s), maxSerialLen)
	case !utf8.ValidString(s):
		return "serial is not valid UTF-8"
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		return "serial holds a space or a control character"
	}
	return ""
}

// checkText says what is wrong with a descriptive field, or "".
func checkText(s string) string {
	switch {
	case len(s) > maxTextLen:
		return fmt.Sprintf("is %d bytes; at most %d are accepted", len(s), maxTextLen)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "holds a control character"
	}
	return ""
}

// quoteShort quotes a value for a message when it is short enough not to
// be a seed in the wrong column; a longer one is described by its length.
func quoteShort(s string) string {
	const max = 12
	if len(s) <= max && utf8.ValidString(s) {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("(a value of %d bytes)", len(s))
}

// normalizeAlgorithm reads SHA1, sha-256, HMAC-SHA512 and the like; what
// it does not know it returns as given, for check to refuse.
func normalizeAlgorithm(s string) string {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimPrefix(u, "HMAC-")
	u = strings.ReplaceAll(u, "-", "")
	switch u {
	case SHA1, SHA256, SHA512:
		return u
	}
	return s
}
