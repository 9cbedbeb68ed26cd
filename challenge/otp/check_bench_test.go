package otp

import (
	"testing"
	"time"
)

// BenchmarkCheck is the passcode check of every second factor
// (docs/BENCHMARKS.md, "Micro-benchmarks"): a TOTP code against the
// default window (the step before and now), right and wrong; an HOTP
// code against the default look-ahead of 10 counters, found at the end
// and not at all. Every candidate is an HMAC, compared in constant time.
func BenchmarkCheck(b *testing.B) {
	secret := []byte("12345678901234567890") // RFC 4226 Appendix D
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	totp := TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
	right := totp.Code(totp.Step(now))
	wrong := "000000"
	if wrong == right {
		wrong = "000001"
	}
	hotp := HOTP{Secret: secret, Digits: 6}
	last := hotp.Code(DefaultHOTPWindow - 1)
	for _, bc := range []struct {
		name  string
		check func() bool
	}{
		{"totp/right", func() bool { _, ok := totp.Check(right, now, -1, DefaultWindow()); return ok }},
		{"totp/wrong", func() bool { _, ok := totp.Check(wrong, now, -1, DefaultWindow()); return !ok }},
		{"hotp/last-of-window", func() bool { _, ok := hotp.Check(last, 0, DefaultHOTPWindow); return ok }},
		{"hotp/wrong", func() bool { _, ok := hotp.Check(wrong, 0, DefaultHOTPWindow); return !ok }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bc.check() {
					b.Fatal("unexpected result")
				}
			}
		})
	}
}
