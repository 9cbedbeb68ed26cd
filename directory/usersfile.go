package directory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Sentinel errors of FileEditor, for callers that explain what to do.
var (
	// ErrUserExists: Add was given a name already in the file.
	ErrUserExists = errors.New("user already exists")
	// ErrNoSuchUser: the user to change is not in the file.
	ErrNoSuchUser = errors.New("no such user")
	// ErrFileChanged: the file was changed by someone else between
	// EditFile and Save; nothing was written.
	ErrFileChanged = errors.New("users file changed since it was read")
)

// newFileMode is the mode of a users file that did not exist: it holds
// password hashes, which are worth guessing at.
const newFileMode fs.FileMode = 0o600

// FileEditor changes a users file keeping its comments and the order of its
// users, for twostepctl. Changes are made in memory and written by Save, to
// a temporary file renamed over the old one, so a reader (twostepd's Watch)
// sees the old file or the new one, never half of one.
type FileEditor struct {
	path     string // the file written: path with symbolic links resolved
	name     string // path as given, for messages
	doc      *usersDoc
	stamp    fileStamp // of the file read; zero when it did not exist
	problems []Problem // of the file read
	exists   bool
	changed  bool
}

// UserInfo is what `twostepctl user list` shows of a user: never the hash.
type UserInfo struct {
	// Name is the user name as stored.
	Name string
	// Groups as listed in the file.
	Groups []string
	// Disabled accounts cannot log in.
	Disabled bool
	// Scheme of the stored password hash.
	Scheme Scheme
}

// EditFile reads the users file at path for editing. A file that does not
// exist reads as one without users and is created by Save. A file whose
// YAML cannot be read, or that is not a users: mapping, is refused; other
// problems are reported by Save if the edit does not mend them.
func EditFile(path string) (*FileEditor, error) {
	e := &FileEditor{path: path, name: path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		e.path = real // edit the target, not replace the link with a file
	}
	stamp, err := statFile(e.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		e.doc = newUsersDoc()
		return e, nil
	case err != nil:
		return nil, fmt.Errorf("directory: %w", err)
	}
	data, err := os.ReadFile(e.path)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	doc, problems := parseUsers(data)
	if doc == nil || doc.users == nil || !(doc.users.Kind == yaml.MappingNode || isNull(doc.users)) {
		return nil, &FileError{Path: path, Problems: problems}
	}
	e.doc, e.stamp, e.problems, e.exists = doc, stamp, problems, true
	return e, nil
}

func newUsersDoc() *usersDoc {
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "users", HeadComment: usersHeader}
	users := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	top := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, users}}
	return &usersDoc{root: &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{top}}, users: users}
}

// Users lists the users in file order. Users with problems in the file are
// left out; Save, OpenFile and `twostepd -check` report them.
func (e *FileEditor) Users() []UserInfo {
	var out []UserInfo
	for _, u := range e.doc.list {
		out = append(out, UserInfo{Name: u.name, Groups: slices.Clone(u.groups), Disabled: u.disabled, Scheme: u.hash.scheme()})
	}
	return out
}

// Add adds a user with a password hash (from HashPassword) and groups.
func (e *FileEditor) Add(name, hash string, groups []string) error {
	if err := validUsername(name); err != nil {
		return fmt.Errorf("directory: add user: %w", err)
	}
	if e.Has(name) {
		return fmt.Errorf("directory: add user %q: %w", name, ErrUserExists)
	}
	h, err := parseHash(hash)
	if err != nil {
		return fmt.Errorf("directory: add user %q: %w", name, err)
	}
	if err := validGroups(groups); err != nil {
		return fmt.Errorf("directory: add user %q: %w", name, err)
	}
	user := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{strNode("password"), hashNode(hash)}}
	if len(groups) > 0 {
		user.Content = append(user.Content, strNode("groups"), groupsNode(groups))
	}
	users := e.doc.users
	if isNull(users) {
		// "users:" with nothing after it: keep the node, comments and all.
		*users = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: users.Line, Column: users.Column,
			HeadComment: users.HeadComment, LineComment: users.LineComment, FootComment: users.FootComment}
	}
	users.Style &^= yaml.FlowStyle // "users: {}" grows into a block
	users.Content = append(users.Content, strNode(name), user)
	e.doc.list = append(e.doc.list, &userEntry{name: name, hash: h, groups: slices.Clone(groups), key: users.Content[len(users.Content)-2], value: user})
	e.changed = true
	return nil
}

