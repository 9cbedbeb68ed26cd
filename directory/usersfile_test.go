package directory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const commented = `# Users of the test VPN.
# Keep this list short.

users:
  # alice runs the VPN.
  alice:
    password: %q # set 2024-01-01
    groups: [vpn-users, admins] # both
  # bob is a contractor.
  bob:
    password: %q
    disabled: false
# end of users
`

func editCommented(t *testing.T) (string, *FileEditor) {
	t.Helper()
	path := writeUsers(t, fmt.Sprintf(commented, ssha("alice-pw"), ssha("bob-pw")))
	ed, err := EditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, ed
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEditKeepsCommentsAndOrder(t *testing.T) {
	path, ed := editCommented(t)
	steps := []struct {
		name string
		do   func() error
	}{
		{"add carol", func() error { return ed.Add("carol", ssha("carol-pw"), []string{"vpn-users"}) }},
		{"add dave", func() error { return ed.Add("dave", cheapArgon2id("dave-pw"), nil) }},
		{"passwd alice", func() error { return ed.SetPassword("alice", ssha("alice-new")) }},
		{"disable bob", func() error { return ed.SetDisabled("bob", true) }},
		{"disable dave", func() error { return ed.SetDisabled("dave", true) }},
		{"enable dave", func() error { return ed.SetDisabled("dave", false) }},
		{"groups of carol", func() error { return ed.SetGroups("carol", []string{"vpn-users", "ops"}) }},
		{"groups of alice", func() error { return ed.SetGroups("alice", []string{"vpn-users"}) }},
		{"save", ed.Save},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	got := readFile(t, path)
	for _, want := range []string{"# Users of the test VPN.\n# Keep this list short.\n", "# alice runs the VPN.", "# set 2024-01-01", "# both", "# bob is a contractor.", "# end of users"} {
		if !strings.Contains(got, want) {
			t.Errorf("the comment %q is gone:\n%s", want, got)
		}
	}
	order := []int{strings.Index(got, "alice:"), strings.Index(got, "bob:"), strings.Index(got, "carol:"), strings.Index(got, "dave:")}
	if !slices.IsSorted(order) || order[0] < 0 {
		t.Errorf("users out of order (%v):\n%s", order, got)
	}

	f, err := OpenFile(path)
	if err != nil {
		t.Fatalf("the edited file is refused: %v\n%s", err, got)
	}
	tests := []struct {
		user, pw string
		want     Status
		groups   []string
	}{
		{"alice", "alice-new", OK, []string{"vpn-users"}},
		{"alice", "alice-pw", BadPassword, nil},
		{"bob", "bob-pw", Disabled, nil},
		{"carol", "carol-pw", OK, []string{"vpn-users", "ops"}},
		{"dave", "dave-pw", OK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pw, func(t *testing.T) {
			r, err := f.Authenticate(context.Background(), tt.user, tt.pw)
			if err != nil || r.Status != tt.want || !slices.Equal(r.User.Groups, tt.groups) {
				t.Errorf("got %+v, %v, want %v %v", r, err, tt.want, tt.groups)
			}
		})
	}
}

func TestEditDelete(t *testing.T) {
	path, ed := editCommented(t)
	if err := ed.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	for _, gone := range []string{"alice", "# alice runs the VPN."} {
		if strings.Contains(got, gone) {
			t.Errorf("%q still in the file:\n%s", gone, got)
		}
	}
	for _, kept := range []string{"# Users of the test VPN.", "# bob is a contractor.", "bob:"} {
		if !strings.Contains(got, kept) {
			t.Errorf("%q is gone:\n%s", kept, got)
		}
	}
	if users := ed.Users(); len(users) != 1 || users[0].Name != "bob" {
		t.Errorf("Users: got %+v, want bob", users)
	}
}

func TestEditRefuses(t *testing.T) {
	_, ed := editCommented(t)
	tests := []struct {
		name string
		do   func() error
		want error  // a sentinel, or nil for any error
		text string // in the message
	}{
		{"add a duplicate", func() error { return ed.Add("alice", ssha("x"), nil) }, ErrUserExists, `"alice"`},
		{"add an empty name", func() error { return ed.Add("", ssha("x"), nil) }, nil, "empty user name"},
		{"add a name with a newline", func() error { return ed.Add("a\nb", ssha("x"), nil) }, nil, "control character"},
		{"add a plain password", func() error { return ed.Add("zed", "plain-pw", nil) }, nil, "not a supported password hash"},
		{"add a bad group", func() error { return ed.Add("zed", ssha("x"), []string{"a,b"}) }, nil, "comma"},
		{"add a group twice", func() error { return ed.Add("zed", ssha("x"), []string{"a", "a"}) }, nil, "listed twice"},
		{"passwd a missing user", func() error { return ed.SetPassword("zed", ssha("x")) }, ErrNoSuchUser, `"zed"`},
		{"passwd with a bad hash", func() error { return ed.SetPassword("alice", "{SSHA512}AAAA") }, nil, "bad ssha512 hash"},
		{"disable a missing user", func() error { return ed.SetDisabled("zed", true) }, ErrNoSuchUser, ""},
		{"groups of a missing user", func() error { return ed.SetGroups("zed", nil) }, ErrNoSuchUser, ""},
		{"bad groups", func() error { return ed.SetGroups("alice", []string{" x"}) }, nil, "space"},
		{"delete a missing user", func() error { return ed.Delete("zed") }, ErrNoSuchUser, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("got %q, want it to mention %q", err, tt.text)
			}
		})
	}
	if got := len(ed.Users()); got != 2 {
		t.Errorf("users after refused edits: got %d, want 2", got)
	}
}

func TestEditNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	ed, err := EditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ed.Exists() {
		t.Error("Exists: got true for a missing file")
	}
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unchanged new file was written: %v", err)
	}
	if err := ed.Add("alice", ssha("pw"), []string{"vpn-users"}); err != nil {
		t.Fatal(err)
	}
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %v, want 0600", got)
	}
	got := readFile(t, path)
	if !strings.HasPrefix(got, usersHeader+"\n") {
		t.Errorf("got:\n%s\nwant the header comment first", got)
	}
	if !ed.Exists() {
		t.Error("Exists: got false after Save")
	}
	// A second edit through the same editor works on what it wrote.
	if err := ed.SetDisabled("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Authenticate(context.Background(), "alice", "pw"); r.Status != Disabled {
		t.Errorf("got %v, want disabled", r.Status)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v, want only users.yaml", entries)
	}
}

func TestEditEmptyUsers(t *testing.T) {
	tests := []struct{ name, content string }{
		{"users: {}", "users: {}\n"},
		{"users: null", "# comment\nusers:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeUsers(t, tt.content)
			ed, err := EditFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := ed.Add("alice", ssha("pw"), nil); err != nil {
				t.Fatal(err)
			}
			if err := ed.Save(); err != nil {
				t.Fatal(err)
			}
			got := readFile(t, path)
			if strings.Contains(got, "users: {") || strings.Contains(got, "alice: {") {
				t.Errorf("got a flow mapping, want a block:\n%s", got)
			}
			if _, err := OpenFile(path); err != nil {
				t.Errorf("%v\n%s", err, got)
			}
		})
	}
}

func TestEditKeepsMode(t *testing.T) {
	path := writeUsers(t, "users: {}\n")
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	ed, err := EditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ed.Add("alice", ssha("pw"), nil)
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if got := info.Mode().Perm(); got != 0o640 {
		t.Errorf("got %v, want 0640", got)
	}
}

func TestEditFollowsSymlink(t *testing.T) {
	target := writeUsers(t, "users: {}\n")
	link := filepath.Join(t.TempDir(), "link.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
	ed, err := EditFile(link)
	if err != nil {
		t.Fatal(err)
	}
	ed.Add("alice", ssha("pw"), nil)
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", info, err)
	}
	if !strings.Contains(readFile(t, target), "alice") {
		t.Error("the target was not changed")
	}
}

