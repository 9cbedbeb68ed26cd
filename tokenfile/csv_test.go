package tokenfile

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadCSVGolden(t *testing.T) {
	got, err := ReadCSV(bytes.NewReader(readFile(t, "tokens.csv")))
	if err != nil {
		t.Fatal(err)
	}
	s20, s32, s64 := testSecrets[0], testSecrets[2], testSecrets[3]
	want := []Token{
		{Serial: "H-0001", Type: HOTP, Secret: s20, Algorithm: SHA1, Digits: 6, Model: "OTP c100", Line: 4},
		{Serial: "H-0002", Type: HOTP, Secret: s20, Algorithm: SHA1, Digits: 8, Counter: 42, Model: "OTP c100", Line: 5},
		{Serial: "T-0003", Type: TOTP, Secret: s20, Algorithm: SHA1, Digits: 6, Period: 30 * time.Second, Model: "OTP c200", Line: 8},
		{Serial: "T-0004", Type: TOTP, Secret: s32, Algorithm: SHA256, Digits: 8, Period: 60 * time.Second, Model: "OTP c200, 60 s", Line: 9},
		{Serial: "T-0005", Type: TOTP, Secret: s64, Algorithm: SHA512, Digits: 8, Period: 30 * time.Second, Line: 10},
	}
	compareTokens(t, got, want)
}

// compareTokens compares whole tokens, secrets included, without printing
// a secret.
func compareTokens(t *testing.T, got, want []Token) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tokens, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Secret, w.Secret) {
			t.Errorf("token %d (%s): the secret differs from the one written", i, g.Serial)
		}
		g.Secret, w.Secret = nil, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("token %d:\ngot  %+v %v %v %s %s\nwant %+v %v %v %s %s", i,
				g, g.NotBefore, g.NotAfter, g.Manufacturer, g.Issuer, w, w.NotBefore, w.NotAfter, w.Manufacturer, w.Issuer)
		}
	}
}