// SetPassword replaces a user's password hash (from HashPassword).
func (e *FileEditor) SetPassword(name, hash string) error {
	u, err := e.user("set password", name)
	if err != nil {
		return err
	}
	h, err := parseHash(hash)
	if err != nil {
		return fmt.Errorf("directory: set password of %q: %w", name, err)
	}
	e.set(u, "password", hashNode(hash))
	u.hash = h
	return nil
}

// SetDisabled disables or enables a user.
func (e *FileEditor) SetDisabled(name string, disabled bool) error {
	u, err := e.user("set disabled", name)
	if err != nil {
		return err
	}
	if !disabled && u.field("disabled") == nil {
		return nil // enabled already, and nothing to write
	}
	e.set(u, "disabled", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(disabled)})
	u.disabled = disabled
	return nil
}

// SetGroups replaces a user's groups; none clears them.
func (e *FileEditor) SetGroups(name string, groups []string) error {
	u, err := e.user("set groups", name)
	if err != nil {
		return err
	}
	if err := validGroups(groups); err != nil {
		return fmt.Errorf("directory: set groups of %q: %w", name, err)
	}
	e.set(u, "groups", groupsNode(groups))
	u.groups = slices.Clone(groups)
	return nil
}

// Delete removes a user and the comments attached to it.
func (e *FileEditor) Delete(name string) error {
	u, err := e.user("delete user", name)
	if err != nil {
		return err
	}
	c := e.doc.users.Content
	for i := 0; i+1 < len(c); i += 2 {
		if c[i] == u.key {
			e.doc.users.Content = slices.Delete(c, i, i+2)
			break
		}
	}
	e.doc.list = slices.DeleteFunc(e.doc.list, func(x *userEntry) bool { return x == u })
	e.changed = true
	return nil
}

// Save writes the edited file if anything changed. It refuses, with a
// *FileError, a result with a problem the file as read did not have: an
// edit never breaks a file twostepd accepts, and a file that already had
// problems can still be mended one edit at a time (Check lists what is
// left). It refuses with ErrFileChanged when the file changed since
// EditFile, so that two admins do not undo each other's work.
func (e *FileEditor) Save() error {
	if !e.changed {
		return nil
	}
	data, err := encodeUsers(e.doc.root)
	if err != nil {
		return fmt.Errorf("directory: encode %s: %w", e.name, err)
	}
	_, problems := parseUsers(data)
	if added := e.newProblems(problems); len(added) > 0 {
		return &FileError{Path: e.name, Problems: added}
	}
	now, err := statFile(e.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !e.exists:
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory: %w", err)
	case !e.exists || err != nil || !now.same(e.stamp):
		return fmt.Errorf("directory: %s: %w; run the command again", e.name, ErrFileChanged)
	}
	mode, owner := newFileMode, fileOwner{}
	if e.exists {
		mode, owner = now.info.Mode().Perm(), ownerOf(now.info)
	}
	if err := writeAtomic(e.path, data, mode, owner); err != nil {
		return fmt.Errorf("directory: write %s: %w", e.name, err)
	}
	e.changed, e.problems = false, problems // lines of the file just written
	if e.stamp, err = statFile(e.path); err == nil {
		e.exists = true
	}
	return nil
}

// Check reports the problems twostepd would find in the file as edited so
// far: nil, or a *FileError listing each. Lines are those of the file as
// last read or written; a problem the edit brought has none.
func (e *FileEditor) Check() error {
	problems := e.problems
	if e.changed {
		data, err := encodeUsers(e.doc.root)
		if err != nil {
			return fmt.Errorf("directory: encode %s: %w", e.name, err)
		}
		_, problems = parseUsers(data)
		for i, p := range problems {
			problems[i].Line = 0
			if old, ok := e.sameProblem(p); ok {
				problems[i].Line = old.Line
			}
		}
	}
	if len(problems) > 0 {
		return &FileError{Path: e.name, Problems: problems}
	}
	return nil
}

