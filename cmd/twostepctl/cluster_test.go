package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/configs"
)

// testCluster is a twostep installation for the second-factor commands: a
// real etcd, a users file, a seed key file and a configuration naming
// them, in a temporary directory.
type testCluster struct {
	config   string
	accounts *cluster.Accounts
}

// clientsYAML is a client whose secret twostepctl neither needs nor
// resolves.
const clientsYAML = `clients:
  - {name: nas, networks: [10.0.0.1], secret_env: A_VARIABLE_THE_ADMIN_SHELL_LACKS}
`

const clusterUsers = `users:
  alice:
    password: "{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA=="
    groups: [vpn-users]
  bob:
    password: "{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA=="
  dora:
    password: "{SSHA256}oBmrdHcA6OZEkkCLeXh71YAerbvhXz1qqwjrPsXmEtNzYWx0c2FsdA=="
    disabled: true
`

// fileDirectory is the directory section of the users file clusterUsers.
const fileDirectory = `directory:
  backend: file
  file: {path: users.yaml}
`

func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	return newTestClusterWith(t, fileDirectory)
}

// newTestClusterWith is newTestCluster with another directory section.
func newTestClusterWith(t *testing.T, directory string) *testCluster {
	t.Helper()
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write("seed.key", string(keys))
	write("users.yaml", clusterUsers)
	write("twostep.yaml", fmt.Sprintf(clientsYAML+directory+`cluster:
  endpoints: [%s]
  seed_keys: seed.key
  issuer: Test VPN
`, strings.Join(srv.Endpoints(), ", ")))
	tc := &testCluster{config: filepath.Join(dir, "twostep.yaml")}

	// The test's own view of the records, through the same configuration.
	cfg, err := configs.LoadForTools(tc.config)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.Open(context.Background(), cfg.Cluster.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tc.accounts = cluster.NewAccounts(store, ring)
	return tc
}

// load reads user's records as twostepd would.
func (tc *testCluster) load(t *testing.T, user string) *cluster.Account {
	t.Helper()
	acct, err := tc.accounts.Load(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// ctlSecret runs twostepctl with a known source of randomness, so that the
// test knows the secret it makes, and returns that secret (64 bytes: an
// SHA1 seed is the first 20).
func ctlSecret(t *testing.T, stdin string, args ...string) (stdout, stderr string, secret []byte, err error) {
	t.Helper()
	secret = bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 22)[:64]
	var out, errOut bytes.Buffer
	c := newCLI(strings.NewReader(stdin), &out, &errOut)
	c.rand = bytes.NewReader(secret)
	err = c.exec(context.Background(), args)
	return out.String(), errOut.String(), secret, err
}

// noSecret fails when s shows secret, in base32 or raw.
func noSecret(t *testing.T, what, s string, secret []byte) {
	t.Helper()
	for _, n := range []int{20, 32, 64} {
		if n > len(secret) {
			break
		}
		enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret[:n])
		if strings.Contains(s, enc[:16]) || strings.Contains(s, groupKey(enc)[:19]) || strings.Contains(s, string(secret[:n])) {
			t.Errorf("%s shows the secret:\n%s", what, s)
		}
	}
}

func TestKeygen(t *testing.T) {
	t.Run("stdout", func(t *testing.T) {
		out := mustCtl(t, "", "keygen")
		k, err := cluster.ParseKeyring([]byte(out))
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if k.ActiveID() == "" {
			t.Errorf("got no key in:\n%s", out)
		}
	})
	t.Run("-out", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "seed.key")
		out := mustCtl(t, "", "keygen", "-out", path)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("mode: got %v, want 0600", got)
		}
		k, err := cluster.LoadKeyring(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := "wrote a new seed key file " + path + " (key " + k.ActiveID() + ", mode 0600)"; !strings.Contains(out, want) {
			t.Errorf("got %q, want it to contain %q", out, want)
		}
		before, _ := os.ReadFile(path)
		_, _, err = ctl(t, "", "keygen", "-out", path)
		if err == nil || !strings.Contains(err.Error(), "exists; keygen never overwrites a key file") || !strings.Contains(err.Error(), "To rotate") {
			t.Errorf("second keygen: got %v, want a refusal that says how to rotate", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the key file changed")
		}
	})
	t.Run("arguments", func(t *testing.T) {
		if _, _, err := ctl(t, "", "keygen", "seed.key"); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
			t.Errorf("got %v, want takes no arguments", err)
		}
	})
}

