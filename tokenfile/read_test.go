package tokenfile

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets the test files use. Problems are checked not to hold any of
// them, in any form a file may carry them.
var testSecrets = [][]byte{
	[]byte("12345678901234567890"),
	[]byte("abcdefghijklmnopqrst"),
	[]byte("12345678901234567890123456789012"),
	[]byte("1234567890123456789012345678901234567890123456789012345678901234"),
}

// assertNoSecret fails when text holds any 12 consecutive characters of
// any of secrets (testSecrets when none are given) written raw, in hex,
// base32 or base64, in either case.
func assertNoSecret(t *testing.T, text string, secrets ...[]byte) {
	t.Helper()
	if len(secrets) == 0 {
		secrets = testSecrets
	}
	const window = 12
	lower := strings.ToLower(text)
	for _, s := range secrets {
		for _, form := range []string{
			string(s),
			hex.EncodeToString(s),
			base32.StdEncoding.EncodeToString(s),
			base64.StdEncoding.EncodeToString(s),
		} {
			for i := 0; i+window <= len(form); i++ {
				part := form[i : i+window]
				if strings.Contains(lower, strings.ToLower(part)) {
					t.Errorf("text holds part of a secret (%q):\n%s", part, text)
					return
				}
			}
		}
	}
}

// wantProblem is a problem a test expects: on Line, at Field, its message
// holding Has, of kind Err (nil: no sentinel).
type wantProblem struct {
	Line  int
	Field string
	Has   string
	Err   error
}

// checkProblems checks that err is an *Error with exactly the problems
// wanted, in order, and that none holds a secret.
func checkProblems(t *testing.T, tokens []Token, err error, want []wantProblem) {
	t.Helper()
	if err == nil {
		t.Fatalf("got %d tokens and no error, want %d problems", len(tokens), len(want))
	}
	if tokens != nil {
		t.Errorf("got %d tokens with the error, want none", len(tokens))
	}
	assertNoSecret(t, err.Error())
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("got %T %v, want *Error", err, err)
	}
	if len(e.Problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(e.Problems), len(want), err)
	}
	for i, w := range want {
		p := e.Problems[i]
		if p.Line != w.Line || p.Field != w.Field || !strings.Contains(p.Message, w.Has) || p.Err != w.Err {
			t.Errorf("problem %d: got line %d, field %q, %q, err %v; want line %d, field %q, %q, err %v",
				i, p.Line, p.Field, p.Message, p.Err, w.Line, w.Field, w.Has, w.Err)
		}
		if w.Err != nil && !errors.Is(err, w.Err) {
			t.Errorf("errors.Is(err, %v) = false, want true", w.Err)
		}
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReadChoosesFormat(t *testing.T) {
	csvData := readFile(t, "tokens.csv")
	xmlData := readFile(t, "python-pskc-plain.xml")
	tests := []struct {
		name string
		data []byte
		want int // tokens
	}{
		{"tokens.csv", csvData, 5},
		{"tokens.txt", csvData, 5},
		{"tokens", csvData, 5},
		{"seeds.xml", xmlData, 3},
		{"seeds.csv", xmlData, 3}, // the content says XML
		{"seeds", append([]byte("\xef\xbb\xbf\n  "), xmlData...), 3},
		{"seeds.dat", []byte(strings.Replace(string(xmlData), `<?xml version="1.0" encoding="UTF-8"?>`+"\n", "", 1)), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.name, bytes.NewReader(tt.data), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("got %d tokens, want %d", len(got), tt.want)
			}
		})
	}
}

func TestReadNamesFile(t *testing.T) {
	// An .xml name makes a file PSKC even when it is not XML: the
	// problem then says so, rather than one about CSV columns.
	_, err := Read("vendor/seeds.xml", strings.NewReader("serial,secret\n"), nil)
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("got %v, want *Error", err)
	}
	if e.File != "vendor/seeds.xml" {
		t.Errorf("File = %q, want vendor/seeds.xml", e.File)
	}
	if got, want := err.Error(), "tokenfile: vendor/seeds.xml:1: the file is not XML"; !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start %q", got, want)
	}

	_, err = Read("t.csv", strings.NewReader("serial,secret\nA,00\nB,zz\n"), nil)
	want := "tokenfile: t.csv: 2 problems\n  t.csv:2: serial \"A\": secret: secret is 1 bytes"
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("got %q, want it to start %q", got, want)
	}
}

func TestReadTooBig(t *testing.T) {
	for _, tt := range []struct {
		limit int64
		want  string
	}{
		{10, "larger than 10 bytes"},
		{1 << 20, "larger than 1 MiB"},
	} {
		_, err := readLimited(io.LimitReader(zeros{}, tt.limit+1), tt.limit)
		checkProblems(t, nil, err, []wantProblem{{0, "", tt.want, nil}})
		data, err := readLimited(io.LimitReader(zeros{}, tt.limit), tt.limit)
		if err != nil || int64(len(data)) != tt.limit {
			t.Errorf("reading %d bytes: got %d bytes, %v", tt.limit, len(data), err)
		}
	}
}

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReadIOError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Read("x.csv", io.MultiReader(strings.NewReader("serial"), errReader{boom}), nil)
	if !errors.Is(err, boom) {
		t.Errorf("got %v, want it to wrap %v", err, boom)
	}
	if _, ok := errors.AsType[*Error](err); ok {
		t.Errorf("got an *Error for an I/O error: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestErrorLimitsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("serial,secret\n")
	for range maxProblems + 5 {
		b.WriteString("A,00\n")
	}
	_, err := ReadCSV(strings.NewReader(b.String()))
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("got %v, want *Error", err)
	}
	if len(e.Problems) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d", len(e.Problems), maxProblems+1)
	}
	if got, want := e.Problems[maxProblems].Message, "5 more problems not listed"; got != want {
		t.Errorf("last problem %q, want %q", got, want)
	}
}