// newProblems returns the problems of an edited tree that the file did not
// have, without lines: they are in no file yet.
func (e *FileEditor) newProblems(problems []Problem) []Problem {
	var added []Problem
	for _, p := range problems {
		if _, ok := e.sameProblem(p); !ok {
			added = append(added, Problem{Field: p.Field, Message: p.Message})
		}
	}
	return added
}

// sameProblem finds p among the problems of the file as read. Lines differ
// once the file is edited; the field and the message do not.
func (e *FileEditor) sameProblem(p Problem) (Problem, bool) {
	for _, old := range e.problems {
		if old.Field == p.Field && old.Message == p.Message {
			return old, true
		}
	}
	return Problem{}, false
}

// Exists reports whether the file existed when EditFile read it, or has
// been written by Save since.
func (e *FileEditor) Exists() bool { return e.exists }

// Has reports whether the file has a user called name, with or without
// problems.
func (e *FileEditor) Has(name string) bool {
	_, v := e.find(name)
	return v != nil
}

// encodeUsers writes the tree back as YAML, indented by two like the
// files people write.
func encodeUsers(root *yaml.Node) ([]byte, error) {
	spellFlowNulls(root, false)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// spellFlowNulls writes "null" for the empty nulls of flow collections
// ({groups: }), which the YAML encoder would turn into an empty string.
func spellFlowNulls(n *yaml.Node, inFlow bool) {
	if inFlow && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" {
		n.Value = "null"
	}
	inFlow = inFlow || n.Style&yaml.FlowStyle != 0
	for _, c := range n.Content {
		spellFlowNulls(c, inFlow)
	}
}

// find returns the user called name: its entry when it has no problems,
// and its value node in the tree either way.
func (e *FileEditor) find(name string) (*userEntry, *yaml.Node) {
	for _, u := range e.doc.list {
		if u.name == name {
			return u, u.value
		}
	}
	users := e.doc.users
	for i := 0; users.Kind == yaml.MappingNode && i+1 < len(users.Content); i += 2 {
		if users.Content[i].Value == name {
			return nil, users.Content[i+1]
		}
	}
	return nil, nil
}

// user returns the user to change. A user with problems is not in the list
// but is still in the tree, and the change may mend it.
func (e *FileEditor) user(op, name string) (*userEntry, error) {
	u, v := e.find(name)
	if u != nil {
		return u, nil
	}
	if v != nil && isNull(v) { // "bob:" with nothing: a mapping to set fields in
		*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: v.Line, Column: v.Column, LineComment: v.LineComment}
	}
	if v != nil && v.Kind == yaml.MappingNode {
		users := e.doc.users
		for i := 0; i+1 < len(users.Content); i += 2 {
			if users.Content[i+1] == v {
				return &userEntry{name: name, key: users.Content[i], value: v}, nil
			}
		}
	}
	return nil, fmt.Errorf("directory: %s %q: %w", op, name, ErrNoSuchUser)
}

// set replaces the value of key in u's mapping, keeping the comments on
// the old value, or appends key when absent.
func (e *FileEditor) set(u *userEntry, key string, v *yaml.Node) {
	e.changed = true
	if old := u.field(key); old != nil {
		v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
		*old = *v
		return
	}
	u.value.Content = append(u.value.Content, strNode(key), v)
}

func validGroups(groups []string) error {
	for i, g := range groups {
		if err := validGroup(g); err != nil {
			return err
		}
		if slices.Contains(groups[:i], g) {
			return fmt.Errorf("group %q listed twice", g)
		}
	}
	return nil
}

func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// hashNode quotes the hash: {SSHA…} would otherwise read as a YAML mapping.
func hashNode(hash string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: hash, Style: yaml.DoubleQuotedStyle}
}

func groupsNode(groups []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, g := range groups {
		n.Content = append(n.Content, strNode(g))
	}
	return n
}
