package configs

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"twostep/confcheck"
)

// Problem is one thing wrong in a configuration file.
type Problem struct {
	// Line is 1-based; 0 when unknown.
	Line int
	// Field is the dotted path, e.g. clients[0].secret; empty for syntax.
	Field string
	// Message says what is wrong and, where it can, what to do.
	Message string
}

// Error is a refused configuration file with every problem found.
type Error struct {
	File     string
	Problems []Problem
}

// Error lists one problem per line as file:line: field: message.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configs: %s: %d problem(s)", e.File, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Field != "" {
			b.WriteString(p.Field)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// validator collects problems; lines maps field paths to their line.
type validator struct {
	file     string
	lines    map[string]int
	problems []Problem
	// broken holds the paths whose value could not be decoded (reported
	// already): checks of those fields, or of fields under them, would
	// only report the zero value left in their place.
	broken map[string]bool
	// dropped counts the problems past maxProblems.
	dropped int
	// secrets holds what the file wrote of each secret, by the path of
	// its key (secrets.go).
	secrets map[string]*secretSource
}

// add records a problem at field, located at the nearest written
// ancestor, unless field or a section above it could not be decoded.
func (v *validator) add(field, format string, args ...any) {
	if v.unread(field) {
		return
	}
	v.addLine(v.lineOf(field), field, format, args...)
}

// section records the problems err of the section at path (its owner's
// Validate), each under its field's path.
func (v *validator) section(path string, err error) {
	var ps confcheck.Problems
	ps.Include(path, err)
	for _, p := range ps {
		v.add(p.Field, "%s", p.Message)
	}
}

// unread reports whether field or a section above it could not be
// decoded.
func (v *validator) unread(field string) bool {
	for f := field; f != ""; f = parentPath(f) {
		if v.broken[f] {
			return true
		}
	}
	return false
}

// maxProblems bounds the problems kept: a file that repeats one mistake
// a million times (by aliases, say) must not make a million-line error.
const maxProblems = 200

func (v *validator) addLine(line int, field, format string, args ...any) {
	if v.dropped > 0 || len(v.problems) >= maxProblems {
		v.dropped++
		return
	}
	v.problems = append(v.problems, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// addAlways records a problem past maxProblems too: the one that says
// why the file was refused before all of it was read.
func (v *validator) addAlways(line int, field, format string, args ...any) {
	v.problems = append(v.problems, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) lineOf(field string) int {
	for f := field; f != ""; f = parentPath(f) {
		if l, ok := v.lines[f]; ok {
			return l
		}
	}
	return 0
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	// In file order; problems of keys the file lacks (no line) last.
	sort.SliceStable(v.problems, func(i, j int) bool {
		li, lj := v.problems[i].Line, v.problems[j].Line
		return li != 0 && (lj == 0 || li < lj)
	})
	problems := v.problems
	if v.dropped > 0 {
		problems = append(problems, Problem{Message: fmt.Sprintf("and %d more problems; mend these first", v.dropped)})
	}
	return &Error{File: v.file, Problems: problems}
}

// parentPath drops the last element: a.b[2].c -> a.b[2] -> a.b -> a.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// indexLines records the line of every mapping key and sequence item.
func indexLines(n *yaml.Node, path string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			indexLines(c, path, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			lines[p] = k.Line
			indexLines(n.Content[i+1], p, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			indexLines(c, p, lines)
		}
	}
}

// splitYAMLErrors turns a yaml.TypeError into one error per problem.
func splitYAMLErrors(err error) []error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []error{err}
	}
	out := make([]error, 0, len(te.Errors))
	for _, s := range te.Errors {
		out = append(out, errors.New(s))
	}
	return out
}

var (
	yamlLineRE = regexp.MustCompile(`line (\d+): `)
	yamlTypeRE = regexp.MustCompile("cannot unmarshal !!(\\w+) (?:`[^`]*` )?into (\\S+)")
)

func yamlLine(err error) int {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// yamlMessage rewrites the YAML library's words into the file's terms,
// and drops the offending value: it may be a misplaced secret. t is the
// type of the setting being decoded (nil for a whole document).
func yamlMessage(err error, t reflect.Type) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = yamlLineRE.ReplaceAllString(s, "")
	if m := yamlTypeRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("a %s is not allowed here; want %s", kindName(m[1]), typeName(m[2], t))
	}
	return s
}

func kindName(tag string) string {
	switch tag {
	case "str":
		return "string"
	case "seq":
		return "list"
	case "map":
		return "mapping"
	case "int", "float", "bool":
		return tag
	}
	return "value"
}

// typeName says what a setting of goType, as the YAML library names it,
// takes; t is the setting's own type, or its list's.
func typeName(goType string, t reflect.Type) string {
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
		t = t.Elem()
	}
	switch {
	case goType == "time.Duration":
		return "a duration such as 10s"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "int":
		return "a whole number"
	case goType == "bool", goType == "*bool":
		return "true or false"
	case goType == "string", goType == "*string", t != nil && readsText(t):
		return "a string"
	}
	return "a mapping"
}

// maxSyntaxScan bounds the bytes syntaxLine parses again to find the
// line at fault; a hand-written configuration takes a few hundred
// kilobytes at most.
const maxSyntaxScan = 8 << 20

// syntaxLine returns the line a YAML syntax error is on. The YAML library
// reports where the enclosing block starts: a key indented one space too
// few deep in a section comes out at the section's first line. The line
// at fault is the first whose prefix of the file fails with the very same
// error, so syntaxLine parses growing prefixes from the reported line on.
func syntaxLine(b []byte, err error) int {
	reported := yamlLine(err)
	if reported == 0 {
		return 0
	}
	want := err.Error()
	scanned := 0
	line, end := 1, 0
	for end < len(b) && scanned < maxSyntaxScan {
		next := bytes.IndexByte(b[end:], '\n')
		if next < 0 {
			end = len(b)
		} else {
			end += next + 1
		}
		if line >= reported-1 {
			var n yaml.Node
			if e := yaml.Unmarshal(b[:end], &n); e != nil && e.Error() == want {
				return line
			}
			scanned += end
		}
		line++
	}
	return reported
}

// syntaxHints add what usually causes the YAML library's syntax errors.
var syntaxHints = map[string]string{
	"did not find expected key":                       "check this line's indentation: keys of one section line up",
	"did not find expected '-' indicator":             "check this line's indentation: list items and their keys line up",
	"mapping values are not allowed in this context":  "a value with ': ' in it needs quotes, and a key needs its own line",
	"found character that cannot start any token":     "tabs cannot indent YAML: use spaces",
	"did not find expected node content":              "a value is missing or starts with a character that needs quotes",
	"could not find expected ':'":                     "a key needs ': ' after it",
	"found a tab character that violates indentation": "tabs cannot indent YAML: use spaces",
}

// syntaxMessage is yamlMessage with a hint for the common mistakes.
func syntaxMessage(err error) string {
	msg := yamlMessage(err, nil)
	for problem, hint := range syntaxHints {
		if strings.HasPrefix(msg, problem) {
			return msg + " (" + hint + ")"
		}
	}
	return msg
}
