package tokenfile

import (
	"bytes"
	"encoding/base32"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CSV columns. serial and secret are required; the others may be left out
// of the header or left empty, and then take Token's defaults (type hotp).
var csvColumns = []string{
	fieldSerial, fieldSecret, fieldType, fieldDigits, fieldPeriod, fieldAlgorithm, fieldCounter,
	fieldManufacturer, fieldModel, fieldIssuer,
}

// ReadCSV reads tokens from CSV, as spreadsheets write it (RFC 4180
// quoting, an optional byte-order mark). The first line that is not blank
// or a # comment is the header: it names the columns, in any order, from
//
//	serial,secret,type,digits,period,algorithm,counter,manufacturer,model,issuer
//
// (case-insensitive). serial and secret are required. Each further line is
// a token; blank lines, lines of empty fields and # comment lines are
// skipped.
//
// A secret is hex or base32, decided by this rule: a "hex:" or "base32:"
// prefix says which; without one, a secret made only of 0-9 and a-f
// (either case) in an even number is hex, and anything else is base32
// (RFC 4648, either case, = padding optional). Spaces inside a secret are
// ignored. A base32 secret that happens to use only A-F and 2-7 in an even
// number is read as hex: give such a secret its base32: prefix.
//
// period is in seconds (a trailing "s" is allowed) and only for totp;
// counter only for hotp. Every bad line is reported, not just the first.
func ReadCSV(r io.Reader) ([]Token, error) {
	data, err := readAll(r)
	if _, ok := errors.AsType[*Error](err); ok {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("tokenfile: %w", err)
	}
	return readCSV(data)
}

func readCSV(data []byte) ([]Token, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1 // checked below, to report every line
	cr.TrimLeadingSpace = true

	var ps problems
	header, err := cr.Read()
	if err == io.EOF {
		ps.addf(0, "", "", "the file is empty: want a header line naming the columns, e.g. serial,secret,type")
		return nil, ps.err()
	}
	if err != nil {
		addCSVError(&ps, err)
		return nil, ps.err()
	}
	headerLine, _ := cr.FieldPos(0)
	h, ok := readHeader(&ps, header, headerLine)
	if !ok {
		return nil, ps.err()
	}

	var tokens []Token
	first := map[string]int{} // serial -> line
	for {
		record, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !addCSVError(&ps, err) {
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if allEmpty(record) {
			continue // a spreadsheet's empty row
		}
		if len(record) != h.width {
			ps.addf(line, "", "", "%d fields; the header has %d", len(record), h.width)
			continue
		}
		t, ok := readCSVToken(&ps, h, record, line)
		if !ok {
			clear(t.Secret)
			continue
		}
		if l, dup := first[t.Serial]; dup {
			ps.addf(line, t.Serial, fieldSerial, "serial appears again; first on line %d", l)
			clear(t.Secret)
			continue
		}
		first[t.Serial] = line
		tokens = append(tokens, t)
	}
	if len(tokens) == 0 && len(ps.list) == 0 {
		ps.addf(headerLine, "", "", "the file holds no tokens, only a header")
	}
	if err := ps.err(); err != nil {
		refuse(tokens)
		return nil, err
	}
	return tokens, nil
}

// headerName is what may be quoted back from a header cell: a cell that
// does not look like a column name may be a seed, the header line being
// missing.
var headerName = regexp.MustCompile(`^[a-z][a-z0-9_ -]{0,23}$`)

// csvHeader is a header line read: the index of each named column, and
// the columns without a name, which spreadsheets add after the last one
// and whose cells must then be empty.
type csvHeader struct {
	cols    map[string]int
	unnamed []int
	width   int
}

// readHeader reads the header line, or returns false after reporting what
// is wrong: rows cannot be read without a right header.
func readHeader(ps *problems, header []string, line int) (csvHeader, bool) {
	n := len(ps.list)
	h := csvHeader{cols: map[string]int{}, width: len(header)}
	for i, cell := range header {
		name := strings.ToLower(strings.TrimSpace(cell))
		switch {
		case name == "":
			h.unnamed = append(h.unnamed, i)
		case !isColumn(name):
			if headerName.MatchString(name) {
				ps.addf(line, "", "", "column %d, %q, is not one of %s", i+1, name, strings.Join(csvColumns, ", "))
			} else {
				ps.addf(line, "", "", "column %d is not a column name: the first line must name the columns, e.g. serial,secret,type", i+1)
			}
		default:
			if _, dup := h.cols[name]; dup {
				ps.addf(line, "", "", "column %q appears twice", name)
			}
			h.cols[name] = i
		}
	}
	if len(ps.list) == n { // else the line is likely no header at all
		for _, req := range []string{fieldSerial, fieldSecret} {
			if _, ok := h.cols[req]; !ok {
				ps.addf(line, "", "", "no %s column: the header must name serial and secret", req)
			}
		}
	}
	return h, len(ps.list) == n
}

func isColumn(name string) bool {
	for _, c := range csvColumns {
		if c == name {
			return true
		}
	}
	return false
}

// readCSVToken reads one record; ok is false when it reported a problem.
func readCSVToken(ps *problems, h csvHeader, record []string, line int) (t Token, ok bool) {
	n := len(ps.list)
	get := func(col string) string {
		if i, ok := h.cols[col]; ok {
			return strings.TrimSpace(record[i])
		}
		return ""
	}
	t.Line = line
	t.Serial = get(fieldSerial)
	serial := t.Serial
	if checkSerial(serial) != "" {
		serial = "" // reported below; not quoted
	}
	bad := func(field, format string, args ...any) {
		ps.addf(line, serial, field, format, args...)
	}
	for _, i := range h.unnamed {
		if strings.TrimSpace(record[i]) != "" {
			bad("", "column %d has a value but no name in the header", i+1)
		}
	}
	if s := get(fieldSecret); s == "" {
		bad(fieldSecret, "secret is empty")
	} else if secret, msg := parseSecret(s); msg != "" {
		bad(fieldSecret, "%s", msg)
	} else {
		t.Secret = secret
	}
	t.Type = strings.ToLower(get(fieldType))
	if t.Type == "" {
		t.Type = HOTP
	}
	t.Algorithm = normalizeAlgorithm(get(fieldAlgorithm))
	if v := get(fieldDigits); v != "" {
		d, err := strconv.Atoi(v)
		switch {
		case err != nil:
			bad(fieldDigits, "digits %s is not a number", quoteShort(v))
		case d == 0: // not the default, which an empty cell asks for
			bad(fieldDigits, "0 digits: want 6 or 8")
		default:
			t.Digits = d
		}
	}
	if v := get(fieldPeriod); v != "" {
		s, err := strconv.ParseUint(strings.TrimSuffix(v, "s"), 10, 32)
		switch {
		case err != nil:
			bad(fieldPeriod, "period %s is not a number of seconds", quoteShort(v))
		case s == 0 && t.Type == TOTP: // 0 is no period, right for hotp only
			bad(fieldPeriod, "period 0: want 1 to %d seconds", int(maxPeriod/time.Second))
		default:
			t.Period = time.Duration(s) * time.Second
		}
	}
	if v := get(fieldCounter); v != "" {
		if c, err := strconv.ParseUint(v, 10, 64); err != nil {
			bad(fieldCounter, "counter %s is not a number from 0 to 2^64-1", quoteShort(v))
		} else {
			t.Counter = c
		}
	}
	t.Manufacturer = get(fieldManufacturer)
	t.Model = get(fieldModel)
	t.Issuer = get(fieldIssuer)
	// A cell that could not be read left its field zero, which takes the
	// default: check reports the other cells' problems, not that one's.
	t.setDefaults()
	for _, p := range t.check() {
		if p.field == fieldSecret && t.Secret == nil {
			continue // already said
		}
		bad(p.field, "%s", p.msg)
	}
	return t, len(ps.list) == n
}

// addCSVError reports a parse error of encoding/csv, whose messages hold
// positions and never a field's text; false when reading cannot go on.
func addCSVError(ps *problems, err error) bool {
	if pe, ok := errors.AsType[*csv.ParseError](err); ok {
		ps.addf(pe.StartLine, "", "", "%v", pe.Err) // where the record starts
		return true
	}
	ps.addf(0, "", "", "%v", err)
	return false
}

func allEmpty(record []string) bool {
	for _, f := range record {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// b32 reads RFC 4648 base32 once padding is dropped.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// parseSecret reads a CSV secret by the rule of ReadCSV. The message, when
// not empty, says what is wrong without quoting any of the secret.
func parseSecret(s string) ([]byte, string) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "hex:"):
		return parseHex(s[len("hex:"):])
	case strings.HasPrefix(lower, "base32:"):
		return parseBase32(s[len("base32:"):])
	case isHex(s) && len(s)%2 == 0:
		return parseHex(s)
	}
	b, msg := parseBase32(s)
	if msg != "" {
		msg = "secret is neither hex (an even number of 0-9 and a-f) nor base32 (A-Z and 2-7): prefix it with hex: or base32: to say which it is meant to be"
	}
	return b, msg
}

func parseHex(s string) ([]byte, string) {
	switch {
	case s == "":
		return nil, "secret is empty"
	case !isHex(s):
		return nil, "secret is not hex: it holds a character other than 0-9 and a-f"
	case len(s)%2 != 0:
		return nil, "secret is not hex: it has an odd number of digits"
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, "secret is not hex"
	}
	return b, ""
}

func parseBase32(s string) ([]byte, string) {
	s = strings.TrimRight(strings.ToUpper(s), "=")
	if s == "" {
		return nil, "secret is empty"
	}
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, "secret is not base32 (RFC 4648: A-Z and 2-7, = padding optional)"
	}
	return b, ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}