func TestReadCSVSecrets(t *testing.T) {
	s20 := testSecrets[0]
	tests := []struct {
		name, secret string
		want         []byte
	}{
		{"hex lower", "3132333435363738393031323334353637383930", s20},
		{"hex upper", "3132333435363738393031323334353637383930", s20},
		{"hex with spaces", "31323334 35363738 39303132 33343536 37383930", s20},
		{"hex prefix", "HEX:3132333435363738393031323334353637383930", s20},
		{"base32", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", s20},
		{"base32 lower with spaces", "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", s20},
		{"base32 padded", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA====", testSecrets[2]},
		{"base32 unpadded", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA", testSecrets[2]},
		// Valid hex and valid base32 both: hex without a prefix.
		{"ambiguous is hex", "ABCDEF234567ABCDEF234567ABCDEF23", mustHex("ABCDEF234567ABCDEF234567ABCDEF23")},
		{"ambiguous base32 prefix", "base32:ABCDEF234567ABCDEF234567ABCDEF23", mustBase32("ABCDEF234567ABCDEF234567ABCDEF23")},
		// Odd length cannot be hex.
		{"odd hex-looking is base32", "ABCDEF234567ABCDEF234567ABCDEF2", mustBase32("ABCDEF234567ABCDEF234567ABCDEF2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader("serial,secret\nS1," + tt.secret + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[0].Secret, tt.want) {
				t.Errorf("got secret %x, want %x", got[0].Secret, tt.want)
			}
		})
	}
}

func mustHex(s string) []byte {
	b, msg := parseHex(s)
	if msg != "" {
		panic(msg)
	}
	return b
}

func mustBase32(s string) []byte {
	b, msg := parseBase32(s)
	if msg != "" {
		panic(msg)
	}
	return b
}

func TestReadCSVDefaultsAndQuoting(t *testing.T) {
	in := "\xef\xbb\xbf" + // a spreadsheet's byte-order mark
		"SECRET , serial,,\r\n" + // any order, any case, empty trailing columns
		"# a comment\r\n" +
		"\"3132333435363738393031323334353637383930\",\"A,1\",,\r\n" +
		",,,\r\n" + // an empty row
		"\r\n"
	got, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Token{{Serial: "A,1", Type: HOTP, Secret: testSecrets[0], Algorithm: SHA1, Digits: 6, Line: 3}}
	compareTokens(t, got, want)
}

func TestReadCSVProblems(t *testing.T) {
	const (
		hdr  = "serial,secret,type,digits,period,algorithm,counter\n"
		good = "3132333435363738393031323334353637383930"
	)
	tests := []struct {
		name string
		in   string
		want []wantProblem
	}{
		{"empty", "", []wantProblem{{0, "", "the file is empty", nil}}},
		{"only comments", "# nothing\n\n# here\n", []wantProblem{{0, "", "the file is empty", nil}}},
		{"header only", "# seeds\nserial,secret\n", []wantProblem{{2, "", "no tokens", nil}}},
		{"no header", "A1," + good + ",hotp\n", []wantProblem{
			{1, "", "column 1, \"a1\", is not one of", nil},
			{1, "", "column 2 is not a column name", nil},
			{1, "", "column 3, \"hotp\", is not one of", nil},
		}},
		{"unknown column", "serial,seed\n", []wantProblem{{1, "", `column 2, "seed", is not one of`, nil}}},
		{"duplicate column", "serial,secret,Serial\n", []wantProblem{{1, "", `column "serial" appears twice`, nil}}},
		{"no secret column", "serial,type\n", []wantProblem{{1, "", "no secret column", nil}}},
		{"bare quote", "serial,secret\nA\"1," + good + "\n", []wantProblem{{2, "", `bare "`, nil}}},
		{"unterminated quote", "serial,secret\nA1,\"" + good + "\nA2," + good + "\n", []wantProblem{{2, "", `extraneous or missing "`, nil}}},
		{"field count", hdr + "A1," + good + "\n", []wantProblem{{2, "", "2 fields; the header has 7", nil}}},
		{"unnamed column value", "serial,secret,\nA1," + good + ",x\n", []wantProblem{{2, "", "column 3 has a value but no name", nil}}},
		{"empty serial", hdr + "," + good + ",,,,,\n", []wantProblem{{2, "serial", "serial is empty", nil}}},
		{"serial with space", hdr + "A 1," + good + ",,,,,\n", []wantProblem{{2, "serial", "space", nil}}},
		{"empty secret", hdr + "A1,,,,,,\n", []wantProblem{{2, "secret", "secret is empty", nil}}},
		{"short secret", hdr + "A1,0011223344556677,,,,,\n", []wantProblem{{2, "secret", "secret is 8 bytes; RFC 4226 requires at least 16", nil}}},
		{"long secret", hdr + "A1," + strings.Repeat("00", maxSecretLen+1) + ",,,,,\n", []wantProblem{{2, "secret", "at most 128", nil}}},
		{"odd hex", hdr + "A1,hex:" + good + "0,,,,,\n", []wantProblem{{2, "secret", "odd number of digits", nil}}},
		{"not hex", hdr + "A1,hex:" + good[:38] + "zz,,,,,\n", []wantProblem{{2, "secret", "other than 0-9 and a-f", nil}}},
		{"not base32", hdr + "A1,base32:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1,,,,,\n", []wantProblem{{2, "secret", "not base32", nil}}},
		{"neither", hdr + "A1,3132333435363738393031323334353637383930!,,,,,\n", []wantProblem{{2, "secret", "neither hex", nil}}},
		{"type", hdr + "A1," + good + ",hotpp,,,,\n", []wantProblem{{2, "type", `type "hotpp" is not hotp or totp`, nil}}},
		{"digits 7", hdr + "A1," + good + ",,7,,,\n", []wantProblem{{2, "digits", "7 digits: want 6 or 8", nil}}},
		{"digits 0", hdr + "A1," + good + ",,0,,,\n", []wantProblem{{2, "digits", "0 digits", nil}}},
		{"digits word", hdr + "A1," + good + ",,six,,,\n", []wantProblem{{2, "digits", `digits "six" is not a number`, nil}}},
		{"hotp period", hdr + "A1," + good + ",hotp,,30,,\n", []wantProblem{{2, "period", "a period is for totp", nil}}},
		{"totp period 0", hdr + "A1," + good + ",totp,,0,,\n", []wantProblem{{2, "period", "period 0", nil}}},
		{"totp period long", hdr + "A1," + good + ",totp,,301,,\n", []wantProblem{{2, "period", "period 5m1s", nil}}},
		{"period word", hdr + "A1," + good + ",totp,,30m,,\n", []wantProblem{{2, "period", `period "30m" is not a number`, nil}}},
		{"algorithm", hdr + "A1," + good + ",,,,MD5,\n", []wantProblem{{2, "algorithm", `algorithm "MD5" is not`, nil}}},
		{"totp counter", hdr + "A1," + good + ",totp,,,,3\n", []wantProblem{{2, "counter", "a counter is for hotp", nil}}},
		{"negative counter", hdr + "A1," + good + ",,,,,-1\n", []wantProblem{{2, "counter", `counter "-1" is not a number`, nil}}},
		{"duplicate serial", hdr + "A1," + good + ",,,,,\n# again\nA1," + good + ",,,,,\n", []wantProblem{{4, "serial", "serial appears again; first on line 2", nil}}},
		{"secret in another column", hdr + "A1," + good + ",hotp," + good + ",,,\n", []wantProblem{{2, "digits", "(a value of 40 bytes) is not a number", nil}}},
		{"several lines", hdr +
			"A1," + good + ",,,,,\n" +
			"A2,00112233,,,,,\n" +
			"A3," + good + ",totp,7,0,,\n" +
			"A1," + good + ",,,,,\n" +
			"A5," + good + ",,,,SHA3,\n",
			[]wantProblem{
				{3, "secret", "secret is 4 bytes", nil},
				{4, "period", "period 0", nil},
				{4, "digits", "7 digits", nil},
				{5, "serial", "first on line 2", nil},
				{6, "algorithm", "SHA3", nil},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in))
			checkProblems(t, got, err, tt.want)
		})
	}
}

