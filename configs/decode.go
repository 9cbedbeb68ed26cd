package configs

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes decode visits, aliases followed: a file of a
// few kilobytes could otherwise expand, alias by alias, into millions.
const maxNodes = 100_000

// decoder fills the sections from the document's nodes one key at a
// time, so that one problem does not hide the others: a key the section
// does not know is reported at its line, with the key it was probably
// meant to be, and a value of the wrong type at its line and path; every
// other key is decoded for the checks that follow.
//
// The sections are the owners' structs: a field's yaml tag is its key, a
// field tagged "-" (or not at all) is none, and a struct field tagged
// ",inline" lends its keys to the section it is in. A field tagged
// config:"secret" with key K is read from K, K_file or K_env, which the
// decoder keeps aside (validator.secrets) for configs to resolve; the
// field itself is set by configs. A section is decoded over what it
// holds already, its owner's defaults: a key the file leaves out keeps
// the default, a key it writes replaces it (a section written starts
// again from its defaults and takes the keys written in it).
type decoder struct {
	v     *validator
	nodes int
	// keys caches the keys of each struct type, in field order.
	keys map[reflect.Type][]key
}

// key is one key of a section: its name in the file and where its field
// is in the section's struct (through inline fields). A key of a secret
// names the secret's key (secret) and which of its sources it is.
type key struct {
	name   string
	index  []int
	secret string
	source source
}

// decode fills out, a pointer to a struct, from the document root. It
// reports false when the document could not be walked (too many nodes).
func (v *validator) decode(root *yaml.Node, out any) bool {
	d := &decoder{v: v, keys: map[reflect.Type][]key{}}
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return true // an empty file: every check reports what is missing
		}
		n = n.Content[0]
	}
	return d.value(n, "", reflect.ValueOf(out).Elem(), nil)
}

// section is a mapping decode is in: its path and struct type, and the
// section that holds it (nil at the top).
type section struct {
	path   string
	t      reflect.Type
	parent *section
}

// value decodes n, found at path in the section in, into out. It reports
// false once the node budget is spent.
func (d *decoder) value(n *yaml.Node, path string, out reflect.Value, in *section) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if !d.count(n) {
		return false
	}
	t := out.Type()
	if t.Kind() == reflect.Pointer && nested(t.Elem()) {
		if isNull(n) {
			return true
		}
		if out.IsNil() {
			out.Set(reflect.New(t.Elem()))
		}
		return d.value(n, path, out.Elem(), in)
	}
	switch {
	case t.Kind() == reflect.Struct && nested(t):
		if isNull(n) {
			return true
		}
		if n.Kind != yaml.MappingNode {
			d.wrongKind(n, path, "a mapping (keys and values)")
			return true
		}
		// What a written key of the section is reset to: the section as
		// it was before this node, its defaults.
		base := reflect.New(t).Elem()
		base.Set(out)
		return d.mapping(n, &section{path: path, t: t, parent: in}, out, base)
	case t.Kind() == reflect.Slice && nested(t.Elem()):
		if isNull(n) {
			return true
		}
		if n.Kind != yaml.SequenceNode {
			d.wrongKind(n, path, "a list")
			return true
		}
		out.Set(reflect.MakeSlice(t, len(n.Content), len(n.Content)))
		for i, item := range n.Content {
			if !d.value(item, fmt.Sprintf("%s[%d]", path, i), out.Index(i), in) {
				return false
			}
		}
		return true
	case t.Kind() == reflect.Map && nested(t.Elem()):
		if isNull(n) {
			return true
		}
		if n.Kind != yaml.MappingNode {
			d.wrongKind(n, path, "a mapping (keys and values)")
			return true
		}
		// Entries are decoded over the ones the mapping holds (its
		// defaults), in a copy: the defaults stay as they were for a key
		// written again.
		m := reflect.MakeMap(t)
		for it := out.MapRange(); it.Next(); {
			m.SetMapIndex(it.Key(), it.Value())
		}
		out.Set(m)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if line, dup := seen[k.Value]; dup {
				d.v.addLine(k.Line, join(path, k.Value), "given twice (first at line %d); remove one", line)
				continue
			}
			seen[k.Value] = k.Line
			elem := reflect.New(t.Elem()).Elem()
			if old := out.MapIndex(reflect.ValueOf(k.Value)); old.IsValid() {
				elem.Set(old)
			}
			if !d.value(n.Content[i+1], join(path, k.Value), elem, in) {
				return false
			}
			out.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		return true
	}
	// A leaf: the YAML library decodes it, and its complaint is reported
	// under this path only. Values inside count toward the budget too.
	if d.nodes += countNodes(n, maxNodes) - 1; d.nodes > maxNodes {
		d.v.addAlways(n.Line, "", "more than %d values (aliases and merges counted each time they are used); refusing the file", maxNodes)
		return false
	}
	if err := n.Decode(out.Addr().Interface()); err != nil {
		d.v.broken[path] = true
		said := map[string]bool{} // the same complaint for each item of a list: once
		for _, e := range splitYAMLErrors(err) {
			line := yamlLine(e)
			if line == 0 {
				line = n.Line
			}
			msg := yamlMessage(e, t)
			if k := fmt.Sprint(line, msg); !said[k] {
				said[k] = true
				d.v.addLine(line, path, "%s", msg)
			}
		}
	}
	return true
}

