package configs

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
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
}

// add records a problem at field, located at the nearest written ancestor.
func (v *validator) add(field, format string, args ...any) {
	v.addLine(v.lineOf(field), field, format, args...)
}

func (v *validator) addLine(line int, field, format string, args ...any) {
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
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
	return &Error{File: v.file, Problems: v.problems}
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
	yamlLineRE    = regexp.MustCompile(`line (\d+): `)
	yamlUnknownRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
	yamlTypeRE    = regexp.MustCompile("cannot unmarshal !!(\\w+) (?:`[^`]*` )?into (\\S+)")
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
// and drops the offending value: it may be a misplaced secret.
func yamlMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = yamlLineRE.ReplaceAllString(s, "")
	if m := yamlUnknownRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("unknown field %q (see configs/example.yaml for every option)", m[1])
	}
	if m := yamlTypeRE.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("a %s is not allowed here; want %s", kindName(m[1]), typeName(m[2]))
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

func typeName(goType string) string {
	switch {
	case goType == "time.Duration":
		return "a duration such as 10s"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "int":
		return "a whole number"
	case goType == "bool", goType == "*bool":
		return "true or false"
	case goType == "string", goType == "*string":
		return "a string"
	}
	return "a mapping"
}
