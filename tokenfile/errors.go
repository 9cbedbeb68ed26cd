package tokenfile

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sentinel errors, for callers that explain what to do. An *Error matches
// them with errors.Is when one of its problems is of that kind; unsupported
// features match errors.ErrUnsupported.
var (
	// ErrKeyNeeded: the file is encrypted and no pre-shared key was given.
	ErrKeyNeeded = errors.New("the file is encrypted: a pre-shared key is needed")
	// ErrWrongKey: the MAC check failed, so the pre-shared key given is
	// not the one the file was encrypted with (or the file was damaged).
	ErrWrongKey = errors.New("the pre-shared key does not match the file: MAC check failed")
)

// Problem is one thing wrong in a token file. No field ever holds a seed.
type Problem struct {
	// Line is 1-based: the CSV line, or the line where the XML element
	// starts; 0 when unknown.
	Line int
	// Serial is the token concerned, when known.
	Serial string
	// Field is the CSV column or the PSKC element, e.g.
	// KeyPackage/Key/Data/Secret; empty for the line or file as a whole.
	Field string
	// Message says what is wrong and, where it can, what to do.
	Message string
	// Err is ErrKeyNeeded, ErrWrongKey or errors.ErrUnsupported when the
	// problem is of that kind; nil otherwise.
	Err error
}

// Error is a refused token file with every problem found.
type Error struct {
	// File is the name given to Read; empty from ReadCSV and ReadPSKC.
	File string
	// Problems in the order of their lines.
	Problems []Problem
}

// Error lists the problems as file:line: serial: field: message, one a
// line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tokenfile: ")
	if len(e.Problems) == 1 {
		e.write(&b, e.Problems[0])
		return b.String()
	}
	name := e.File
	if name == "" {
		name = "token file"
	}
	fmt.Fprintf(&b, "%s: %d problems", name, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		e.write(&b, p)
	}
	return b.String()
}

func (e *Error) write(b *strings.Builder, p Problem) {
	if e.File != "" {
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(b, "line %d: ", p.Line)
	}
	if p.Serial != "" {
		fmt.Fprintf(b, "serial %q: ", p.Serial)
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
}

// Unwrap returns the sentinel errors of the problems, for errors.Is.
func (e *Error) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil && !containsErr(errs, p.Err) {
			errs = append(errs, p.Err)
		}
	}
	return errs
}

func containsErr(errs []error, err error) bool {
	for _, e := range errs {
		if e == err {
			return true
		}
	}
	return false
}

// problems collects what is wrong with a file.
type problems struct {
	list []Problem
}

func (ps *problems) add(p Problem) { ps.list = append(ps.list, p) }

func (ps *problems) addf(line int, serial, field, format string, args ...any) {
	ps.add(Problem{Line: line, Serial: serial, Field: field, Message: fmt.Sprintf(format, args...)})
}

// maxProblems bounds an *Error: past it, one more problem says how many
// were left out. A file that wrong is the wrong file.
const maxProblems = 100

// err returns nil when nothing was found, else an *Error sorted by line.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].Line < ps.list[j].Line })
	list := ps.list
	if n := len(list); n > maxProblems {
		list = append(list[:maxProblems:maxProblems], Problem{Message: fmt.Sprintf("%d more problems not listed", n-maxProblems)})
	}
	return &Error{Problems: list}
}

// refuse wipes the secrets already read from a file that is refused, so
// that they do not linger in memory longer than they must.
func refuse(tokens []Token) {
	for i := range tokens {
		clear(tokens[i].Secret)
	}
}