func TestReadCSVNamesSerial(t *testing.T) {
	_, err := ReadCSV(strings.NewReader("serial,secret\nTOK-77,00112233\n"))
	e, ok := errors.AsType[*Error](err)
	if !ok || len(e.Problems) != 1 || e.Problems[0].Serial != "TOK-77" {
		t.Fatalf("got %v, want one problem about serial TOK-77", err)
	}
	if got, want := err.Error(), `tokenfile: line 2: serial "TOK-77": secret: secret is 4 bytes`; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start %q", got, want)
	}
}

// FuzzReadCSV skips inputs over maxFuzzCSV bytes: the fuzzer minimizes
// each input that finds new code, in time that grows with the square of
// its size.
func FuzzReadCSV(f *testing.F) {
	f.Add(readFile(f, "tokens.csv"))
	f.Add([]byte("serial,secret,type,period\nA,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,30\n"))
	f.Add([]byte("serial,secret\nA,\"hex:00\nB,base32:==\n"))
	f.Add([]byte("\xef\xbb\xbfSecret,Serial,,counter\n3132333435363738393031323334353637383930,x,,18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzCSV {
			return
		}
		tokens, err := ReadCSV(bytes.NewReader(data))
		checkFuzzResult(t, tokens, err)
	})
}

// maxFuzzCSV bounds FuzzReadCSV's inputs.
const maxFuzzCSV = 1024

// checkFuzzResult checks what a reader returned for any input: valid
// tokens with unique serials, or an *Error with problems and no tokens.
func checkFuzzResult(t *testing.T, tokens []Token, err error) {
	t.Helper()
	if err != nil {
		e, ok := errors.AsType[*Error](err)
		if !ok {
			t.Fatalf("got %T %v, want *Error", err, err)
		}
		if len(e.Problems) == 0 || tokens != nil {
			t.Fatalf("got %d problems and %d tokens", len(e.Problems), len(tokens))
		}
		for _, p := range e.Problems {
			if p.Message == "" || p.Line < 0 {
				t.Fatalf("bad problem %+v", p)
			}
		}
		return
	}
	if len(tokens) == 0 {
		t.Fatal("no tokens and no error")
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		if ps := tok.check(); len(ps) != 0 {
			t.Fatalf("token %v: %v", tok, ps)
		}
		if seen[tok.Serial] {
			t.Fatalf("serial %q twice", tok.Serial)
		}
		seen[tok.Serial] = true
		if tok.Line < 1 {
			t.Fatalf("token %v: line %d", tok, tok.Line)
		}
	}
}
