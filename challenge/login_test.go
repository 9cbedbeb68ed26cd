package challenge

import (
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		name     string
		login    ClientLogin
		in       string
		pw, code string
		ok       bool
	}{
		{"comma", ClientLogin{Mode: ModeAppend}, "secret,123456", "secret", "123456", true},
		{"last comma counts", ClientLogin{Mode: ModeAuto}, "a,b,c,12345678", "a,b,c", "12345678", true},
		{"no code", ClientLogin{Mode: ModeAuto}, "secret", "secret", "", false},
		{"not digits", ClientLogin{Mode: ModeAuto}, "secret,abcdef", "secret,abcdef", "", false},
		{"too short", ClientLogin{Mode: ModeAuto}, "secret,12345", "secret,12345", "", false},
		{"empty password", ClientLogin{Mode: ModeAppend}, ",123456", ",123456", "", false},
		{"challenge mode never splits", ClientLogin{Mode: ModeChallenge}, "secret,123456", "secret,123456", "", false},
		{"custom separator", ClientLogin{Mode: ModeAppend, Separator: "::"}, "se,cret::123456", "se,cret", "123456", true},
		{"fixed length", ClientLogin{Mode: ModeAppend, CodeLength: 6}, "secret123456", "secret", "123456", true},
		{"fixed length too short", ClientLogin{Mode: ModeAppend, CodeLength: 6}, "123456", "123456", "", false},
		{"grouped with a space", ClientLogin{Mode: ModeAppend}, "secret,123 456", "secret", "123456", true},
		{"a bypass code as printed", ClientLogin{Mode: ModeAuto}, "secret,123 456 789", "secret", "123456789", true},
		{"grouped with dashes", ClientLogin{Mode: ModeAuto}, "secret,123-456-789", "secret", "123456789", true},
		{"a space after the separator", ClientLogin{Mode: ModeAuto}, "secret, 123456", "secret", "123456", true},
		{"the password keeps its spaces and dashes", ClientLogin{Mode: ModeAppend}, "my pass-word 12,123 456", "my pass-word 12", "123456", true},
		{"spaces before the last separator are the password's", ClientLogin{Mode: ModeAuto}, "pass 123 456,word", "pass 123 456,word", "", false},
		{"digits with words are no code", ClientLogin{Mode: ModeAuto}, "secret,123 456 abc", "secret,123 456 abc", "", false},
		{"grouped, too short", ClientLogin{Mode: ModeAuto}, "secret,12 345", "secret,12 345", "", false},
		{"fixed length takes no groups", ClientLogin{Mode: ModeAppend, CodeLength: 8}, "secret1234 5678", "secret1234 5678", "", false},
		{"a password ending in a date stays whole", ClientLogin{Mode: ModeAuto}, "Winter,2025-01-15", "Winter,2025-01-15", "", false},
		{"a password ending in a phone number stays whole", ClientLogin{Mode: ModeAuto}, "pa ss,555 123 4567", "pa ss,555 123 4567", "", false},
		{"groups of four", ClientLogin{Mode: ModeAppend}, "secret,1234-5678", "secret", "12345678", true},
		{"mixed group joiners are no code", ClientLogin{Mode: ModeAuto}, "secret,123-456 789", "secret,123-456 789", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pw, code, ok := tc.login.split(tc.in)
			if pw != tc.pw || code != tc.code || ok != tc.ok {
				t.Errorf("got %q %q %v, want %q %q %v", pw, code, ok, tc.pw, tc.code, tc.ok)
			}
		})
	}
}

// FuzzSplit: whatever the password box holds, a split gives back the
// password as typed and a code of 6 to 12 digits that the part after the
// last separator holds, spaces and dashes aside.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"secret,123456", "secret,123 456 789", "a,b,c-12-34-56", "pw, push", ",123456", "x,1\t2 3-4 5 6"} {
		f.Add(s, ",", 0)
	}
	f.Add("secret123456", "", 6)
	f.Fuzz(func(t *testing.T, password, sep string, codeLength int) {
		l := ClientLogin{Mode: ModeAuto, Separator: sep}
		if codeLength > 0 && codeLength <= 12 { // the longest passcode otp.Normalize reads
			l = ClientLogin{Mode: ModeAppend, Separator: sep, CodeLength: codeLength}
		}
		pw, code, ok := l.split(password)
		if !ok {
			if pw != password || code != "" {
				t.Fatalf("no split, but got %q %q from %q", pw, code, password)
			}
			return
		}
		if pw == "" || !strings.HasPrefix(password, pw) {
			t.Fatalf("password %q is not the start of %q", pw, password)
		}
		if c, ok := otp.Normalize(code); !ok || c != code {
			t.Fatalf("code %q from %q is not 6 to 12 digits", code, password)
		}
		rest := password[len(pw):]
		if l.CodeLength == 0 {
			rest = strings.TrimPrefix(rest, l.separator())
		}
		if c, _ := otp.Normalize(rest); c != code {
			t.Fatalf("code %q is not what %q holds after the password", code, rest)
		}
	})
}

func TestClientWait(t *testing.T) {
	for _, tc := range []struct {
		l    ClientLogin
		want time.Duration
	}{
		{ClientLogin{}, 4500 * time.Millisecond}, // 5s once, less the 500ms floor of the margin
		{ClientLogin{NASTimeout: 5 * time.Second, NASRetries: 2}, 13500 * time.Millisecond},
		{ClientLogin{NASTimeout: 30 * time.Second, NASRetries: 2}, 81 * time.Second},
		{ClientLogin{NASTimeout: time.Second}, time.Second}, // never below a second
	} {
		if got := tc.l.Wait(); got != tc.want {
			t.Errorf("%+v: wait %v, want %v", tc.l, got, tc.want)
		}
	}
}