// count spends one node of the budget on n; false once it is spent (the
// problem is reported).
func (d *decoder) count(n *yaml.Node) bool {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.v.addAlways(n.Line, "", "more than %d values (aliases and merges counted each time they are used); refusing the file", maxNodes)
		}
		return false
	}
	return true
}

// mapping decodes the keys of n into the struct out, the section sec,
// reporting unknown and repeated keys. Merged mappings (<<: *anchor)
// come first, the later of a list first, so that the keys written here
// win over merged ones, and earlier merged ones over later, as in YAML:
// a key decoded again replaces what was there, starting again from its
// value in base.
func (d *decoder) mapping(n *yaml.Node, sec *section, out, base reflect.Value) bool {
	if !d.count(n) {
		return false
	}
	keys := d.structKeys(sec.t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].ShortTag() != "!!merge" {
			continue
		}
		sources, ok := mergeSources(n.Content[i+1])
		if !ok {
			d.v.addLine(n.Content[i].Line, sec.path, "a merge (<<) takes a mapping or a list of mappings")
			continue
		}
		for _, m := range slices.Backward(sources) {
			if !d.mapping(m, sec, out, base) {
				return false
			}
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			continue
		}
		if !d.count(k) {
			return false
		}
		if k.Kind != yaml.ScalarNode {
			d.v.addLine(k.Line, sec.path, "a key must be a plain name")
			continue
		}
		field := join(sec.path, k.Value)
		idx := slices.IndexFunc(keys, func(k2 key) bool { return k2.name == k.Value })
		if idx < 0 {
			d.v.broken[field] = true
			d.v.addLine(k.Line, field, "%s", d.unknownKey(k.Value, sec))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.v.addLine(k.Line, field, "given twice (first at line %d); remove one", line)
			continue
		}
		seen[k.Value] = k.Line
		if s := keys[idx].secret; s != "" {
			src := d.v.secretAt(join(sec.path, s))
			f := reflect.ValueOf(&src[keys[idx].source]).Elem()
			f.SetString("") // a merged value is replaced
			if !d.value(val, field, f, sec) {
				return false
			}
			continue
		}
		f := out.FieldByIndex(keys[idx].index)
		f.Set(base.FieldByIndex(keys[idx].index)) // a merged value is replaced, not added to
		if !d.value(val, field, f, sec) {
			return false
		}
	}
	return true
}

// unknownKey says what an unknown key of sec probably is: a misspelled
// key of sec, or a key of the section below or above it, there by a
// wrong indentation.
func (d *decoder) unknownKey(name string, sec *section) string {
	keys := d.structKeys(sec.t)
	if near := nearest(name, keyNames(keys)); near != "" {
		return fmt.Sprintf("unknown key; did you mean %q?", near)
	}
	for _, k := range keys {
		ft := sec.t.FieldByIndex(k.index).Type
		if sub, ok := sectionType(ft); ok && slices.Contains(keyNames(d.structKeys(sub)), name) {
			return fmt.Sprintf("unknown key here; it is a key of %s: check its indentation", join(sec.path, k.name)+itemSuffix(ft))
		}
	}
	if p := sec.parent; p != nil && slices.Contains(keyNames(d.structKeys(p.t)), name) {
		where := p.path
		if where == "" {
			where = "the top level"
		}
		return fmt.Sprintf("unknown key here; it is a key of %s: check its indentation", where)
	}
	return "unknown key (configs/example.yaml lists every key)"
}