// TestEnrollInteractive enrolls as an admin at a terminal would: the test
// reads the printed URI, computes the app's code and types it.
func TestEnrollInteractive(t *testing.T) {
	tc := newTestCluster(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := run(context.Background(), []string{"-config", tc.config, "enroll", "alice"}, inR, outW, &errOut)
		outW.Close()
		done <- err
	}()

	var printed bytes.Buffer
	var totp otp.TOTP
	buf := make([]byte, 4096)
	for totp.Secret == nil {
		n, err := outR.Read(buf)
		printed.Write(buf[:n])
		if err != nil {
			t.Fatalf("no URI before %v:\n%s", err, printed.String())
		}
		for line := range strings.Lines(printed.String()) {
			uri := strings.TrimSpace(line)
			if !strings.HasPrefix(uri, "otpauth://") || !strings.HasSuffix(line, "\n") {
				continue
			}
			var issuer, account string
			totp, issuer, account, err = otp.ParseTOTPURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			if issuer != "Test VPN" || account != "alice" {
				t.Errorf("got issuer %q, account %q, want Test VPN, alice", issuer, account)
			}
		}
	}
	now := time.Now()
	step := totp.Step(now)
	// Typed while the command still prints: neither pipe may wait for
	// the other.
	typed := make(chan struct{})
	go func() {
		defer close(typed)
		fmt.Fprintf(inW, "%s\n", totp.Code(step))
	}()
	rest, _ := io.ReadAll(outR)
	<-typed
	printed.Write(rest)
	if err := <-done; err != nil {
		t.Fatalf("enroll: %v\n%s%s", err, printed.String(), errOut.String())
	}
	out := printed.String()
	for _, want := range []string{
		`Enrolling device "authenticator" for alice (time-based, SHA1, 6 digits, 30s)`,
		"Scan this QR code", "█", groupKey(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totp.Secret)),
		`enrolled device "authenticator"`, "the code just typed is used up",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got:\n%s\nwant it to contain %q", out, want)
		}
	}
	if !strings.Contains(errOut.String(), "Enter the 6-digit code your app shows now:") {
		t.Errorf("stderr: got %q, want the prompt", errOut.String())
	}

	acct := tc.load(t, "alice")
	if len(acct.Devices) != 1 {
		t.Fatalf("got %d devices, want 1", len(acct.Devices))
	}
	d := acct.Devices[0]
	if !bytes.Equal(d.Secret, totp.Secret) || d.Algorithm != "SHA1" || d.Digits != 6 || d.Period != 30*time.Second || d.Name != "authenticator" {
		t.Errorf("got %+v, want the URI's SHA1/6/30s secret named authenticator", d)
	}
	// The confirmation code cannot log in: its step is used.
	if u, ok := acct.Used[d.ID]; !ok || u.Step < step-1 {
		t.Errorf("used step: got %+v, want the confirmation's step %d", acct.Used[d.ID], step)
	}
	confirmed := acct.Used[d.ID].Step
	if err := tc.accounts.UseStep(context.Background(), "alice", d.ID, confirmed, time.Now()); !errors.Is(err, cluster.ErrReplay) {
		t.Errorf("login with the confirmation code: got %v, want ErrReplay", err)
	}

	list := mustCtl(t, "", "devices", "-config", tc.config, "alice")
	for _, want := range []string{"ID  ", "NAME", "LAST USED", d.ID, "authenticator", "totp", "SHA1/6/30s"} {
		if !strings.Contains(list, want) {
			t.Errorf("devices: got:\n%s\nwant it to contain %q", list, want)
		}
	}
	noSecret(t, "devices", list, totp.Secret)
}

