package otp_test

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
)

// The RFC 6238 Appendix B seeds: ASCII digits, as long as each hash.
var rfcSeeds = map[otp.Algorithm][]byte{
	otp.SHA1:   []byte("12345678901234567890"),
	otp.SHA256: []byte("12345678901234567890123456789012"),
	otp.SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

func TestTOTPRFC6238Vectors(t *testing.T) {
	tests := []struct {
		unix int64
		step int64
		want map[otp.Algorithm]string
	}{
		{59, 0x1, map[otp.Algorithm]string{otp.SHA1: "94287082", otp.SHA256: "46119246", otp.SHA512: "90693936"}},
		{1111111109, 0x23523EC, map[otp.Algorithm]string{otp.SHA1: "07081804", otp.SHA256: "68084774", otp.SHA512: "25091201"}},
		{1111111111, 0x23523ED, map[otp.Algorithm]string{otp.SHA1: "14050471", otp.SHA256: "67062674", otp.SHA512: "99943326"}},
		{1234567890, 0x273EF07, map[otp.Algorithm]string{otp.SHA1: "89005924", otp.SHA256: "91819424", otp.SHA512: "93441116"}},
		{2000000000, 0x3F940AA, map[otp.Algorithm]string{otp.SHA1: "69279037", otp.SHA256: "90698825", otp.SHA512: "38618901"}},
		{20000000000, 0x27BC86AA, map[otp.Algorithm]string{otp.SHA1: "65353130", otp.SHA256: "77737706", otp.SHA512: "47863826"}},
	}
	for _, tt := range tests {
		for _, alg := range []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512} {
			t.Run(fmt.Sprintf("%s/%d", alg, tt.unix), func(t *testing.T) {
				tp := otp.TOTP{Secret: rfcSeeds[alg], Algorithm: alg, Digits: 8}
				now := time.Unix(tt.unix, 0)
				if got := tp.Step(now); got != tt.step {
					t.Errorf("got step %#x, want %#x", got, tt.step)
				}
				want := tt.want[alg]
				if got := tp.Code(tt.step); got != want {
					t.Errorf("got code %s, want %s", got, want)
				}
				if step, ok := tp.Check(want, now, -1, otp.Window{}); !ok || step != tt.step {
					t.Errorf("Check: got %d, %v, want %d, true", step, ok, tt.step)
				}
			})
		}
	}
	// The empty Algorithm is SHA1.
	if got := (otp.TOTP{Secret: rfcSeeds[otp.SHA1], Digits: 8}).Code(1); got != "94287082" {
		t.Errorf("empty algorithm: got %s, want the SHA1 code 94287082", got)
	}
}

// TestTOTPOathtool compares Code with oath-toolkit's oathtool for every
// algorithm, digit count and period.
func TestTOTPOathtool(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatal("oathtool missing: run apt-get install -y oathtool (make test installs it)")
	}
	times := []string{
		"1970-01-01 00:00:59 UTC",
		"2005-03-18 01:58:29 UTC",
		"2026-11-23 10:00:00 UTC",
		"2026-11-23 10:00:29 UTC",
		"2038-01-19 03:14:08 UTC",
	}
	const ahead = 2 // oathtool -w prints the codes of the next steps too
	for _, alg := range []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512} {
		secret, err := otp.NewTOTPSecret(bytes.NewReader(bytes.Repeat([]byte{0x5c, 0x13, 0xa7, 0xf0, 0x09}, 20)), alg)
		if err != nil {
			t.Fatal(err)
		}
		for _, digits := range []int{6, 8} {
			for _, period := range []time.Duration{30 * time.Second, 60 * time.Second} {
				tp := otp.TOTP{Secret: secret, Algorithm: alg, Digits: digits, Period: period}
				for _, at := range times {
					t.Run(fmt.Sprintf("%s/%d/%v/%s", alg, digits, period, at), func(t *testing.T) {
						now, err := time.Parse("2006-01-02 15:04:05 MST", at)
						if err != nil {
							t.Fatal(err)
						}
						// The key goes on stdin ("-"), not in argv.
						cmd := exec.Command("oathtool", "--totp="+string(alg), "-d", fmt.Sprint(digits),
							"-s", fmt.Sprintf("%ds", int(period/time.Second)), "-N", at, "-w", fmt.Sprint(ahead), "-")
						cmd.Stdin = strings.NewReader(hex.EncodeToString(secret) + "\n")
						out, err := cmd.CombinedOutput()
						if err != nil {
							t.Fatalf("oathtool: %v: %s", err, out)
						}
						want := strings.Fields(string(out))
						if len(want) != ahead+1 {
							t.Fatalf("oathtool printed %q, want %d codes", out, ahead+1)
						}
						step := tp.Step(now)
						for i, w := range want {
							if got := tp.Code(step + int64(i)); got != w {
								t.Errorf("step %d: got %s, oathtool says %s", step+int64(i), got, w)
							}
						}
						if s, ok := tp.Check(want[0], now, -1, otp.DefaultWindow()); !ok || s != step {
							t.Errorf("Check(oathtool's code): got %d, %v, want %d, true", s, ok, step)
						}
					})
				}
			}
		}
	}
}

