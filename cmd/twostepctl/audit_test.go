package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"twostep/cluster"
	"twostep/cluster/etcdtest"
	"twostep/directory"
)

// adminActor is how an admin running twostepctl is named: "twostepctl
// OSUSER@HOST", nothing more.
var adminActor = regexp.MustCompile(`^twostepctl [^\s@]+@\S+$`)

// ctlIn runs twostepctl with stdin and env over the process's environment.
func ctlIn(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(stdin), &out, &errOut)
	c.getenv = func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	err = c.exec(context.Background(), args)
	return out.String(), errOut.String(), err
}

// TestAuditEveryCommand runs every command that changes something and
// finds its event in `audit -json`: the action, the admin as the actor,
// the user and what changed, and never a code, seed or password.
func TestAuditEveryCommand(t *testing.T) {
	d := newTokenDesk(t)
	passwords := []string{"carol-first-password", "carol-second-password"}
	csv := d.write(t, "tokens.csv", tokensCSV())
	recovery := ""
	steps := []struct {
		name   string
		stdin  string
		env    map[string]string
		args   []string // "{recovery}" is the passcode recovery issue printed
		action string
		user   string
		detail []string
		// after reads what a later step needs from the output.
		after func(t *testing.T, out string)
	}{
		{name: "user add", stdin: passwords[0] + "\n", args: []string{"user", "add", "-scheme", "ssha256", "-groups", "vpn-users", "carol"},
			action: "user.add", user: "carol", detail: []string{"users.yaml, scheme ssha256, groups vpn-users"}},
		{name: "user passwd", stdin: passwords[1] + "\n", args: []string{"user", "passwd", "-scheme", "ssha512", "carol"},
			action: "user.passwd", user: "carol", detail: []string{"users.yaml, scheme ssha512"}},
		{name: "user disable", args: []string{"user", "disable", "carol"}, action: "user.disable", user: "carol", detail: []string{"in /", "users.yaml"}},
		{name: "user enable", args: []string{"user", "enable", "carol"}, action: "user.enable", user: "carol", detail: []string{"in /", "users.yaml"}},
		{name: "user groups", args: []string{"user", "groups", "-groups", "ops,admins", "carol"}, action: "user.groups", user: "carol", detail: []string{"users.yaml, groups ops,admins"}},
		{name: "user delete", args: []string{"user", "delete", "carol"}, action: "user.delete", user: "carol", detail: []string{"from /", "users.yaml"}},
		{name: "enroll", args: []string{"enroll", "-confirm=false", "-name", "phone", "alice"}, action: "device.enroll", user: "alice", detail: []string{`totp device "phone" (id `}},
		{name: "device rename", args: []string{"device", "rename", "alice", "phone", "work phone"}, action: "device.rename", user: "alice", detail: []string{`totp device "phone" (id `, `renamed "work phone"`}},
		{name: "lock", args: []string{"lock", "alice"}, action: "user.lock", user: "alice", detail: []string{"cause admin, until an admin unlocks"}},
		{name: "unlock", args: []string{"unlock", "alice"}, action: "user.unlock", user: "alice", detail: []string{"was locked (cause admin"}},
		{name: "unlock an unlocked user", args: []string{"unlock", "alice"}, action: "user.unlock", user: "alice", detail: []string{"was not locked; nothing to clear"}},
		{name: "bypass issue", args: []string{"bypass", "issue", "-profile", "long", "alice"}, action: "bypass.issue", user: "alice", detail: []string{"(long), unlimited uses, expires "},
			after: func(t *testing.T, out string) {
				if m := printedCode.FindStringSubmatch(out); m != nil {
					d.codes = append(d.codes, strings.ReplaceAll(m[1], " ", ""))
				}
			}},
		{name: "bypass revoke", args: []string{"bypass", "revoke", "-all", "alice"}, action: "bypass.revoke", user: "alice", detail: []string{"(long), used 0 of unlimited"}},
		{name: "recovery issue", args: []string{"recovery", "issue", "-json", "alice"}, action: "recovery.issue", user: "alice", detail: []string{"passcode ", ", expires "},
			after: func(t *testing.T, out string) {
				var got recoveryIssued
				if err := decodeJSON(out, &got); err != nil {
					t.Fatal(err)
				}
				recovery = got.Code
				d.codes = append(d.codes, got.Code)
			}},
		{name: "enroll with a recovery passcode", args: []string{"enroll", "-confirm=false", "-recovery", "{recovery}", "alice"},
			action: "recovery.use", user: "alice", detail: []string{"to enroll a device", "(issued by twostepctl "}},
		{name: "device remove", args: []string{"device", "remove", "-yes", "alice", "work phone"}, action: "device.remove", user: "alice", detail: []string{`totp device "work phone" (id `}},
		{name: "token import", args: []string{"token", "import", csv}, action: "token.import", detail: []string{"6 tokens (5 hotp, 1 totp); from " + csv}},
		{name: "token assign", args: []string{"token", "assign", "HW-HOTP-1", "bob"}, action: "token.assign", user: "bob", detail: []string{`token HW-HOTP-1 (hotp) as device "token HW-HOTP-1" (id `}},
		{name: "token unassign", args: []string{"token", "unassign", "HW-HOTP-1"}, action: "token.unassign", user: "bob", detail: []string{`token HW-HOTP-1 (hotp), device "token HW-HOTP-1" (id `, "removed"}},
		{name: "token lost", args: []string{"token", "lost", "HW-HOTP-2"}, action: "token.lost", detail: []string{"token HW-HOTP-2 (hotp), was unassigned"}},
		{name: "rekey", args: []string{"rekey"}, action: "keys.rekey", detail: []string{"re-sealed "}},
		{name: "through sudo", env: map[string]string{"SUDO_USER": "someone-else"}, args: []string{"lock", "bob"},
			action: "user.lock", user: "bob", detail: []string{"cause admin", "; sudo from someone-else"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			start := time.Now().Add(-time.Second)
			args := append([]string{"-config", d.config}, s.args...)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "{recovery}", recovery)
			}
			out, errOut, err := ctlIn(t, s.env, s.stdin, args...)
			if err != nil {
				t.Fatalf("twostepctl %s: %v\n%s%s", strings.Join(s.args, " "), err, out, errOut)
			}
			if strings.Contains(errOut, "audit trail") {
				t.Errorf("stderr: %s", errOut)
			}
			if s.after != nil {
				s.after(t, out)
			}
			events := d.events(t, "-action", s.action)
			if len(events) == 0 {
				t.Fatalf("no %s event", s.action)
			}
			e := events[len(events)-1]
			if e.Action != s.action || e.User != s.user || !adminActor.MatchString(e.Actor) || e.Time.Before(start) {
				t.Errorf("got %+v, want %s of %q by twostepctl OSUSER@HOST", e, s.action, s.user)
			}
			contains(t, e.Detail, s.detail...)
		})
	}
	t.Run("no event shows a secret", func(t *testing.T) {
		out := d.must(t, "audit", "-json")
		d.clean(t, "audit -json", out)
		for _, pw := range passwords {
			if strings.Contains(out, pw) {
				t.Errorf("audit -json shows the password %q", pw)
			}
		}
		// The users file's hashes are no business of the trail either.
		if strings.Contains(out, "{SSHA") {
			t.Errorf("audit -json shows a hash:\n%s", out)
		}
	})
	t.Run("the text listing", func(t *testing.T) {
		out := d.must(t, "audit", "-action", "user.", "-user", "carol")
		contains(t, out, "TIME", "ACTION", "USER", "ACTOR", "DETAIL", "user.add", "user.delete", "twostepctl ")
		if strings.Contains(out, "device.") {
			t.Errorf("-action user. shows other events:\n%s", out)
		}
		contains(t, d.must(t, "audit", "-action", "push.", "-user", "carol"), "no audit events push.* of carol since ")
	})
}