func TestEnrollJSON(t *testing.T) {
	tc := newTestCluster(t)
	out, errOut, secret, err := ctlSecret(t, "", "enroll", "-config", tc.config, "-confirm=false", "-json", "alice")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr: got %q, want nothing", errOut)
	}
	var got enrolled
	if err := decodeJSON(out, &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	totp, issuer, account, err := otp.ParseTOTPURI(got.URI)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(totp.Secret, secret[:20]) || issuer != "Test VPN" || account != "alice" {
		t.Errorf("uri: got %x for %s:%s, want the secret for Test VPN:alice", totp.Secret, issuer, account)
	}
	dev := got.Device
	if got.User != "alice" || got.Confirmed || dev.ID == "" || dev.Name != "authenticator" || dev.Type != "totp" ||
		dev.Algorithm != "SHA1" || dev.Digits != 6 || dev.PeriodSeconds != 30 || dev.Created.IsZero() || !dev.LastUsed.IsZero() {
		t.Errorf("got %+v", got)
	}
	acct := tc.load(t, "alice")
	if len(acct.Devices) != 1 || acct.Devices[0].ID != dev.ID || len(acct.Used) != 0 {
		t.Errorf("got devices %+v, used %+v, want the one device, unused", acct.Devices, acct.Used)
	}

	// Later devices get the next free default name; settings are kept.
	out = mustCtl(t, "", "enroll", "-config", tc.config, "-confirm=false", "-algorithm", "sha256", "-digits", "8", "-period", "60s", "alice")
	for _, want := range []string{`enrolled device "authenticator 2"`, "unconfirmed", "alice has 2 devices", "SHA256, 8 digits, 1m0s", "Note: many authenticator apps"} {
		if !strings.Contains(out, want) {
			t.Errorf("got:\n%s\nwant it to contain %q", out, want)
		}
	}
	var list []deviceJSON
	if err := decodeJSON(mustCtl(t, "", "devices", "-json", "-config", tc.config, "alice"), &list); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list, func(d deviceJSON) bool { return d.Name == "authenticator 2" })
	if len(list) != 2 || i < 0 || list[i].Algorithm != "SHA256" || list[i].Digits != 8 || list[i].PeriodSeconds != 60 {
		t.Errorf("got %+v, want authenticator 2 with SHA256/8/60", list)
	}

	// A name is unique per user, without case, and checked before
	// anything is shown.
	out, _, err = ctl(t, "", "enroll", "-config", tc.config, "-confirm=false", "-name", "Authenticator", "alice")
	if err == nil || !strings.Contains(err.Error(), `alice already has a device named "authenticator"`) {
		t.Errorf("got %v, want a duplicate name refused", err)
	}
	if strings.Contains(out, "otpauth") {
		t.Errorf("a refused enrollment showed a secret:\n%s", out)
	}
	if n := len(tc.load(t, "alice").Devices); n != 2 {
		t.Errorf("got %d devices, want 2", n)
	}
}