// structKeys returns the keys of struct type t in field order, those of
// its inline fields in their place.
func (d *decoder) structKeys(t reflect.Type) []key {
	if k, ok := d.keys[t]; ok {
		return k
	}
	var keys []key
	for f := range t.Fields() {
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case opts == "inline" && f.Type.Kind() == reflect.Struct:
			for _, k := range d.structKeys(f.Type) {
				k.index = append([]int{f.Index[0]}, k.index...)
				keys = append(keys, k)
			}
		case tagged(f, "secret"):
			for src, suffix := range []string{"", "_file", "_env"} {
				keys = append(keys, key{name: name + suffix, index: f.Index, secret: name, source: source(src)})
			}
		case name != "":
			keys = append(keys, key{name: name, index: f.Index})
		}
	}
	d.keys[t] = keys
	return keys
}

// tagged reports whether f's config tag says what (secret, path).
func tagged(f reflect.StructField, what string) bool {
	return f.Tag.Get("config") == what
}

// absPaths makes every setting of v tagged config:"path" (a string or a
// list of them) absolute, relative to dir.
func absPaths(v reflect.Value, dir string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			absPaths(v.Elem(), dir)
		}
	case reflect.Slice:
		for i := range v.Len() {
			absPaths(v.Index(i), dir)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(it.Value().Type()).Elem()
			e.Set(it.Value())
			absPaths(e, dir)
			v.SetMapIndex(it.Key(), e)
		}
	case reflect.Struct:
		if _, ok := sectionType(v.Type()); !ok {
			return
		}
		for f := range v.Type().Fields() {
			fv := v.FieldByIndex(f.Index)
			switch {
			case !f.IsExported():
			case tagged(f, "path") && fv.Kind() == reflect.String:
				fv.SetString(absPath(dir, fv.String()))
			case tagged(f, "path") && fv.Kind() == reflect.Slice:
				for j := range fv.Len() {
					fv.Index(j).SetString(absPath(dir, fv.Index(j).String()))
				}
			default:
				absPaths(fv, dir)
			}
		}
	}
}

func keyNames(keys []key) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}

// wrongKind reports a node that is not the collection wanted.
func (d *decoder) wrongKind(n *yaml.Node, path, want string) {
	d.v.broken[path] = true
	d.v.addLine(n.Line, path, "a %s is not allowed here; want %s", kindName(strings.TrimPrefix(n.ShortTag(), "!!")), want)
}

// nested reports whether values of t are walked key by key: structs,
// pointers to them, lists and mappings of them. Anything else is a leaf.
func nested(t reflect.Type) bool {
	_, ok := sectionType(t)
	return ok
}

// sectionType returns the struct type of a field that holds sections: a
// struct, a pointer to one, a list or a mapping of them. A struct that
// reads itself from text (an address, a time) is a value.
func sectionType(t reflect.Type) (reflect.Type, bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t.PkgPath() != "time" && !readsText(t) {
		return t, true
	}
	return nil, false
}

// readsText reports whether values of t decode themselves from a string
// (encoding.TextUnmarshaler), as enumerations of settings do.
func readsText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// itemSuffix is "[]" for a list of sections and ".NAME" for a mapping of
// them, to name where their keys go.
func itemSuffix(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "[]"
	case reflect.Map:
		return ".NAME"
	}
	return ""
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mergeSources returns the mappings a merge key names: one, or a list;
// ok is false when it names anything else.
func mergeSources(n *yaml.Node) ([]*yaml.Node, bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{n}, true
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			if c.Kind == yaml.AliasNode && c.Alias != nil {
				c = c.Alias
			}
			if c.Kind != yaml.MappingNode {
				return nil, false
			}
			out = append(out, c)
		}
		return out, true
	}
	return nil, false
}

// countNodes counts n and the nodes below it, aliases followed, up to
// limit.
func countNodes(n *yaml.Node, limit int) int {
	count := 0
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if count >= limit {
			return
		}
		count++
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			walk(n.Alias)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return count
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// nearest returns the key of known that key was most probably meant to
// be: the same letters without regard to case, '-' and '_', or within a
// small edit distance (a letter missing, added, changed or two swapped).
// "" when none is near enough.
func nearest(key string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	k := norm(key)
	allowed := 0
	switch {
	case len(k) >= 8:
		allowed = 2
	case len(k) >= 4:
		allowed = 1
	}
	best, bestDist := "", allowed+1
	for _, c := range known {
		dist := editDistance(k, norm(c))
		if dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