// TestAuditUsersFileUnreachable: an edit of the users file whose cluster
// cannot be reached is made, and the output says it is not in the trail.
func TestAuditUsersFileUnreachable(t *testing.T) {
	dir := t.TempDir()
	keys, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	os.WriteFile(filepath.Join(dir, "seed.key"), keys, 0o600)
	users := filepath.Join(dir, "users.yaml")
	os.WriteFile(users, []byte(clusterUsers), 0o600)
	down := filepath.Join(dir, "down.yaml")
	os.WriteFile(down, []byte(clientsYAML+fileDirectory+"cluster:\n  embedded: {client_url: http://127.0.0.1:1}\n  seed_keys: seed.key\n  dial_timeout: 1s\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"the embedded etcd is down", []string{"-config", down, "user", "add", "erin"}, nil, "cannot reach the embedded etcd at http://127.0.0.1:1: is twostepd running?"},
		{"no configuration", []string{"user", "add", "-users", users, "frank"}, map[string]string{configEnv: filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := ctlIn(t, tt.env, "a-password\n", tt.args...)
			if err != nil {
				t.Fatalf("got %v, want the edit made", err)
			}
			contains(t, out, "added user ")
			contains(t, errOut, "note: the change is not in the cluster's audit trail (user.add): ", tt.want)
		})
	}
	f, err := directory.OpenFile(users)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"erin", "frank"} {
		if r, err := f.Authenticate(context.Background(), name, "a-password"); err != nil || r.Status != directory.OK {
			t.Errorf("%s: got %v %v, want the user added", name, r.Status, err)
		}
	}
}