func TestEnrollConfirmation(t *testing.T) {
	tc := newTestCluster(t)
	// The codes the known secret gives around now: a wrong code must be
	// none of them.
	totp := otp.TOTP{Secret: bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 22)[:20], Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}
	valid := map[string]bool{}
	n := totp.Step(time.Now())
	for s := n - 2; s <= n+3; s++ {
		valid[totp.Code(s)] = true
	}
	var wrong []string
	for i := 0; len(wrong) < 3; i++ {
		if c := fmt.Sprintf("%06d", 123456+i); !valid[c] {
			wrong = append(wrong, c)
		}
	}
	png := filepath.Join(t.TempDir(), "alice.png")

	t.Run("three wrong codes store nothing", func(t *testing.T) {
		out, errOut, secret, err := ctlSecret(t, strings.Join(wrong, "\n")+"\n", "enroll", "-config", tc.config, "-png", png, "alice")
		if err == nil || !strings.Contains(err.Error(), "3 wrong codes; nothing stored") {
			t.Fatalf("got %v, want 3 wrong codes", err)
		}
		if strings.Count(errOut, "Enter the 6-digit code") != 3 || !strings.Contains(errOut, "2 tries left") {
			t.Errorf("stderr: got %q, want three prompts", errOut)
		}
		noSecret(t, "the error", err.Error(), secret)
		noSecret(t, "stderr", errOut, secret)
		for _, c := range wrong {
			if strings.Contains(err.Error(), c) || strings.Contains(errOut, c) {
				t.Errorf("a typed code is echoed: %v\n%s", err, errOut)
			}
		}
		if !strings.Contains(out, "otpauth://") {
			t.Errorf("got:\n%s\nwant the URI shown", out)
		}
		if _, err := os.Stat(png); !os.IsNotExist(err) {
			t.Errorf("the PNG of a secret never stored is left: %v", err)
		}
		if n := len(tc.load(t, "alice").Devices); n != 0 {
			t.Errorf("got %d devices, want none", n)
		}
	})
	t.Run("no code at all", func(t *testing.T) {
		_, _, _, err := ctlSecret(t, "", "enroll", "-config", tc.config, "alice")
		if err == nil || !strings.Contains(err.Error(), "no code on stdin; nothing stored") {
			t.Errorf("got %v, want no code", err)
		}
	})
	t.Run("a wrong code, then the right one, with spaces", func(t *testing.T) {
		code := totp.Code(totp.Step(time.Now()))
		stdin := wrong[0] + "\n" + code[:3] + " " + code[3:] + "\n"
		out, errOut, secret, err := ctlSecret(t, stdin, "enroll", "-config", tc.config, "-png", png, "-name", "phone", "alice")
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		if !strings.Contains(out, `enrolled device "phone"`) || !strings.Contains(errOut, "2 tries left") {
			t.Errorf("got:\n%s%s", out, errOut)
		}
		info, err := os.Stat(png)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != 0o600 {
			t.Errorf("PNG mode: got %v, want 0600", got)
		}
		if b, _ := os.ReadFile(png); !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Error("the -png file is not a PNG")
		}
		acct := tc.load(t, "alice")
		if len(acct.Devices) != 1 || !bytes.Equal(acct.Devices[0].Secret, secret[:20]) {
			t.Fatalf("got %+v, want the device", acct.Devices)
		}
		if _, ok := acct.Used[acct.Devices[0].ID]; !ok {
			t.Error("the confirmation code is not marked used")
		}
	})
	t.Run("-json with a confirmation, with a dash", func(t *testing.T) {
		code := totp.Code(totp.Step(time.Now()))
		out, errOut, _, err := ctlSecret(t, code[:3]+"-"+code[3:]+"\n", "enroll", "-config", tc.config, "-json", "-name", "tablet", "bob")
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut)
		}
		var got enrolled
		if err := decodeJSON(out, &got); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
		}
		if !got.Confirmed || got.Device.Name != "tablet" || !strings.Contains(got.URI, "&issuer=") {
			t.Errorf("got %+v", got)
		}
		if !strings.Contains(errOut, "Scan this QR code") || !strings.Contains(errOut, "Enter the 6-digit code") {
			t.Errorf("stderr: got %q, want the QR code and the prompt", errOut)
		}
	})
	t.Run("an existing -png file is never overwritten", func(t *testing.T) {
		_, _, _, err := ctlSecret(t, "", "enroll", "-config", tc.config, "-png", png, "-confirm=false", "alice")
		if err == nil || !strings.Contains(err.Error(), "enroll never overwrites") {
			t.Errorf("got %v, want a refusal", err)
		}
		if n := len(tc.load(t, "alice").Devices); n != 1 {
			t.Errorf("got %d devices, want 1", n)
		}
	})
}

