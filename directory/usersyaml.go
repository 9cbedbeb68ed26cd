package directory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The users file is YAML:
//
//	users:
//	  alice:
//	    password: "$argon2id$v=19$m=19456,t=2,p=1$..."
//	    groups: [vpn-users]
//	    disabled: false
//
// It is parsed on yaml.Node rather than into structs so that every problem
// has its line, unknown keys and duplicates are caught, and twostepctl can
// edit the file keeping its comments and order.

// Problem is one thing wrong in a users file.
type Problem struct {
	// Line is 1-based; 0 when unknown.
	Line int
	// Field is the dotted path, e.g. users.alice.password; empty for syntax.
	Field string
	// Message says what is wrong and, where it can, what to do. It never
	// holds a password hash.
	Message string
}

// FileError is a refused users file with every problem found.
type FileError struct {
	// Path is the file as it was named to OpenFile or EditFile.
	Path string
	// Problems in the order of their lines.
	Problems []Problem
}

// Error lists the problems as path:line: field: message, one a line.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("directory: ")
	if len(e.Problems) == 1 {
		e.write(&b, e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d problems", e.Path, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		e.write(&b, p)
	}
	return b.String()
}

func (e *FileError) write(b *strings.Builder, p Problem) {
	b.WriteString(e.Path)
	if p.Line > 0 {
		fmt.Fprintf(b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
}

// Limits on names, checked when the file is loaded and when twostepctl
// adds a user. 253 bytes is the longest RADIUS attribute value.
const (
	maxNameLen  = 253
	userKeys    = "password, groups, disabled"
	usersHeader = "# twostep users file. Manage it with `twostepctl user add|passwd|...`."
)

// usersDoc is a parsed users file: the YAML tree, kept for editing, and the
// users in file order.
type usersDoc struct {
	root  *yaml.Node // the document node
	users *yaml.Node // the value of the users key: a mapping, or a null scalar
	list  []*userEntry
}

// userEntry is one user with the nodes it came from.
type userEntry struct {
	name     string
	hash     passwordHash
	groups   []string
	disabled bool
	key      *yaml.Node // the username scalar
	value    *yaml.Node // the user's mapping
}

// field returns the value node of key in the user's mapping, or nil.
func (u *userEntry) field(key string) *yaml.Node {
	return mappingValue(u.value, key)
}

func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// userParser collects problems while walking the tree.
type userParser struct {
	problems []Problem
}

func (p *userParser) add(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.problems = append(p.problems, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseUsers parses and validates a whole users file. The document is
// returned whenever the YAML itself could be read, with the problems found,
// so that an editor can still locate users in a file with problems.
func parseUsers(data []byte) (*usersDoc, []Problem) {
	var p userParser
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			// An empty file is refused so that a file caught half-written
			// (truncated, not yet filled) never reads as "no users".
			p.add(nil, "", "the file is empty; it needs a users: mapping (write `users: {}` for no users)")
			return nil, p.problems
		}
		return nil, append([]Problem{yamlProblem(err)}, unquotedBraces(data)...)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		p.add(&extra, "", "more than one YAML document; a users file holds one")
	}
	doc := &usersDoc{root: &root}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		p.add(top, "", "want a mapping with the key users")
		return nil, p.problems
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if first, dup := seen[k.Value]; dup {
			p.add(k, k.Value, "defined twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		if k.Value != "users" {
			p.add(k, k.Value, "unknown key (the file holds only users)")
			continue
		}
		doc.users = v
		p.users(doc, v)
	}
	if doc.users == nil {
		p.add(top, "users", "missing; want a users: mapping (write `users: {}` for no users)")
	}
	sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
	return doc, p.problems
}

// unquotedBrace finds password: {SSHA512}… written without quotes, which
// YAML reads as the start of a mapping and reports obscurely.
var unquotedBrace = regexp.MustCompile(`^\s*password:\s*\{`)

func unquotedBraces(data []byte) []Problem {
	var out []Problem
	for i, line := range strings.Split(string(data), "\n") {
		if unquotedBrace.MatchString(line) {
			out = append(out, Problem{Line: i + 1, Field: "password", Message: `a hash starting with { must be quoted: password: "{SSHA512}..."`})
		}
	}
	return out
}

func yamlProblem(err error) Problem {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Message: "YAML: " + m[2]}
	}
	return Problem{Message: strings.Replace(err.Error(), "yaml: ", "YAML: ", 1)}
}

