package otp_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"

	"twostep/challenge/otp"
)

// rfc4226Secret is the RFC 4226 Appendix D secret.
var rfc4226Secret = []byte("12345678901234567890")

// rfc4226Codes are the Appendix D codes of counters 0 to 9.
var rfc4226Codes = []string{
	"755224", "287082", "359152", "969429", "338314",
	"254676", "287922", "162583", "399871", "520489",
}

func TestHOTPRFC4226Vectors(t *testing.T) {
	h := otp.HOTP{Secret: rfc4226Secret}
	for c, want := range rfc4226Codes {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			if got := h.Code(uint64(c)); got != want {
				t.Errorf("got code %s, want %s", got, want)
			}
			explicit := otp.HOTP{Secret: rfc4226Secret, Algorithm: otp.SHA1, Digits: 6}
			if got := explicit.Code(uint64(c)); got != want {
				t.Errorf("explicit SHA1/6: got code %s, want %s", got, want)
			}
			if next, ok := h.Check(want, uint64(c), 1); !ok || next != uint64(c)+1 {
				t.Errorf("Check: got %d, %v, want %d, true", next, ok, c+1)
			}
		})
	}
}

func TestHOTPCheckWindow(t *testing.T) {
	h := otp.HOTP{Secret: rfc4226Secret}
	const next = 1000
	tests := []struct {
		name    string
		counter uint64 // the code's counter
		window  int
		ok      bool
	}{
		{"at next", next, 10, true},
		{"at next+1", next + 1, 10, true},
		{"at next+window-1", next + 9, 10, true},
		{"at next+window", next + 10, 10, false},
		{"replay: next-1", next - 1, 10, false},
		{"replay: far below", 5, 10, false},
		{"window 1 at next", next, 1, true},
		{"window 1 at next+1", next + 1, 1, false},
		{"window 0 is the default: at next+9", next + otp.DefaultHOTPWindow - 1, 0, true},
		{"window 0 is the default: at next+10", next + otp.DefaultHOTPWindow, 0, false},
		{"negative window is the default", next + 5, -3, true},
		{"window 100 at next+99", next + 99, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := h.Check(h.Code(tt.counter), next, tt.window)
			if ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
			if ok && got != tt.counter+1 {
				t.Errorf("got newNext %d, want %d", got, tt.counter+1)
			}
		})
	}
}

// TestHOTPCheckOnce stores the counter each Check returns, as the cluster
// does, and checks that each code is accepted once and that skipped codes
// are void.
func TestHOTPCheckOnce(t *testing.T) {
	h := otp.HOTP{Secret: rfc4226Secret}
	next := uint64(0)
	steps := []struct {
		name    string
		counter uint64
		ok      bool
		want    uint64 // next after the step
	}{
		{"first press", 0, true, 1},
		{"same code again", 0, false, 1},
		{"three presses lost", 4, true, 5},
		{"a lost press, late", 2, false, 5},
		{"the one before", 4, false, 5},
		{"next press", 5, true, 6},
	}
	for _, s := range steps {
		got, ok := h.Check(h.Code(s.counter), next, otp.DefaultHOTPWindow)
		if ok != s.ok {
			t.Fatalf("%s: got %v, want %v", s.name, ok, s.ok)
		}
		if ok {
			next = got
		}
		if next != s.want {
			t.Fatalf("%s: got next %d, want %d", s.name, next, s.want)
		}
	}
}

// TestHOTPCheckLatest finds a secret whose code repeats within a window
// and checks that Check moves past the later counter, so the code is not
// accepted once for each.
func TestHOTPCheckLatest(t *testing.T) {
	for seed := 0; seed < 1000; seed++ {
		h := otp.HOTP{Secret: bytes.Repeat([]byte{byte(seed), byte(seed >> 8)}, 10)}
		first := map[string]uint64{}
		for c := uint64(0); c < 3000; c++ {
			code := h.Code(c)
			a, seen := first[code]
			if !seen {
				first[code] = c
				continue
			}
			if c-a > 100 {
				first[code] = c
				continue
			}
			window := int(c-a) + 1
			got, ok := h.Check(code, a, window)
			if !ok || got != c+1 {
				t.Fatalf("code %s at counters %d and %d: got %d, %v, want %d, true", code, a, c, got, ok, c+1)
			}
			if _, ok := h.Check(code, got, window); ok {
				t.Fatal("accepted a repeated code twice")
			}
			return
		}
	}
	t.Fatal("no repeated code found within 100 counters")
}