// rbacCluster is a test cluster in an etcd with RBAC: config logs in as
// root; restricted as a help desk whose role may change users' records
// and the token inventory but only read the audit trail, so that etcd
// itself refuses every audit event it writes.
type rbacCluster struct {
	config, restricted string
	root               *clientv3.Client
}

func newRBACCluster(t *testing.T) *rbacCluster {
	t.Helper()
	srv := etcdtest.Start(t)
	ctx := t.Context()
	admin, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	grant := func(prefix string, perm clientv3.PermissionType) func() error {
		return func() error {
			_, err := admin.RoleGrantPermission(ctx, "helpdesk", prefix, clientv3.GetPrefixRangeEnd(prefix), perm)
			return err
		}
	}
	steps := []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "helpdesk"); return err },
		grant("/twostep/", clientv3.PermissionType(clientv3.PermRead)),
		grant("/twostep/users/", clientv3.PermissionType(clientv3.PermReadWrite)),
		grant("/twostep/tokens/", clientv3.PermissionType(clientv3.PermReadWrite)),
		func() error { _, err := admin.UserAdd(ctx, "helpdesk", "helpdesk-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "helpdesk", "helpdesk"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}
	dir := t.TempDir()
	keys, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("seed.key", string(keys))
	write("users.yaml", clusterUsers)
	config := func(user string) string {
		pw := write(user+".pw", user+"-pw\n")
		// etcd checks passwords with bcrypt: slow on a loaded machine.
		return write(user+".yaml", fmt.Sprintf(clientsYAML+fileDirectory+"cluster:\n  endpoints: [%s]\n  username: %s\n  password_file: %s\n  dial_timeout: 10s\n  request_timeout: 5s\n  seed_keys: seed.key\n",
			strings.Join(srv.Endpoints(), ", "), user, pw))
	}
	rc := &rbacCluster{config: config("root"), restricted: config("helpdesk")}
	rc.root, err = clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 10 * time.Second, Logger: zap.NewNop(), Username: "root", Password: "root-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.root.Close() })
	return rc
}

// snapshot is every key of the cluster with its value.
func (rc *rbacCluster) snapshot(t *testing.T) map[string]string {
	t.Helper()
	resp, err := rc.root.Get(t.Context(), "/twostep/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// TestAuditRefused: etcd refusing a command's audit event refuses the
// change with it, so nothing changes unaudited; an edit of the users
// file, which is not in etcd, is made, and the command fails saying its
// event is missing.
func TestAuditRefused(t *testing.T) {
	rc := newRBACCluster(t)
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	os.WriteFile(tokens, []byte(tokensCSV()), 0o600)
	mustCtl(t, "", "-config", rc.config, "lock", "bob")
	mustCtl(t, "", "-config", rc.config, "enroll", "-confirm=false", "-name", "phone", "bob")
	tests := []struct {
		name string
		args []string
	}{
		{"enroll", []string{"enroll", "-confirm=false", "alice"}},
		{"lock", []string{"lock", "alice"}},
		{"unlock", []string{"unlock", "bob"}},
		{"device rename", []string{"device", "rename", "bob", "phone", "tablet"}},
		{"device remove", []string{"device", "remove", "-yes", "bob", "phone"}},
		{"bypass issue", []string{"bypass", "issue", "alice"}},
		{"recovery issue", []string{"recovery", "issue", "alice"}},
		{"token import", []string{"token", "import", tokens}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rc.snapshot(t)
			out, _, err := ctl(t, "", append([]string{"-config", rc.restricted}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("got %v, want etcd's refusal", err)
			}
			t.Logf("error: %v", err)
			if printedCode.MatchString(out) {
				t.Errorf("a code was shown for a change that was refused:\n%s", out)
			}
			if after := rc.snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the change was made without its event")
			}
		})
	}
	t.Run("users file", func(t *testing.T) {
		out, _, err := ctl(t, "gina-password\n", "-config", rc.restricted, "user", "add", "gina")
		want := "the change is written to the users file, but the audit event user.add ("
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("got %v, want an error with %q", err, want)
		}
		t.Logf("error: %v", err)
		contains(t, out, `added user "gina"`)
		if strings.Contains(err.Error(), "gina-password") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
	t.Run("the admin with the right to audit", func(t *testing.T) {
		mustCtl(t, "", "-config", rc.config, "unlock", "bob")
		var events []auditJSON
		if err := decodeJSON(mustCtl(t, "", "-config", rc.config, "audit", "-json", "-user", "bob"), &events); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, e.Action)
		}
		if want := []string{"user.lock", "device.enroll", "user.unlock"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q: the refused changes left no event", got, want)
		}
	})
}