func TestTOTPStep(t *testing.T) {
	tests := []struct {
		period time.Duration
		unix   int64
		want   int64
	}{
		{0, 0, 0},
		{0, 29, 0},
		{0, 30, 1},
		{30 * time.Second, 59, 1},
		{60 * time.Second, 59, 0},
		{60 * time.Second, 60, 1},
		{60 * time.Second, 1111111109, 18518518},
		{0, -1, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.period, tt.unix), func(t *testing.T) {
			tp := otp.TOTP{Secret: rfcSeeds[otp.SHA1], Period: tt.period}
			if got := tp.Step(time.Unix(tt.unix, 0)); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTOTPCheckWindow(t *testing.T) {
	tp := otp.TOTP{Secret: rfcSeeds[otp.SHA1]}
	now := time.Unix(1111111109, 0)
	n := tp.Step(now)
	tests := []struct {
		name   string
		offset int64 // the code's step, relative to now's
		w      otp.Window
		ok     bool
	}{
		{"now", 0, otp.DefaultWindow(), true},
		{"back 1", -1, otp.DefaultWindow(), true},
		{"back 2", -2, otp.DefaultWindow(), false},
		{"ahead 1 by default", 1, otp.DefaultWindow(), false},
		{"ahead 1 configured", 1, otp.Window{Back: 1, Ahead: 1}, true},
		{"ahead 2 configured 1", 2, otp.Window{Back: 1, Ahead: 1}, false},
		{"back 2 configured", -2, otp.Window{Back: 2}, true},
		{"zero window now", 0, otp.Window{}, true},
		{"zero window back", -1, otp.Window{}, false},
		{"negative window", 0, otp.Window{Back: -3, Ahead: -3}, true},
		{"negative window back", -1, otp.Window{Back: -3, Ahead: -3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := tp.Code(n + tt.offset)
			step, ok := tp.Check(code, now, -1, tt.w)
			if ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
			if ok && step != n+tt.offset {
				t.Errorf("got step %d, want %d", step, n+tt.offset)
			}
		})
	}
}

func TestTOTPCheckReplay(t *testing.T) {
	tp := otp.TOTP{Secret: rfcSeeds[otp.SHA1]}
	now := time.Unix(1111111109, 0)
	n := tp.Step(now)
	w := otp.Window{Back: 1, Ahead: 1}
	tests := []struct {
		name   string
		offset int64
		last   int64
		ok     bool
	}{
		{"first use", 0, -1, true},
		{"same step again", 0, n, false},
		{"earlier step after a later one", -1, n, false},
		{"after the previous step", 0, n - 1, true},
		{"ahead after now", 1, n, true},
		{"now after ahead", 0, n + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := tp.Check(tp.Code(n+tt.offset), now, tt.last, w)
			if ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
			if ok && step <= tt.last {
				t.Errorf("got step %d, want after last %d", step, tt.last)
			}
		})
	}
	// The step Check returns, stored as last, refuses the same code.
	code := tp.Code(n)
	step, ok := tp.Check(code, now, -1, w)
	if !ok {
		t.Fatal("refused a fresh code")
	}
	if _, ok := tp.Check(code, now.Add(20*time.Second), step, w); ok {
		t.Error("accepted the same code twice")
	}
}

func TestTOTPCheckMalformed(t *testing.T) {
	six := otp.TOTP{Secret: rfcSeeds[otp.SHA1]}
	eight := otp.TOTP{Secret: rfcSeeds[otp.SHA1], Digits: 8, Period: 60 * time.Second}
	now := time.Unix(1111111109, 0)
	good6 := six.Code(six.Step(now))
	good8 := eight.Code(eight.Step(now))
	tests := []struct {
		name string
		tp   otp.TOTP
		code string
		ok   bool
	}{
		{"6 right", six, good6, true},
		{"8 right", eight, good8, true},
		{"empty", six, "", false},
		{"short", six, good6[:5], false},
		{"long", six, good6 + "0", false},
		{"8 digits for 6", six, good8, false},
		{"6 digits for 8", eight, good6, false},
		{"8 truncated to 6", eight, good8[2:], false},
		{"letter", six, "12345a", false},
		{"space", six, " " + good6[1:], false},
		{"sign", six, "+" + good6[1:], false},
		{"fullwidth digits", six, "１２３４５６", false},
		{"nul", six, good6[:5] + "\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.tp.Check(tt.code, now, -1, otp.DefaultWindow()); ok != tt.ok {
				t.Errorf("got %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestTOTPPeriod60Digits8(t *testing.T) {
	tp := otp.TOTP{Secret: rfcSeeds[otp.SHA256], Algorithm: otp.SHA256, Digits: 8, Period: 60 * time.Second}
	start := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // a whole minute
	code := tp.Code(tp.Step(start))
	if len(code) != 8 {
		t.Fatalf("got %q, want 8 digits", code)
	}
	for _, tt := range []struct {
		at time.Duration
		ok bool
	}{
		{0, true},
		{59 * time.Second, true},
		{60 * time.Second, true},  // one step back
		{119 * time.Second, true}, // still one step back
		{120 * time.Second, false},
		{-time.Second, false}, // the step before: ahead is refused
	} {
		t.Run(tt.at.String(), func(t *testing.T) {
			if _, ok := tp.Check(code, start.Add(tt.at), -1, otp.DefaultWindow()); ok != tt.ok {
				t.Errorf("got %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestTOTPValidate(t *testing.T) {
	s := rfcSeeds[otp.SHA1]
	tests := []struct {
		name string
		tp   otp.TOTP
		want string // "" for valid
	}{
		{"defaults", otp.TOTP{Secret: s}, ""},
		{"explicit", otp.TOTP{Secret: s, Algorithm: otp.SHA512, Digits: 8, Period: time.Minute}, ""},
		{"16 bytes", otp.TOTP{Secret: s[:16]}, ""},
		{"md5", otp.TOTP{Secret: s, Algorithm: "MD5"}, `algorithm "MD5" not supported`},
		{"lower case", otp.TOTP{Secret: s, Algorithm: "sha1"}, `algorithm "sha1" not supported`},
		{"7 digits", otp.TOTP{Secret: s, Digits: 7}, "7 digits not supported"},
		{"negative digits", otp.TOTP{Secret: s, Digits: -6}, "-6 digits not supported"},
		{"5s", otp.TOTP{Secret: s, Period: 5 * time.Second}, "period 5s not supported"},
		{"1.5s", otp.TOTP{Secret: s, Period: 1500 * time.Millisecond}, "period 1.5s not supported"},
		{"negative period", otp.TOTP{Secret: s, Period: -30 * time.Second}, "period -30s not supported"},
		{"short secret", otp.TOTP{Secret: s[:10]}, "secret is 10 bytes, want at least 16"},
		{"no secret", otp.TOTP{}, "secret is 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tp.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "otp: totp: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want otp: totp: …%s…", err, tt.want)
			}
			if got := tt.tp.Code(1); got != "" {
				t.Errorf("Code of an invalid TOTP: got %q, want empty", got)
			}
			if _, ok := tt.tp.Check("123456", time.Unix(59, 0), -1, otp.Window{Back: 100, Ahead: 100}); ok {
				t.Error("Check accepted a code of an invalid TOTP")
			}
		})
	}
}

func TestTOTPURI(t *testing.T) {
	secret := rfcSeeds[otp.SHA1]
	b32 := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name    string
		tp      otp.TOTP
		issuer  string
		account string
		want    string
	}{
		{"defaults", otp.TOTP{Secret: secret}, "ACME", "alice",
			"otpauth://totp/ACME:alice?secret=" + b32 + "&issuer=ACME&algorithm=SHA1&digits=6&period=30"},
		{"explicit", otp.TOTP{Secret: secret, Algorithm: otp.SHA256, Digits: 8, Period: time.Minute}, "ACME", "alice",
			"otpauth://totp/ACME:alice?secret=" + b32 + "&issuer=ACME&algorithm=SHA256&digits=8&period=60"},
		{"spaces, @ and :", otp.TOTP{Secret: secret}, "ACME Co: VPN", "alice@example.com",
			"otpauth://totp/ACME%20Co%3A%20VPN:alice@example.com?secret=" + b32 + "&issuer=ACME%20Co%3A%20VPN&algorithm=SHA1&digits=6&period=30"},
		{"no issuer", otp.TOTP{Secret: secret}, "", "bob smith",
			"otpauth://totp/bob%20smith?secret=" + b32 + "&algorithm=SHA1&digits=6&period=30"},
		{"query and path characters", otp.TOTP{Secret: secret}, "A&B=C+D", "x/y?z#w%",
			"otpauth://totp/A&B=C+D:x%2Fy%3Fz%23w%25?secret=" + b32 + "&issuer=A%26B%3DC%2BD&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.tp.URI(tt.issuer, tt.account)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			back, issuer, account, err := otp.ParseTOTPURI(got)
			if err != nil {
				t.Fatalf("ParseTOTPURI: %v", err)
			}
			if issuer != tt.issuer || account != tt.account {
				t.Errorf("got issuer %q account %q, want %q %q", issuer, account, tt.issuer, tt.account)
			}
			if want := explicit(tt.tp); !equalTOTP(back, want) {
				t.Errorf("got %+v, want %+v", back, want)
			}
		})
	}
}

// explicit fills the defaults ParseTOTPURI writes out.
func explicit(t otp.TOTP) otp.TOTP {
	if t.Algorithm == "" {
		t.Algorithm = otp.SHA1
	}
	if t.Digits == 0 {
		t.Digits = 6
	}
	if t.Period == 0 {
		t.Period = 30 * time.Second
	}
	return t
}

func equalTOTP(a, b otp.TOTP) bool {
	return bytes.Equal(a.Secret, b.Secret) && a.Algorithm == b.Algorithm && a.Digits == b.Digits && a.Period == b.Period
}

func TestParseTOTPURI(t *testing.T) {
	secret := rfcSeeds[otp.SHA1]
	b32 := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	def := otp.TOTP{Secret: secret, Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}
	tests := []struct {
		name    string
		uri     string
		want    otp.TOTP
		issuer  string
		account string
	}{
		{"minimal", "otpauth://totp/alice?secret=" + b32, def, "", "alice"},
		{"label issuer only", "otpauth://totp/ACME:alice@example.com?secret=" + b32, def, "ACME", "alice@example.com"},
		{"issuer param only", "otpauth://totp/alice?secret=" + b32 + "&issuer=ACME", def, "ACME", "alice"},
		{"space after colon", "otpauth://totp/ACME:%20%20alice?secret=" + b32 + "&issuer=ACME", def, "ACME", "alice"},
		{"encoded separator", "otpauth://totp/ACME%3Aalice?secret=" + b32 + "&issuer=ACME", def, "ACME", "alice"},
		{"plus in issuer param", "otpauth://totp/ACME%20Co:alice?secret=" + b32 + "&issuer=ACME+Co", def, "ACME Co", "alice"},
		{"lower case secret, padding", "otpauth://totp/a?secret=" + strings.ToLower(base32.StdEncoding.EncodeToString(secret[:19])), otp.TOTP{Secret: secret[:19], Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}, "", "a"},
		{"lower case algorithm", "otpauth://totp/a?secret=" + b32 + "&algorithm=sha512&digits=8&period=60",
			otp.TOTP{Secret: secret, Algorithm: otp.SHA512, Digits: 8, Period: time.Minute}, "", "a"},
		{"upper case scheme and type", "OTPAUTH://TOTP/a?secret=" + b32, def, "", "a"},
		{"unknown params ignored", "otpauth://totp/a?secret=" + b32 + "&image=https%3A%2F%2Fx%2Fy.png&color=red", def, "", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, issuer, account, err := otp.ParseTOTPURI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if !equalTOTP(got, tt.want) || issuer != tt.issuer || account != tt.account {
				t.Errorf("got %+v %q %q, want %+v %q %q", got, issuer, account, tt.want, tt.issuer, tt.account)
			}
		})
	}
}

func TestParseTOTPURIErrors(t *testing.T) {
	b32 := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name string
		uri  string
		want string
	}{
		{"hotp", "otpauth://hotp/a?secret=" + b32 + "&counter=1", "otpauth://hotp/ (counter-based HOTP) is not supported"},
		{"other type", "otpauth://motp/a?secret=" + b32, "want otpauth://totp/"},
		{"https", "https://totp/a?secret=" + b32, "want otpauth://totp/"},
		{"opaque", "otpauth:totp/a?secret=" + b32, "want otpauth://totp/"},
		{"bare secret", b32, "want otpauth://totp/"},
		{"not a uri", "otpauth://totp/a%zz?secret=" + b32, "not a URI"},
		{"no secret", "otpauth://totp/a?issuer=ACME", "no secret parameter"},
		{"bad base32", "otpauth://totp/a?secret=" + b32[:20] + "18" + b32[22:], "secret is not base32"},
		{"short secret", "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example", "secret is 10 bytes, want at least 16"},
		{"md5", "otpauth://totp/a?secret=" + b32 + "&algorithm=MD5", `algorithm "MD5" not supported`},
		{"7 digits", "otpauth://totp/a?secret=" + b32 + "&digits=7", `digits "7" not supported`},
		{"digits word", "otpauth://totp/a?secret=" + b32 + "&digits=six", `digits "six" not supported`},
		{"5 s", "otpauth://totp/a?secret=" + b32 + "&period=5", `period "5" not supported`},
		{"two secrets", "otpauth://totp/a?secret=" + b32 + "&secret=" + b32, "parameter secret given 2 times"},
		{"two issuers", "otpauth://totp/a?secret=" + b32 + "&issuer=A&issuer=B", "parameter issuer given 2 times"},
		{"issuers differ", "otpauth://totp/Evil:alice?secret=" + b32 + "&issuer=ACME", `issuer parameter "ACME" differs from the label's issuer "Evil"`},
		{"bad query", "otpauth://totp/a?secret=" + b32 + "&issuer=%zz", "query does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := otp.ParseTOTPURI(tt.uri)
			if err == nil {
				t.Fatal("got no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "otp: totp: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want otp: totp: …%s…", msg, tt.want)
			}
			for _, s := range []string{b32, b32[:16], "JBSWY3DPEHPK3PXP"} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q quotes the secret", msg)
				}
			}
		})
	}
}

func TestNewTOTPSecret(t *testing.T) {
	src := bytes.Repeat([]byte{1, 2, 3}, 100)
	for _, tt := range []struct {
		alg  otp.Algorithm
		want int
	}{{"", 20}, {otp.SHA1, 20}, {otp.SHA256, 32}, {otp.SHA512, 64}} {
		t.Run(string(tt.alg), func(t *testing.T) {
			s, err := otp.NewTOTPSecret(bytes.NewReader(src), tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != tt.want {
				t.Errorf("got %d bytes, want %d", len(s), tt.want)
			}
			if err := (otp.TOTP{Secret: s, Algorithm: tt.alg}).Validate(); err != nil {
				t.Errorf("a new secret fails Validate: %v", err)
			}
		})
	}
	if _, err := otp.NewTOTPSecret(bytes.NewReader(src), "MD5"); err == nil {
		t.Error("MD5: got a secret")
	}
	if _, err := otp.NewTOTPSecret(bytes.NewReader(src[:10]), otp.SHA1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestDefaultWindow(t *testing.T) {
	if got, want := otp.DefaultWindow(), (otp.Window{Back: 1}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// FuzzParseTOTPURI checks that a parsed URI survives URI and parse again
// unchanged, and that no error quotes the input's secret.
func FuzzParseTOTPURI(f *testing.F) {
	b32 := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	f.Add("otpauth://totp/ACME:alice@example.com?secret=" + b32 + "&issuer=ACME&algorithm=SHA1&digits=6&period=30")
	f.Add("otpauth://totp/ACME%20Co%3A%20VPN:alice?secret=" + b32 + "&issuer=ACME%20Co%3A%20VPN&algorithm=sha256&digits=8&period=60")
	f.Add("otpauth://totp/a%3Ab?secret=" + b32)
	f.Add("otpauth://hotp/a?secret=" + b32 + "&counter=3")
	f.Add("otpauth://totp/?secret=" + strings.ToLower(b32) + "==")
	f.Fuzz(func(t *testing.T, uri string) {
		tp, issuer, account, err := otp.ParseTOTPURI(uri)
		if err != nil {
			return
		}
		if err := tp.Validate(); err != nil {
			t.Fatalf("parsed an invalid TOTP: %v", err)
		}
		again := tp.URI(issuer, account)
		tp2, issuer2, account2, err := otp.ParseTOTPURI(again)
		if err != nil {
			t.Fatalf("URI(%q, %q) does not parse: %v", issuer, account, err)
		}
		if !equalTOTP(tp, tp2) || issuer != issuer2 || account != account2 {
			t.Fatalf("round trip: got %+v %q %q, want %+v %q %q", tp2, issuer2, account2, tp, issuer, account)
		}
	})
}

// FuzzTOTPCheck checks that Check accepts only the code of a step inside
// the window and after last.
func FuzzTOTPCheck(f *testing.F) {
	f.Add("287082", int64(59), int64(-1), int8(1), int8(0), uint8(6))
	f.Add("94287082", int64(59), int64(0), int8(1), int8(1), uint8(8))
	f.Add("", int64(-100), int64(5), int8(-2), int8(3), uint8(0))
	f.Fuzz(func(t *testing.T, code string, unix, last int64, back, ahead int8, digits uint8) {
		tp := otp.TOTP{Secret: rfcSeeds[otp.SHA1], Digits: int(digits)}
		if unix > 1<<40 || unix < -(1<<40) {
			unix %= 1 << 40 // keep the time representable
		}
		now := time.Unix(unix, 0)
		step, ok := tp.Check(code, now, last, otp.Window{Back: int(back), Ahead: int(ahead)})
		if !ok {
			return
		}
		n := tp.Step(now)
		if step <= last || step < n-int64(max(back, 0)) || step > n+int64(max(ahead, 0)) {
			t.Fatalf("accepted step %d: now %d, last %d, window %d/%d", step, n, last, back, ahead)
		}
		if tp.Code(step) != code {
			t.Fatalf("accepted %q for step %d, whose code is %q", code, step, tp.Code(step))
		}
	})
}