func TestHOTPDigitsAndAlgorithms(t *testing.T) {
	// The RFC 4226 secret and counter 1, cross-checked with oathtool
	// (--hotp -d 8; --totp=SHA256/SHA512 -s 1s -N @1, which is HOTP of
	// counter 1).
	tests := []struct {
		name string
		h    otp.HOTP
		want string
	}{
		{"SHA1/6", otp.HOTP{Secret: rfc4226Secret}, "287082"},
		{"SHA1/8", otp.HOTP{Secret: rfc4226Secret, Digits: 8}, "94287082"},
		{"SHA256/8", otp.HOTP{Secret: rfcSeeds[otp.SHA256], Algorithm: otp.SHA256, Digits: 8}, "46119246"},
		{"SHA256/6", otp.HOTP{Secret: rfcSeeds[otp.SHA256], Algorithm: otp.SHA256}, "119246"},
		{"SHA512/8", otp.HOTP{Secret: rfcSeeds[otp.SHA512], Algorithm: otp.SHA512, Digits: 8}, "90693936"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Code(1); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
			if next, ok := tt.h.Check(tt.want, 0, 2); !ok || next != 2 {
				t.Errorf("Check: got %d, %v, want 2, true", next, ok)
			}
		})
	}
}

func TestHOTPCheckMalformed(t *testing.T) {
	six := otp.HOTP{Secret: rfc4226Secret}
	eight := otp.HOTP{Secret: rfc4226Secret, Digits: 8}
	good6 := six.Code(1)
	good8 := eight.Code(1)
	tests := []struct {
		name string
		h    otp.HOTP
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
		{"letter", six, "28708a", false},
		{"space", six, " " + good6[1:], false},
		{"sign", six, "+" + good6[1:], false},
		{"minus", six, "-" + good6[1:], false},
		{"fullwidth digits", six, "２８７０８２", false},
		{"nul", six, good6[:5] + "\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := tt.h.Check(tt.code, 0, otp.DefaultHOTPWindow); ok != tt.ok {
				t.Errorf("got %v, want %v", ok, tt.ok)
			}
		})
	}
}

func TestHOTPCheckCounterLimit(t *testing.T) {
	h := otp.HOTP{Secret: rfc4226Secret}
	const top = math.MaxUint64
	tests := []struct {
		name    string
		counter uint64
		next    uint64
		ok      bool
	}{
		{"below the top", top - 1, top - 5, true},
		// The counter after the top would not fit: it cannot be stored.
		{"the top", top, top - 5, false},
		{"next is the top", top, top, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := h.Check(h.Code(tt.counter), tt.next, otp.DefaultHOTPWindow)
			if ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
			if ok && got != tt.counter+1 {
				t.Errorf("got newNext %d, want %d", got, tt.counter+1)
			}
		})
	}
}

func TestHOTPResync(t *testing.T) {
	h := otp.HOTP{Secret: rfc4226Secret}
	const next = 20
	tests := []struct {
		name       string
		c1, c2     uint64 // the counters of code1 and code2
		window     int
		ok         bool
		wantNewNxt uint64
	}{
		{"50 ahead", next + 50, next + 51, otp.DefaultResyncWindow, true, next + 52},
		{"at next", next, next + 1, otp.DefaultResyncWindow, true, next + 2},
		{"last pair in window", next + 98, next + 99, otp.DefaultResyncWindow, true, next + 100},
		{"second code beyond window", next + 99, next + 100, otp.DefaultResyncWindow, false, 0},
		{"beyond window", next + 150, next + 151, otp.DefaultResyncWindow, false, 0},
		{"window 0 is the default", next + 98, next + 99, 0, true, next + 100},
		{"window 0 is the default, beyond", next + 100, next + 101, 0, false, 0},
		{"larger window", next + 500, next + 501, 1000, true, next + 502},
		{"not consecutive", next + 50, next + 52, otp.DefaultResyncWindow, false, 0},
		{"reversed", next + 51, next + 50, otp.DefaultResyncWindow, false, 0},
		{"first code used", next - 1, next, otp.DefaultResyncWindow, false, 0},
		{"both used", next - 2, next - 1, otp.DefaultResyncWindow, false, 0},
		{"window 1 holds no pair", next, next + 1, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := h.Resync(h.Code(tt.c1), h.Code(tt.c2), next, tt.window)
			if ok != tt.ok {
				t.Fatalf("got %v, want %v", ok, tt.ok)
			}
			if ok && got != tt.wantNewNxt {
				t.Errorf("got newNext %d, want %d", got, tt.wantNewNxt)
			}
		})
	}
	t.Run("same code twice", func(t *testing.T) {
		code := h.Code(next + 50)
		if _, ok := h.Resync(code, code, next, otp.DefaultResyncWindow); ok {
			t.Error("got true, want false")
		}
	})
	t.Run("then Check", func(t *testing.T) {
		got, ok := h.Resync(h.Code(next+50), h.Code(next+51), next, 0)
		if !ok {
			t.Fatal("Resync refused")
		}
		if _, ok := h.Check(h.Code(next+51), got, 0); ok {
			t.Error("Check accepted the second resync code again")
		}
		if n, ok := h.Check(h.Code(next+52), got, 0); !ok || n != next+53 {
			t.Errorf("Check of the next press: got %d, %v, want %d, true", n, ok, next+53)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, pair := range [][2]string{
			{"", h.Code(next + 1)},
			{h.Code(next), ""},
			{h.Code(next) + "0", h.Code(next + 1)},
			{h.Code(next), "12345a"},
		} {
			if _, ok := h.Resync(pair[0], pair[1], next, 0); ok {
				t.Errorf("%q, %q: got true, want false", pair[0], pair[1])
			}
		}
	})
	t.Run("counter limit", func(t *testing.T) {
		const top = math.MaxUint64
		if got, ok := h.Resync(h.Code(top-2), h.Code(top-1), top-10, 0); !ok || got != top {
			t.Errorf("below the top: got %d, %v, want %d, true", got, ok, uint64(top))
		}
		if _, ok := h.Resync(h.Code(top-1), h.Code(top), top-10, 0); ok {
			t.Error("a pair ending at the top: got true, want false")
		}
	})
}

