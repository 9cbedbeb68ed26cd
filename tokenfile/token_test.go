package tokenfile

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTokenFormatHidesSecret(t *testing.T) {
	tok := Token{Serial: "T-1", Type: TOTP, Secret: []byte("12345678901234567890"), Algorithm: SHA1, Digits: 6, Period: 30 * time.Second, Model: "c200"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{tok, &tok, []Token{tok}} {
			got := fmt.Sprintf(verb, v)
			assertNoSecret(t, got, tok.Secret)
			if !strings.Contains(got, `Serial:"T-1"`) || !strings.Contains(got, "[20 bytes]") {
				t.Errorf("Sprintf(%s, %T) = %s, want the serial and the secret's length", verb, v, got)
			}
		}
	}
	b, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, string(b), tok.Secret)
	if strings.Contains(string(b), "Secret") {
		t.Errorf("json.Marshal = %s, want no Secret", b)
	}
}

func TestTokenCheck(t *testing.T) {
	good := func() Token {
		return Token{Serial: "S-1", Type: HOTP, Secret: make([]byte, 20), Algorithm: SHA1, Digits: 6}
	}
	tests := []struct {
		name   string
		change func(*Token)
		want   string // field named by the one problem; "" for none
	}{
		{"valid hotp", func(*Token) {}, ""},
		{"valid totp", func(t *Token) { t.Type, t.Period, t.Digits, t.Algorithm = TOTP, 60*time.Second, 8, SHA512 }, ""},
		{"longest period", func(t *Token) { t.Type, t.Period = TOTP, maxPeriod }, ""},
		{"longest secret", func(t *Token) { t.Secret = make([]byte, maxSecretLen) }, ""},
		{"empty serial", func(t *Token) { t.Serial = "" }, fieldSerial},
		{"serial with space", func(t *Token) { t.Serial = "S 1" }, fieldSerial},
		{"serial with control", func(t *Token) { t.Serial = "S\x001" }, fieldSerial},
		{"long serial", func(t *Token) { t.Serial = strings.Repeat("s", maxSerialLen+1) }, fieldSerial},
		{"bad type", func(t *Token) { t.Type = "ocra" }, fieldType},
		{"short secret", func(t *Token) { t.Secret = make([]byte, minSecretLen-1) }, fieldSecret},
		{"long secret", func(t *Token) { t.Secret = make([]byte, maxSecretLen+1) }, fieldSecret},
		{"bad algorithm", func(t *Token) { t.Algorithm = "MD5" }, fieldAlgorithm},
		{"7 digits", func(t *Token) { t.Digits = 7 }, fieldDigits},
		{"hotp period", func(t *Token) { t.Period = 30 * time.Second }, fieldPeriod},
		{"totp period too long", func(t *Token) { t.Type, t.Period = TOTP, maxPeriod+time.Second }, fieldPeriod},
		{"totp period fraction", func(t *Token) { t.Type, t.Period = TOTP, 1500*time.Millisecond }, fieldPeriod},
		{"totp counter", func(t *Token) { t.Type, t.Period, t.Counter = TOTP, 30*time.Second, 1 }, fieldCounter},
		{"model control", func(t *Token) { t.Model = "a\nb" }, fieldModel},
		{"long issuer", func(t *Token) { t.Issuer = strings.Repeat("i", maxTextLen+1) }, fieldIssuer},
		{"expires before start", func(t *Token) {
			t.NotBefore = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
			t.NotAfter = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		}, fieldDates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := good()
			tt.change(&tok)
			got := tok.check()
			switch {
			case tt.want == "" && len(got) != 0:
				t.Errorf("check() = %v, want no problem", got)
			case tt.want != "" && (len(got) != 1 || got[0].field != tt.want):
				t.Errorf("check() = %v, want one problem with %s", got, tt.want)
			}
		})
	}
}

func TestNormalizeAlgorithm(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "sha1": SHA1, "SHA-1": SHA1, "HMAC-SHA256": SHA256, "hmac-sha-512": SHA512, " Sha512 ": SHA512, "MD5": "MD5",
	} {
		if got := normalizeAlgorithm(in); got != want {
			t.Errorf("normalizeAlgorithm(%q) = %q, want %q", in, got, want)
		}
	}
}