func TestSaveRefusesAConcurrentChange(t *testing.T) {
	path, ed := editCommented(t)
	ed.Add("carol", ssha("pw"), nil)
	// Someone else's change lands between read and write.
	other, _ := EditFile(path)
	other.Add("dave", ssha("pw"), nil)
	if err := other.Save(); err != nil {
		t.Fatal(err)
	}
	if err := ed.Save(); !errors.Is(err, ErrFileChanged) {
		t.Fatalf("got %v, want ErrFileChanged", err)
	}
	if got := readFile(t, path); !strings.Contains(got, "dave") || strings.Contains(got, "carol") {
		t.Errorf("got:\n%s\nwant dave's change kept and carol not written", got)
	}
}

// TestSaveMendsOneEditAtATime: a file with problems can be edited (each
// edit may fix one), and Check lists what is left.
func TestSaveMendsOneEditAtATime(t *testing.T) {
	path := writeUsers(t, fmt.Sprintf("users:\n  alice:\n    password: %q\n    groups: vpn\n  bob:\n    groups: [a]\n", ssha("pw")))
	ed, err := EditFile(path)
	if err != nil {
		t.Fatal(err)
	}
	err = ed.Check()
	if err == nil || !strings.Contains(err.Error(), "users.yaml:4: users.alice.groups") || !strings.Contains(err.Error(), "users.yaml:5: users.bob: no password") {
		t.Fatalf("Check: got %v, want both problems with their lines", err)
	}
	if !ed.Has("bob") {
		t.Fatal("Has(bob): got false, want true for a user with problems")
	}
	if err := ed.SetPassword("bob", ssha("bob-pw")); err != nil {
		t.Fatal(err)
	}
	if err := ed.Save(); err != nil {
		t.Fatalf("an edit that mends one problem: got %v, want it written", err)
	}
	if err := ed.Check(); err == nil || strings.Contains(err.Error(), "bob") || !strings.Contains(err.Error(), "users.alice.groups") {
		t.Errorf("Check after mending bob: got %v, want only alice's groups", err)
	}
	if err := ed.SetGroups("alice", []string{"vpn"}); err != nil {
		t.Fatal(err)
	}
	if err := ed.Check(); err != nil {
		t.Errorf("Check before Save: got %v, want nil", err)
	}
	if err := ed.Save(); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := f.Authenticate(context.Background(), "bob", "bob-pw"); r.Status != OK || !slices.Equal(r.User.Groups, []string{"a"}) {
		t.Errorf("bob: got %+v, want ok with groups [a]", r)
	}
}

// TestSaveRefusesNewProblems: an edit never writes a problem the file did
// not have. The public methods validate their input, so the tree is
// broken by hand here.
func TestSaveRefusesNewProblems(t *testing.T) {
	path, ed := editCommented(t)
	before := readFile(t, path)
	ed.changed = true
	ed.doc.users.Content = append(ed.doc.users.Content, strNode("mallory"), strNode("plain-password"))
	err := ed.Save()
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "users.mallory: want a mapping") {
		t.Fatalf("got %v, want mallory's problem", err)
	}
	if fe.Problems[0].Line != 0 {
		t.Errorf("line: got %d, want 0 (the problem is in no file)", fe.Problems[0].Line)
	}
	if after := readFile(t, path); after != before {
		t.Errorf("the file changed:\n%s", after)
	}
}

func TestEditFileRefusesUnreadable(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"YAML syntax", "users: [\n", "YAML"},
		{"not a mapping", "- a\n", "want a mapping"},
		{"users a list", "users: [a]\n", "want a mapping of user names"},
		{"empty", "", "the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EditFile(writeUsers(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	_, ed := editCommented(t)
	ed.Add("carol", cheapArgon2id("pw"), nil)
	ed.SetDisabled("bob", true)
	got := ed.Users()
	want := []UserInfo{
		{Name: "alice", Groups: []string{"vpn-users", "admins"}, Scheme: SSHA512},
		{Name: "bob", Disabled: true, Scheme: SSHA512},
		{Name: "carol", Scheme: Argon2id},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Disabled != want[i].Disabled || got[i].Scheme != want[i].Scheme || !slices.Equal(got[i].Groups, want[i].Groups) {
			t.Errorf("user %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