func TestHOTPValidate(t *testing.T) {
	s := rfc4226Secret
	tests := []struct {
		name string
		h    otp.HOTP
		want string // "" for valid
	}{
		{"defaults", otp.HOTP{Secret: s}, ""},
		{"explicit", otp.HOTP{Secret: s, Algorithm: otp.SHA256, Digits: 8}, ""},
		{"sha512", otp.HOTP{Secret: s, Algorithm: otp.SHA512}, ""},
		{"16 bytes", otp.HOTP{Secret: s[:16]}, ""},
		{"md5", otp.HOTP{Secret: s, Algorithm: "MD5"}, `algorithm "MD5" not supported`},
		{"lower case", otp.HOTP{Secret: s, Algorithm: "sha1"}, `algorithm "sha1" not supported`},
		{"7 digits", otp.HOTP{Secret: s, Digits: 7}, "7 digits not supported (want 6 or 8)"},
		{"negative digits", otp.HOTP{Secret: s, Digits: -6}, "-6 digits not supported"},
		{"short secret", otp.HOTP{Secret: s[:15]}, "secret is 15 bytes, want at least 16"},
		{"no secret", otp.HOTP{}, "secret is 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "otp: hotp: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want otp: hotp: …%s…", err, tt.want)
			}
			if got := tt.h.Code(1); got != "" {
				t.Errorf("Code of an invalid HOTP: got %q, want empty", got)
			}
			if _, ok := tt.h.Check("287082", 0, 100); ok {
				t.Error("Check accepted a code of an invalid HOTP")
			}
			if _, ok := tt.h.Resync("287082", "359152", 0, 100); ok {
				t.Error("Resync accepted codes of an invalid HOTP")
			}
		})
	}
}

func TestHOTPDefaults(t *testing.T) {
	if otp.DefaultHOTPWindow != 10 || otp.DefaultResyncWindow != 100 {
		t.Errorf("got %d and %d, want 10 and 100", otp.DefaultHOTPWindow, otp.DefaultResyncWindow)
	}
}

// oathtoolHOTP returns the codes oath-toolkit's oathtool gives for
// counters c … c+ahead. The key goes on stdin ("-"), not in argv, where
// other users could read it. oathtool 2.6's --hotp is SHA1 only (it takes
// no algorithm, unlike --totp), so other algorithms ask --totp with a 1s
// step at Unix time c: RFC 6238 is HOTP of that step, which is c.
func oathtoolHOTP(t *testing.T, h otp.HOTP, c uint64, ahead int) []string {
	t.Helper()
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatal("oathtool missing: run apt-get install -y oathtool (make test installs it)")
	}
	digits := h.Digits
	if digits == 0 {
		digits = 6
	}
	args := []string{"-d", fmt.Sprint(digits), "-w", fmt.Sprint(ahead)}
	switch h.Algorithm {
	case "", otp.SHA1:
		args = append(args, "--hotp", "-c", fmt.Sprint(c))
	default:
		args = append(args, "--totp="+string(h.Algorithm), "-s", "1s", "-N", fmt.Sprintf("@%d", c))
	}
	cmd := exec.Command("oathtool", append(args, "-")...)
	cmd.Stdin = strings.NewReader(hex.EncodeToString(h.Secret) + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool %s: %v: %s", strings.Join(args, " "), err, out)
	}
	codes := strings.Fields(string(out))
	if len(codes) != ahead+1 {
		t.Fatalf("oathtool printed %q, want %d codes", out, ahead+1)
	}
	return codes
}

