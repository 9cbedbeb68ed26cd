package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"twostep/directory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ctl runs twostepctl in-process with stdin as the piped input.
func ctl(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustCtl runs twostepctl and fails the test on an error.
func mustCtl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := ctl(t, stdin, args...)
	if err != nil {
		t.Fatalf("twostepctl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

const seedFile = `# Users of the test VPN.
users:
  # alice runs it.
  alice:
    password: "{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA==" # secret
    groups: [vpn-users]
`

func seedUsers(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(seedFile), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// login checks a password the way twostepd does.
func login(t *testing.T, path, user, pw string) directory.Result {
	t.Helper()
	f, err := directory.OpenFile(path)
	if err != nil {
		t.Fatalf("twostepd would refuse the file: %v", err)
	}
	r, err := f.Authenticate(context.Background(), user, pw)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestUserLifecycle runs the commands an admin runs, in order, on one file.
func TestUserLifecycle(t *testing.T) {
	path := seedUsers(t)
	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantOut []string
		check   func(t *testing.T)
	}{
		{"add", "bob-password\n", []string{"user", "add", "-users", path, "-groups", "vpn-users, ops", "bob"},
			[]string{`added user "bob" (argon2id, groups: vpn-users,ops)`, "within a few seconds"},
			func(t *testing.T) {
				r := login(t, path, "bob", "bob-password")
				if r.Status != directory.OK || !slices.Equal(r.User.Groups, []string{"vpn-users", "ops"}) {
					t.Errorf("got %+v, want ok with [vpn-users ops]", r)
				}
			}},
		{"add with flags after the name and a fast scheme", "carol pw with spaces\r\n", []string{"user", "add", "carol", "-users", path, "-scheme", "ssha512"},
			[]string{`added user "carol" (ssha512, groups: none)`},
			func(t *testing.T) {
				if r := login(t, path, "carol", "carol pw with spaces"); r.Status != directory.OK {
					t.Errorf("got %v, want ok", r.Status)
				}
			}},
		{"passwd", "new-secret\n", []string{"user", "passwd", "-users", path, "alice"},
			[]string{`set the password of "alice" (argon2id)`},
			func(t *testing.T) {
				if r := login(t, path, "alice", "new-secret"); r.Status != directory.OK {
					t.Errorf("new password: got %v, want ok", r.Status)
				}
				if r := login(t, path, "alice", "secret"); r.Status != directory.BadPassword {
					t.Errorf("old password: got %v, want bad_password", r.Status)
				}
			}},
		{"disable", "", []string{"user", "disable", "-users", path, "bob"},
			[]string{`disabled user "bob"`},
			func(t *testing.T) {
				if r := login(t, path, "bob", "bob-password"); r.Status != directory.Disabled {
					t.Errorf("got %v, want disabled", r.Status)
				}
			}},
		{"disable again", "", []string{"user", "disable", "-users", path, "bob"}, []string{`user "bob" is already disabled`}, nil},
		{"groups", "", []string{"user", "groups", "-users", path, "-groups", "admins", "alice"},
			[]string{`set the groups of "alice" to admins`},
			func(t *testing.T) {
				if r := login(t, path, "alice", "new-secret"); !slices.Equal(r.User.Groups, []string{"admins"}) {
					t.Errorf("got %v, want [admins]", r.User.Groups)
				}
			}},
		{"list", "", []string{"user", "list", "-users", path},
			[]string{"USER   STATUS    SCHEME    GROUPS\nalice  enabled   argon2id  admins\nbob    disabled  argon2id  vpn-users,ops\ncarol  enabled   ssha512   none\n"}, nil},
		{"enable", "", []string{"user", "enable", "-users", path, "bob"},
			[]string{`enabled user "bob"`},
			func(t *testing.T) {
				if r := login(t, path, "bob", "bob-password"); r.Status != directory.OK {
					t.Errorf("got %v, want ok", r.Status)
				}
			}},
		{"delete", "", []string{"user", "delete", "-users", path, "carol"},
			[]string{`deleted user "carol"`},
			func(t *testing.T) {
				if r := login(t, path, "carol", "carol pw with spaces"); r.Status != directory.UnknownUser {
					t.Errorf("got %v, want unknown_user", r.Status)
				}
			}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out := mustCtl(t, s.stdin, s.args...)
			for _, want := range s.wantOut {
				if !strings.Contains(out, want) {
					t.Errorf("got:\n%s\nwant it to contain:\n%s", out, want)
				}
			}
			if s.check != nil {
				s.check(t)
			}
		})
	}
	b, _ := os.ReadFile(path)
	for _, comment := range []string{"# Users of the test VPN.", "# alice runs it.", "# secret"} {
		if !bytes.Contains(b, []byte(comment)) {
			t.Errorf("the comment %q is gone:\n%s", comment, b)
		}
	}
}

func TestUserListJSON(t *testing.T) {
	path := seedUsers(t)
	mustCtl(t, "pw\n", "user", "add", "-users", path, "-scheme", "ssha256", "bob")
	mustCtl(t, "", "user", "disable", "-users", path, "bob")
	out := mustCtl(t, "", "user", "list", "-json", "-users", path)
	var got []listedUser
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := []listedUser{
		{Name: "alice", Groups: []string{"vpn-users"}, Scheme: "ssha256"},
		{Name: "bob", Groups: []string{}, Disabled: true, Scheme: "ssha256"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !strings.Contains(out, `"groups": []`) {
		t.Errorf("got:\n%s\nwant [] for no groups, not null", out)
	}
	if strings.Contains(out, "SSHA") || strings.Contains(out, "password") {
		t.Errorf("the list shows a hash:\n%s", out)
	}
}

// TestPipedStdinFile reads the password from a pipe that is an *os.File,
// as `echo pw | twostepctl user add` gives it.
func TestPipedStdinFile(t *testing.T) {
	path := seedUsers(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("piped-pw\nignored second line\n")
	w.Close()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"user", "add", "-users", path, "-scheme", "ssha512", "dave"}, r, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if res := login(t, path, "dave", "piped-pw"); res.Status != directory.OK {
		t.Errorf("got %v, want ok", res.Status)
	}
}

func TestNewUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.yaml")
	mustCtl(t, "pw\n", "user", "add", "-users", path, "-scheme", "ssha512", "alice")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Errorf("mode: got %v, want 0600", got)
	}
	if r := login(t, path, "alice", "pw"); r.Status != directory.OK {
		t.Errorf("got %v, want ok", r.Status)
	}
}

func TestErrors(t *testing.T) {
	path := seedUsers(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate add", "pw\n", []string{"user", "add", "-users", path, "alice"},
			`user "alice" already exists in ` + path + "; change its password with `twostepctl user passwd -users " + path + " alice`"},
		{"bad scheme", "pw\n", []string{"user", "add", "-users", path, "-scheme", "md5", "bob"}, `unknown password scheme "md5"; known: argon2id (default), bcrypt, ssha256, ssha512`},
		{"empty password", "\n", []string{"user", "add", "-users", path, "bob"}, "empty password refused"},
		{"no password at all", "", []string{"user", "add", "-users", path, "bob"}, "empty password refused"},
		{"password too long for RADIUS", strings.Repeat("p", 129) + "\n", []string{"user", "add", "-users", path, "-scheme", "ssha512", "bob"}, "password of 129 bytes refused: RADIUS carries at most 128"},
		{"password much too long", strings.Repeat("p", 5000), []string{"user", "add", "-users", path, "bob"}, "password longer than 128 bytes refused"},
		{"bcrypt over 72 bytes", strings.Repeat("p", 73) + "\n", []string{"user", "add", "-users", path, "-scheme", "bcrypt", "bob"}, "bcrypt reads at most 72 bytes"},
		{"bad user name", "pw\n", []string{"user", "add", "-users", path, "-scheme", "ssha512", " bob"}, "starts or ends with a space"},
		{"bad group", "pw\n", []string{"user", "add", "-users", path, "-scheme", "ssha512", "-groups", " ,x\ty", "bob"}, "control character"},
		{"passwd of a missing user", "pw\n", []string{"user", "passwd", "-users", path, "bob"},
			`user "bob" does not exist in ` + path + "; list users with `twostepctl user list -users " + path + "`"},
		{"delete a missing user", "", []string{"user", "delete", "-users", path, "bob"}, `user "bob" does not exist`},
		{"disable a missing user", "", []string{"user", "disable", "-users", path, "bob"}, `user "bob" does not exist`},
		{"groups without -groups", "", []string{"user", "groups", "-users", path, "alice"}, "-groups is required"},
		{"no users file", "pw\n", []string{"user", "add", "bob"}, "no users file: pass -users FILE"},
		{"list a missing file", "", []string{"user", "list", "-users", path + ".nope"}, "does not exist; create it with `twostepctl user add"},
		{"two names", "pw\n", []string{"user", "add", "-users", path, "bob", "carol"}, "want one USER, got 2 arguments; see `twostepctl user add -h`"},
		{"no name", "pw\n", []string{"user", "add", "-users", path}, "want one USER, got 0"},
		{"unknown flag", "", []string{"user", "add", "-colour", "red", "bob"}, "flag provided but not defined: -colour; see `twostepctl user add -h`"},
		{"unknown user command", "", []string{"user", "rename", "bob"}, `unknown user command "rename"`},
		{"unknown command", "", []string{"frobnicate"}, `unknown command "frobnicate"; see ` + "`twostepctl help`"},
		{"no command", "", nil, "no command given"},
		{"user without a command", "", []string{"user"}, "no user command given"},
		{"a broken users file", "pw\n", []string{"user", "add", "-users", writeBroken(t), "bob"}, "users: want a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(path)
			_, _, err := ctl(t, tt.stdin, tt.args...)
			if err == nil {
				t.Fatalf("got nil, want an error with %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("the users file changed:\n%s", after)
			}
		})
	}
}

// TestBrokenFile: a file twostepd refuses is listed with an error and can
// be mended one command at a time.
func TestBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	content := "users:\n  alice:\n    password: \"{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA==\"\n    groups: vpn\n  bob:\n    password: plain-text\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantErr []string // empty: success
	}{
		{"list", "", []string{"user", "list", "-users", path},
			[]string{"users with problems are not listed", "users.yaml:4: users.alice.groups", "users.yaml:6: users.bob.password"}},
		{"passwd bob", "pw\n", []string{"user", "passwd", "-users", path, "-scheme", "ssha512", "bob"},
			[]string{"the change was written, but twostepd refuses the file", "users.yaml:4: users.alice.groups"}},
		{"groups of alice", "", []string{"user", "groups", "-users", path, "-groups", "vpn", "alice"}, nil},
		{"list again", "", []string{"user", "list", "-users", path}, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, _, err := ctl(t, s.stdin, s.args...)
			if len(s.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got nil (output %q), want an error", out)
			}
			for _, want := range s.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "plain-text") {
				t.Errorf("the error echoes the password: %v", err)
			}
		})
	}
	if r := login(t, path, "bob", "pw"); r.Status != directory.OK {
		t.Errorf("bob: got %v, want ok", r.Status)
	}
}