func TestEnrollErrors(t *testing.T) {
	tc := newTestCluster(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown user", []string{"mallory"}, `user "mallory" does not exist in the users file`},
		{"names compare exactly in the users file", []string{"Alice"}, `user "Alice" does not exist`},
		{"digits", []string{"-digits", "7", "alice"}, "-digits 7: want 6 or 8"},
		{"algorithm", []string{"-algorithm", "md5", "alice"}, `-algorithm "MD5": want SHA1, SHA256 or SHA512`},
		{"period", []string{"-period", "45s", "alice"}, "-period 45s: want 30s or 60s"},
		{"long name", []string{"-name", strings.Repeat("n", 33), "alice"}, "a name is 1 to 32 printable characters"},
		{"control character in the name", []string{"-name", "a\tb", "alice"}, "a name is 1 to 32 printable characters"},
		{"no user", nil, "want USER, got 0 arguments; see `twostepctl enroll -h`"},
		{"two users", []string{"alice", "bob"}, "want USER, got 2 arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"enroll", "-config", tc.config, "-confirm=false"}, tt.args...)
			out, _, secret, err := ctlSecret(t, "", args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			noSecret(t, "the error", err.Error(), secret)
			noSecret(t, "stdout", out, secret)
			for _, u := range []string{"alice", "mallory", "Alice", "bob"} {
				if n := len(tc.load(t, u).Devices); n != 0 {
					t.Errorf("%s: got %d devices, want none", u, n)
				}
			}
		})
	}
}

func TestDeviceRenameRemove(t *testing.T) {
	tc := newTestCluster(t)
	var first enrolled
	if err := decodeJSON(mustCtl(t, "", "enroll", "-config", tc.config, "-confirm=false", "-json", "-name", "phone", "alice"), &first); err != nil {
		t.Fatal(err)
	}
	mustCtl(t, "", "enroll", "-config", tc.config, "-confirm=false", "-name", "token", "alice")
	ctlc := func(stdin string, args ...string) (string, error) {
		out, _, err := ctl(t, stdin, append([]string{"-config", tc.config}, args...)...)
		return out, err
	}
	steps := []struct {
		name    string
		stdin   string
		args    []string
		wantOut string
		wantErr string
		names   []string // alice's devices after the step
	}{
		{"rename by name, without case", "", []string{"device", "rename", "alice", "PHONE", "iPhone"}, `renamed device "phone" (id ` + first.Device.ID + `) of alice to "iPhone"`, "", []string{"iPhone", "token"}},
		{"rename by id", "", []string{"device", "rename", "alice", first.Device.ID, "old phone"}, `to "old phone"`, "", []string{"old phone", "token"}},
		{"same name", "", []string{"device", "rename", "alice", "token", "token"}, "already named", "", []string{"old phone", "token"}},
		{"duplicate name", "", []string{"device", "rename", "alice", "token", "OLD PHONE"}, "", `alice already has a device named "old phone"`, []string{"old phone", "token"}},
		{"bad name", "", []string{"device", "rename", "alice", "token", ""}, "", "a name is 1 to 32", []string{"old phone", "token"}},
		{"unknown device", "", []string{"device", "rename", "alice", "pager", "x"}, "", "alice has no device \"pager\"; list them with `twostepctl -config " + tc.config + " devices alice`", []string{"old phone", "token"}},
		{"remove answered no", "n\n", []string{"device", "remove", "alice", "token"}, "", "nothing removed: the answer was not yes", []string{"old phone", "token"}},
		{"remove without an answer", "", []string{"device", "remove", "alice", "token"}, "", "nothing removed: no answer on stdin to the question; to remove without asking: `twostepctl -config " + tc.config + " device remove -yes alice ", []string{"old phone", "token"}},
		{"remove answered something else", "maybe\n", []string{"device", "remove", "alice", "token"}, "", "nothing removed: the answer was not yes", []string{"old phone", "token"}},
		{"remove answered yes", "y\n", []string{"device", "remove", "alice", "token"}, `removed device "token"`, "", []string{"old phone"}},
		{"remove -yes by id", "", []string{"device", "remove", "-yes", "alice", first.Device.ID}, "alice has no device left", "", nil},
		{"remove again", "", []string{"device", "remove", "-yes", "alice", first.Device.ID}, "", "alice has no device", nil},
		{"no device command", "", []string{"device"}, "", "no device command given", nil},
		{"unknown device command", "", []string{"device", "wipe", "alice"}, "", `unknown device command "wipe"`, nil},
		{"rename without a new name", "", []string{"device", "rename", "alice", "token"}, "", "want USER DEVICE NEWNAME, got 2 arguments", nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := ctlc(s.stdin, s.args...)
			switch {
			case s.wantErr == "" && err != nil:
				t.Fatalf("%v\n%s", err, out)
			case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, s.wantErr)
			}
			if !strings.Contains(out, s.wantOut) {
				t.Errorf("got:\n%s\nwant it to contain %q", out, s.wantOut)
			}
			// Devices added in one second come in id order: compare sorted.
			var names []string
			for _, d := range tc.load(t, "alice").Devices {
				names = append(names, d.Name)
			}
			slices.Sort(names)
			if fmt.Sprint(names) != fmt.Sprint(s.names) {
				t.Errorf("devices: got %q, want %q", names, s.names)
			}
		})
	}
	t.Run("the prompt", func(t *testing.T) {
		mustCtl(t, "", "enroll", "-config", tc.config, "-confirm=false", "-name", "phone", "alice")
		_, errOut, err := ctl(t, "no\n", "-config", tc.config, "device", "remove", "alice", "phone")
		if err == nil {
			t.Fatal("answered no: got success, want an error")
		}
		if want := `Remove device "phone" of alice? It stops working on every node at once. [y/N]`; !strings.Contains(errOut, want) {
			t.Errorf("got %q, want %q", errOut, want)
		}
	})
	t.Run("no device", func(t *testing.T) {
		out, _, err := ctl(t, "", "-config", tc.config, "devices", "bob")
		if err != nil {
			t.Fatal(err)
		}
		if want := "bob has no device; enroll one with: twostepctl -config " + tc.config + " enroll bob\n"; out != want {
			t.Errorf("got %q, want %q", out, want)
		}
		if out := mustCtl(t, "", "-config", tc.config, "devices", "-json", "bob"); strings.TrimSpace(out) != "[]" {
			t.Errorf("-json: got %q, want []", out)
		}
	})
	t.Run("a user gone from the directory", func(t *testing.T) {
		out, errOut, err := ctl(t, "", "-config", tc.config, "devices", "carol")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errOut, `note: "carol" is not in the users file`) || !strings.Contains(out, "carol has no device") {
			t.Errorf("got %q, %q", out, errOut)
		}
	})
}