// TestHOTPOathtool compares Code and Check with oathtool for several
// secrets, algorithms, digit counts and counters.
func TestHOTPOathtool(t *testing.T) {
	odd := bytes.Repeat([]byte{0x5c, 0x13, 0xa7, 0xf0, 0x09}, 13)
	secrets := map[string][]byte{
		"rfc4226":  rfc4226Secret,
		"16 bytes": odd[:16],
		"32 bytes": odd[:32],
		"64 bytes": odd[:64],
	}
	// Counters from a new token, one far along, across the 32-bit mark
	// (both words of the 8-byte counter), and near the top (SHA1 only:
	// the other algorithms go through oathtool's clock).
	counters := []uint64{0, 7, 123456, 1<<32 - 2, 1 << 40, 1<<63 + 5, math.MaxUint64 - 3}
	const ahead = 2
	for _, alg := range []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512} {
		for name, secret := range secrets {
			for _, digits := range []int{6, 8} {
				for _, c := range counters {
					if alg != otp.SHA1 && c > 1<<40 {
						continue
					}
					h := otp.HOTP{Secret: secret, Algorithm: alg, Digits: digits}
					t.Run(fmt.Sprintf("%s/%s/%d/%d", alg, name, digits, c), func(t *testing.T) {
						want := oathtoolHOTP(t, h, c, ahead)
						for i, w := range want {
							if got := h.Code(c + uint64(i)); got != w {
								t.Errorf("counter %d: got %s, oathtool says %s", c+uint64(i), got, w)
							}
						}
						if n, ok := h.Check(want[ahead], c, ahead+1); !ok || n != c+ahead+1 {
							t.Errorf("Check(oathtool's code): got %d, %v, want %d, true", n, ok, c+ahead+1)
						}
						if n, ok := h.Resync(want[0], want[1], c, 0); !ok || n != c+2 {
							t.Errorf("Resync(oathtool's codes): got %d, %v, want %d, true", n, ok, c+2)
						}
					})
				}
			}
		}
	}
}

// FuzzHOTPCheck checks that Check and Resync never panic and accept only
// the codes of counters inside the window, from next on.
func FuzzHOTPCheck(f *testing.F) {
	f.Add("755224", "287082", uint64(0), int8(10), uint8(6))
	f.Add("520489", "399871", uint64(3), int8(0), uint8(0))
	f.Add("94287082", "37359152", uint64(1), int8(-1), uint8(8))
	f.Add("", "", uint64(math.MaxUint64), int8(100), uint8(7))
	f.Fuzz(func(t *testing.T, code, code2 string, next uint64, window int8, digits uint8) {
		h := otp.HOTP{Secret: rfc4226Secret, Digits: int(digits)}
		w := int(window)
		if w < 1 {
			w = otp.DefaultHOTPWindow
		}
		if n, ok := h.Check(code, next, int(window)); ok {
			if n == 0 || n-1 < next || n-1-next >= uint64(w) {
				t.Fatalf("Check accepted counter %d: next %d, window %d", n-1, next, window)
			}
			if h.Code(n-1) != code {
				t.Fatalf("Check accepted %q for counter %d, whose code is %q", code, n-1, h.Code(n-1))
			}
		}
		w = int(window)
		if w < 1 {
			w = otp.DefaultResyncWindow
		}
		if n, ok := h.Resync(code, code2, next, int(window)); ok {
			if n < 2 || n-2 < next || n-1-next >= uint64(w) {
				t.Fatalf("Resync accepted counters %d and %d: next %d, window %d", n-2, n-1, next, window)
			}
			if h.Code(n-2) != code || h.Code(n-1) != code2 || code == code2 {
				t.Fatalf("Resync accepted %q, %q for counters %d and %d, whose codes are %q, %q",
					code, code2, n-2, n-1, h.Code(n-2), h.Code(n-1))
			}
		}
	})
}