func writeBroken(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(path, []byte("users: [alice]\n"), 0o600)
	return path
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"help", []string{"help"}, []string{"Usage: twostepctl [-version] COMMAND", "user add", "Examples:", "-version"}},
		{"-h", []string{"-h"}, []string{"Usage: twostepctl [-version] COMMAND"}},
		{"--help", []string{"--help"}, []string{"Usage: twostepctl [-version] COMMAND"}},
		{"user -h", []string{"user", "-h"}, []string{"Usage: twostepctl user COMMAND", "passwd"}},
		{"help user", []string{"help", "user"}, []string{"Usage: twostepctl user COMMAND"}},
		{"user add -h", []string{"user", "add", "-h"}, []string{"Usage: twostepctl user add", "Examples:", "echo 'the-password' | twostepctl user add", "-scheme scheme", "-groups groups", "-users file"}},
		{"help user add", []string{"help", "user", "add"}, []string{"Usage: twostepctl user add"}},
		{"user passwd --help", []string{"user", "passwd", "--help"}, []string{"Usage: twostepctl user passwd", "Examples:"}},
		{"user disable -h", []string{"user", "disable", "-h"}, []string{"Usage: twostepctl user disable|enable", "Examples:"}},
		{"user enable -h", []string{"user", "enable", "-h"}, []string{"Usage: twostepctl user disable|enable"}},
		{"user groups -h", []string{"user", "groups", "-h"}, []string{"Usage: twostepctl user groups", "Examples:"}},
		{"user delete -h", []string{"user", "delete", "-h"}, []string{"Usage: twostepctl user delete", "Example:"}},
		{"user list -h", []string{"user", "list", "-h"}, []string{"Usage: twostepctl user list", "-json", "Examples:"}},
		{"-h after the name", []string{"user", "add", "alice", "-h"}, []string{"Usage: twostepctl user add"}},
		{"doctor -h", []string{"doctor", "-h"}, []string{"Usage: twostepctl doctor", "cluster.isolation", "status  \"ok\", \"warn\" or \"FAIL\"", "-json", "-timeout duration", "-user user"}},
		{"help lists doctor", []string{"help"}, []string{"doctor           check the configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := ctl(t, "", tt.args...)
			if err != nil {
				t.Fatalf("got %v, want nil (help is not a failure)", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("got:\n%s\nwant it to contain %q", out, want)
				}
			}
			if errOut != "" {
				t.Errorf("stderr: got %q, want nothing", errOut)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"-version"}, {"version"}} {
		t.Run(args[0], func(t *testing.T) {
			if got := mustCtl(t, "", args...); got != "twostepctl dev\n" {
				t.Errorf("got %q, want %q", got, "twostepctl dev\n")
			}
		})
	}
}

func TestSplitGroups(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{" a , b ,", []string{"a", "b"}},
		{"VPN Users,admins", []string{"VPN Users", "admins"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := splitGroups(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