func TestLockUnlockStatus(t *testing.T) {
	tc := newTestCluster(t)
	status := func() statusJSON {
		t.Helper()
		var st statusJSON
		if err := decodeJSON(mustCtl(t, "", "-config", tc.config, "status", "-json", "alice"), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	ctlc := func(args ...string) string {
		t.Helper()
		return mustCtl(t, "", append([]string{"-config", tc.config}, args...)...)
	}
	contains := func(got string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("got:\n%s\nwant it to contain %q", got, w)
			}
		}
	}

	contains(ctlc("status", "alice"),
		"user:        alice\n",
		"directory:   found in the users file", "groups: vpn-users",
		"devices:     none; enroll one with `twostepctl -config "+tc.config+" enroll alice`",
		"lockout:     not locked\n", "first seen:  not recorded")
	if st := status(); st.User != "alice" || !st.Directory.Found || fmt.Sprint(st.Directory.Groups) != "[vpn-users]" || st.Directory.State != "ok" || st.Lockout.Locked || st.Lockout.Attempts != 10 || st.Lockout.Cause != "" {
		t.Errorf("got %+v", st)
	}

	contains(ctlc("unlock", "alice"), "alice was not locked; nothing changed")

	// Two wrong passcodes, as twostepd counts them.
	acct := tc.load(t, "alice")
	for _, code := range []string{"111111", "222222"} {
		if _, err := tc.accounts.Fail(context.Background(), acct, code, cluster.LockoutPolicy{Attempts: 10}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	contains(ctlc("status", "alice"), "not locked; 2 of 10 failed passcodes")
	contains(ctlc("unlock", "alice"), "alice was not locked; cleared 2 failed passcodes")

	contains(ctlc("lock", "alice"), "locked alice until `twostepctl -config "+tc.config+" unlock alice`")
	if !tc.load(t, "alice").Lockout.Locked(time.Now().Add(24 * time.Hour)) {
		t.Error("the lock does not hold a day later")
	}
	contains(ctlc("status", "alice"), "lockout:     LOCKED by an admin with `twostepctl lock`, since ", "until an admin unlocks; unlock with `twostepctl -config "+tc.config+" unlock alice`")
	if st := status(); !st.Lockout.Locked || !st.Lockout.UntilUnlock || st.Lockout.LockedAt.IsZero() || !st.Lockout.LockedUntil.IsZero() || st.Lockout.Cause != cluster.LockAdmin {
		t.Errorf("got %+v, want locked by an admin until unlock", st.Lockout)
	}
	contains(ctlc("lock", "alice"), "alice was already locked")
	contains(ctlc("unlock", "alice"), "unlocked alice (by an admin with `twostepctl lock`, since ", "until an admin unlocks); logins work again on every node")
	if tc.load(t, "alice").Lockout.Locked(time.Now()) {
		t.Error("still locked")
	}

	t.Run("why it is locked", func(t *testing.T) {
		defer ctlc("unlock", "alice")
		policy := cluster.LockoutPolicy{Attempts: 10, Duration: 15 * time.Minute}
		acct := tc.load(t, "alice")
		for i := range policy.Attempts {
			if _, err := tc.accounts.Fail(context.Background(), acct, fmt.Sprint(i), policy, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		contains(ctlc("status", "alice"), "lockout:     LOCKED after 10 failed passcodes, since ", ", until ")
		if st := status(); st.Lockout.Cause != cluster.LockFailures || st.Lockout.UntilUnlock {
			t.Errorf("got %+v, want locked by failures for a while", st.Lockout)
		}
		// A push answered "This wasn't me", as twostepd records it.
		if err := tc.accounts.Lock(context.Background(), "alice", cluster.LockFraud, time.Now()); err != nil {
			t.Fatal(err)
		}
		contains(ctlc("status", "alice"), `lockout:     LOCKED after the user answered a push "This wasn't me", since `, "until an admin unlocks")
		if st := status(); st.Lockout.Cause != cluster.LockFraud || !st.Lockout.UntilUnlock {
			t.Errorf("got %+v, want locked by a fraud report until unlock", st.Lockout)
		}
	})
	t.Run("a disabled user", func(t *testing.T) {
		contains(ctlc("status", "dora"), "directory:   found in the users file", "; DISABLED: logins are refused (enable with `twostepctl user enable dora`)")
		var st statusJSON
		if err := decodeJSON(ctlc("status", "-json", "dora"), &st); err != nil {
			t.Fatal(err)
		}
		if !st.Directory.Found || st.Directory.State != "disabled" {
			t.Errorf("got %+v, want found, disabled", st.Directory)
		}
	})

	mustCtl(t, "", "-config", tc.config, "enroll", "-confirm=false", "alice")
	contains(ctlc("status", "alice"), "devices:     1; list them with `twostepctl -config "+tc.config+" devices alice`")

	t.Run("unknown users", func(t *testing.T) {
		_, _, err := ctl(t, "", "-config", tc.config, "lock", "mallory")
		if err == nil || !strings.Contains(err.Error(), `user "mallory" does not exist`) {
			t.Errorf("lock: got %v, want unknown user", err)
		}
		out := ctlc("status", "mallory")
		contains(out, "directory:   not found in the users file")
		var st statusJSON
		if err := decodeJSON(ctlc("status", "-json", "mallory"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Directory.Found || st.Directory.Groups == nil {
			t.Errorf("got %+v, want not found, groups []", st.Directory)
		}
	})
}

// TestStoreDown: when etcd does not answer, the error says where it was
// looked for and, for the embedded default, that twostepd must run.
func TestStoreDown(t *testing.T) {
	dir := t.TempDir()
	keys, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	os.WriteFile(filepath.Join(dir, "seed.key"), keys, 0o600)
	os.WriteFile(filepath.Join(dir, "users.yaml"), []byte(clusterUsers), 0o600)
	dead := "http://127.0.0.1:1"
	tests := []struct {
		name, cluster, want string
	}{
		{"embedded", "  embedded: {client_url: " + dead + "}\n", "cannot reach the embedded etcd at " + dead + ": is twostepd running? (the embedded etcd lives inside it)"},
		{"external", "  endpoints: [" + dead + "]\n", "cannot reach etcd at " + dead + ": check cluster.endpoints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, tt.name+".yaml")
			os.WriteFile(cfg, []byte(clientsYAML+"directory:\n  backend: file\n  file: {path: users.yaml}\ncluster:\n"+tt.cluster+"  seed_keys: seed.key\n  dial_timeout: 1s\n"), 0o600)
			start := time.Now()
			_, _, err := ctl(t, "", "-config", cfg, "devices", "alice")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
			if d := time.Since(start); d > opTimeout+2*time.Second {
				t.Errorf("took %v, want about %v at most", d, opTimeout)
			}
		})
	}
	t.Run("no seed key file", func(t *testing.T) {
		cfg := filepath.Join(dir, "nokeys.yaml")
		os.WriteFile(cfg, []byte(clientsYAML+"directory:\n  backend: file\n  file: {path: users.yaml}\ncluster:\n  endpoints: ["+dead+"]\n  seed_keys: missing.key\n"), 0o600)
		_, _, err := ctl(t, "", "-config", cfg, "status", "alice")
		if err == nil || !strings.Contains(err.Error(), "create it once with `twostepctl keygen -out "+filepath.Join(dir, "missing.key")+"`") {
			t.Errorf("got %v, want advice to run keygen", err)
		}
	})
}

func TestSecondFactorHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"The second factor", "enroll", "device remove", "keygen", "-config file"}},
		{[]string{"enroll", "-h"}, []string{"Usage: twostepctl enroll", "Examples:", "-confirm", "-png file", "holds the secret"}},
		{[]string{"help", "enroll"}, []string{"Usage: twostepctl enroll"}},
		{[]string{"devices", "-h"}, []string{"Usage: twostepctl devices", "Examples:", "-json"}},
		{[]string{"device", "-h"}, []string{"Usage: twostepctl device COMMAND", "rename", "remove"}},
		{[]string{"device", "rename", "-h"}, []string{"Usage: twostepctl device rename", "Examples:"}},
		{[]string{"device", "remove", "-h"}, []string{"Usage: twostepctl device remove", "-yes", "Examples:"}},
		{[]string{"status", "-h"}, []string{"Usage: twostepctl status", "Examples:"}},
		{[]string{"users", "-h"}, []string{"Usage: twostepctl users [-config FILE] [-json] [-locked] [-prefix P]", "100,000 entries", "locked_until", "-prefix P", "Examples:"}},
		{[]string{"help"}, []string{"users            every user the cluster knows"}},
		{[]string{"user", "list", "-h"}, []string{"twostepctl users"}},
		{[]string{"lock", "-h"}, []string{"Usage: twostepctl lock", "Example:"}},
		{[]string{"unlock", "-h"}, []string{"Usage: twostepctl unlock", "Example:"}},
		{[]string{"keygen", "-h"}, []string{"Usage: twostepctl keygen", "-out file", "To rotate"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, err := ctl(t, "", tt.args...)
			if err != nil {
				t.Fatalf("got %v, want nil", err)
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

func decodeJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestConfigBeforeCommand: -config given before the command is every
// command's default, the user commands' too.
func TestConfigBeforeCommand(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "users.yaml"), []byte(clusterUsers), 0o600)
	cfg := filepath.Join(dir, "twostep.yaml")
	os.WriteFile(cfg, []byte(clientsYAML+fileDirectory), 0o600)
	if out := mustCtl(t, "", "-config", cfg, "user", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Errorf("got:\n%s\nwant alice and bob", out)
	}
}