func (p *userParser) users(doc *usersDoc, v *yaml.Node) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.add(v, "users", "want a mapping of user names to users")
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, uv := v.Content[i], v.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.add(k, "users", "a user name must be a plain string")
			continue
		}
		field := userField(k.Value)
		if err := validUsername(k.Value); err != nil {
			p.add(k, field, "%v", err)
			continue
		}
		// Names are compared without case, as directories compare them and
		// as the cluster keeps second-factor records: Alice and alice would
		// otherwise share one set of devices.
		if first, dup := seen[strings.ToLower(k.Value)]; dup {
			p.add(k, field, "user defined twice, ignoring case (first at line %d)", first)
			continue
		}
		seen[strings.ToLower(k.Value)] = k.Line
		if u := p.user(k, uv, field); u != nil {
			doc.list = append(doc.list, u)
		}
	}
}

// userField is the dotted path of a user, quoting names that would make
// the path ambiguous.
func userField(name string) string {
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_@", r)) {
			return "users[" + strconv.Quote(name) + "]"
		}
	}
	return "users." + name
}

func (p *userParser) user(k, v *yaml.Node, field string) *userEntry {
	u := &userEntry{name: k.Value, key: k, value: v}
	if isNull(v) {
		p.add(k, field, "no password; set one with `twostepctl user passwd %s`", k.Value)
		return nil
	}
	if v.Kind != yaml.MappingNode {
		p.add(v, field, "want a mapping with the keys %s", userKeys)
		return nil
	}
	ok := true
	seen := map[string]int{}
	var password *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		fk, fv := v.Content[i], v.Content[i+1]
		f := field + "." + fk.Value
		if first, dup := seen[fk.Value]; dup {
			p.add(fk, f, "defined twice (first at line %d)", first)
			ok = false
			continue
		}
		seen[fk.Value] = fk.Line
		switch fk.Value {
		case "password":
			password = fv
			h, err := parsePasswordNode(fv)
			if err != nil {
				p.add(fv, f, "%v", err)
				ok = false
			}
			u.hash = h
		case "groups":
			g, good := p.groups(fv, f)
			u.groups, ok = g, ok && good
		case "disabled":
			// Only true and false: yes/no/on/off mean a bool in YAML 1.1
			// and a string in YAML 1.2, and a reader may take either.
			if fv.Kind != yaml.ScalarNode || fv.ShortTag() != "!!bool" || fv.Decode(&u.disabled) != nil {
				p.add(fv, f, "want true or false")
				ok = false
			}
		default:
			p.add(fk, f, "unknown key (known: %s)", userKeys)
			ok = false
		}
	}
	if password == nil {
		p.add(k, field, "no password; set one with `twostepctl user passwd %s`", k.Value)
		return nil
	}
	if !ok {
		return nil
	}
	return u
}

func parsePasswordNode(n *yaml.Node) (passwordHash, error) {
	if n.Kind == yaml.AliasNode {
		return nil, errors.New("aliases (*name) are not supported")
	}
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a password hash string")
	}
	return parseHash(n.Value)
}

func (p *userParser) groups(n *yaml.Node, field string) ([]string, bool) {
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "want a list of group names, e.g. [vpn-users]")
		return nil, false
	}
	ok := true
	var groups []string
	seen := map[string]bool{}
	for _, g := range n.Content {
		if g.Kind != yaml.ScalarNode {
			p.add(g, field, "want a group name")
			ok = false
			continue
		}
		if err := validGroup(g.Value); err != nil {
			p.add(g, field, "%v", err)
			ok = false
			continue
		}
		if seen[g.Value] {
			p.add(g, field, "group %q listed twice", g.Value)
			ok = false
			continue
		}
		seen[g.Value] = true
		groups = append(groups, g.Value)
	}
	return groups, ok
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// validUsername accepts what a NAS may send as User-Name: any UTF-8 text
// but control characters, without surrounding spaces (almost always a
// typo). Realms and domains (alice@example.org, EXAMPLE\alice) are kept:
// names are compared exactly as stored.
func validUsername(name string) error {
	return validName("user name", name)
}

// validGroup accepts group names as directories write them, spaces
// included, but no comma: twostepctl -groups separates them with commas.
func validGroup(name string) error {
	if err := validName("group name", name); err != nil {
		return err
	}
	if strings.ContainsRune(name, ',') {
		return fmt.Errorf("group name %q holds a comma", name)
	}
	return nil
}

func validName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s", what)
	case len(name) > maxNameLen:
		return fmt.Errorf("%s of %d bytes, want at most %d", what, len(name), maxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%s %q holds a control character", what, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s %q starts or ends with a space", what, name)
	}
	return nil
}
