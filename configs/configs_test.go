package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/cluster/embedded"
	"twostep/directory"
	"twostep/radiusd"
)

// fakeEnv resolves secret_env and secret_file without touching the machine.
var fakeEnv = Env{
	Getenv: func(name string) string {
		if name == "TWOSTEP_SWITCH_SECRET" || name == "GOOD" {
			return "an-environment-secret"
		}
		return ""
	},
	ReadFile: func(name string) ([]byte, error) {
		if filepath.Base(name) == "missing" {
			return nil, fs.ErrNotExist
		}
		if filepath.Base(name) == "long" {
			return []byte(strings.Repeat("x", 65)), nil
		}
		return []byte("a-file-secret-0123\n"), nil
	},
}

// TestShippedFiles parses every file in this directory: configurations
// with Parse, users files with the directory package.
func TestShippedFiles(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("glob: %v, %d files", err, len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			if strings.HasSuffix(f, "-users.yaml") {
				if _, err := directory.OpenFile(f); err != nil {
					t.Fatal(err)
				}
				return
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, b, fakeEnv); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDemoConfig(t *testing.T) {
	c, err := Load("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.RADIUS.Listen[0], "127.0.0.1:1812"; got != want {
		t.Errorf("listen: got %v, want %v", got, want)
	}
	if got, want := string(c.Clients[0].Secret), "testing123"; got != want {
		t.Errorf("secret: got %v, want %v", got, want)
	}
	// The quick start works with pam_radius and ocserv (whose radcli
	// sends no Message-Authenticator) as well as with radtest.
	if got := c.Clients[0].MessageAuthenticator; got != radiusd.MAAuto {
		t.Errorf("demo client's require_message_authenticator: got %v, want auto", got)
	}
	abs, _ := filepath.Abs("demo-users.yaml")
	if got := c.Directory.File.Path; got != abs && got != "demo-users.yaml" {
		t.Errorf("users path: got %v, want %v", got, abs)
	}
	if _, err := directory.OpenFile(c.Directory.File.Path); err != nil {
		t.Errorf("users file: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients:
  - name: nas
    networks: [10.0.0.1]
    secret: s3cret-s3cret-s3cret
directory:
  backend: file
  file: {path: users.yaml}
`), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.RADIUS.Listen[0], radiusd.DefaultListen},
		{"workers", c.RADIUS.Workers, 256},
		{"duplicate_ttl", c.RADIUS.DuplicateTTL, 10 * time.Second},
		{"reject_delay", c.RADIUS.RejectDelay, time.Second},
		{"metrics", c.Metrics.Listen, DefaultMetrics},
		{"watch", c.Directory.File.Watch, directory.DefaultWatch},
		{"users path", c.Directory.File.Path, "/etc/twostep/users.yaml"},
		{"log format", c.Log.Format, "json"},
		{"require M-A", c.Clients[0].MessageAuthenticator, radiusd.MARequired},
		{"network", c.Clients[0].Networks[0].String(), "10.0.0.1/32"},
		{"display_name", c.Clients[0].DisplayName, "nas"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestClientDisplayName(t *testing.T) {
	tests := []struct {
		name, value, want, problem string
	}{
		{"default: the client's name", ``, "nas", ""},
		{"shown as written", `"Staff VPN (Ivanti)"`, "Staff VPN (Ivanti)", ""},
		{"trimmed", `"  Staff VPN "`, "Staff VPN", ""},
		{"too long", `"` + strings.Repeat("x", 65) + `"`, "", "at most 64 characters"},
		{"control character", `"Staff\tVPN"`, "", "no control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "clients:\n  - name: nas\n    networks: [10.0.0.1]\n    secret: s3cret-s3cret-s3cret\n"
			if tt.value != "" {
				src += "    display_name: " + tt.value + "\n"
			}
			src += "directory: {backend: file, file: {path: users.yaml}}\n"
			c, err := Parse("t.yaml", []byte(src), fakeEnv)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), "t.yaml:5: clients[0].display_name:") || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("got %v, want a problem at t.yaml:5 clients[0].display_name: %s", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Clients[0].DisplayName; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	c, err := Parse("/x/t.yaml", []byte(`
clients:
  - {name: a, networks: [10.0.0.1], secret_file: a.secret}
  - {name: b, networks: [10.0.0.2], secret_env: GOOD, require_message_authenticator: false}
directory: {backend: file, file: {path: /u.yaml}}
metrics: {listen: ""}
`), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(c.Clients[0].Secret), "a-file-secret-0123"; got != want {
		t.Errorf("secret_file: got %q, want %q (trailing newline removed)", got, want)
	}
	if got, want := string(c.Clients[1].Secret), "an-environment-secret"; got != want {
		t.Errorf("secret_env: got %q, want %q", got, want)
	}
	if c.Clients[1].MessageAuthenticator != radiusd.MAOptional {
		t.Error("require_message_authenticator: false was ignored")
	}
	if c.Metrics.Listen != "" {
		t.Errorf("metrics listen \"\" must turn it off, got %q", c.Metrics.Listen)
	}
	_ = time.Second
}

// TestRefusedWhole feeds a file with many problems and expects every one,
// each at its line, and never the secret.
func TestRefusedWhole(t *testing.T) {
	const src = `log:
  level: loud
radius:
  listen: ["127.0.0.1", "127.0.0.1:1812", "127.0.0.1:1812", ":1812"]
  workers: -3
  duplicate_ttl: 2m
clients:
  - name: "bad name!"
    networks: [10.0.0.1/8, not-an-ip]
    secret: this-secret-must-not-leak-0123456789-0123456789-0123456789-0123456789
  - name: twin
    networks: [192.0.2.0/24]
    secret: x
    secret_env: ALSO
  - name: twin
    networks: [192.0.2.0/24]
    secret_file: missing
  - name: envless
    networks: ["2001:db8::/32"]
    secret_env: NOT_SET
directory:
  backend: nis
metrics:
  listen: nowhere
`
	_, err := Parse("t.yaml", []byte(src), fakeEnv)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *configs.Error", err)
	}
	want := []struct {
		line  int
		field string
		text  string
	}{
		{2, "log.level", "debug, info, warn, error"},
		{4, "radius.listen[0]", "not host:port"},
		{4, "radius.listen[2]", "listed twice"},
		{4, "radius.listen[3]", "has no host: list 0.0.0.0:1812 for IPv4 and [::]:1812 for IPv6"},
		{5, "radius.workers", "between 1 and 65536"},
		{6, "radius.duplicate_ttl", "between 5s and 30s"},
		{8, "clients[0].name", "letters, digits"},
		{9, "clients[0].networks[0]", "did you mean 10.0.0.0/8"},
		{9, "clients[0].networks[1]", "neither an address"},
		{10, "clients[0].secret", "at most 64"},
		{11, "clients[1]", "exactly one of"},
		{15, "clients[2].name", "used by another client"},
		{16, "clients[2].networks[0]", "already given to client \"twin\""},
		{17, "clients[2].secret_file", "cannot read"},
		{20, "clients[3].secret_env", "NOT_SET is empty or not set"},
		{22, "directory.backend", "unknown backend \"nis\""},
		{24, "metrics.listen", "not host:port"},
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ce.Problems), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, p := range ce.Problems {
			if p.Field == w.field && p.Line == w.line && strings.Contains(p.Message, w.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing problem at line %d, %s: %q\nall:\n%v", w.line, w.field, w.text, err)
		}
	}
	if strings.Contains(err.Error(), "this-secret-must-not-leak") {
		t.Error("the error text contains the secret")
	}
	if !strings.Contains(err.Error(), "t.yaml:2: log.level:") {
		t.Errorf("error does not read file:line: field: message:\n%v", err)
	}
}

func TestYAMLErrors(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"syntax", "radius:\n  listen: [unclosed\n", "t.yaml:"},
		{"unknown field", "radius:\n  listne: [x]\n", `t.yaml:2: radius.listne: unknown key; did you mean "listen"?`},
		{"wrong type", "radius:\n  workers: many\n", "t.yaml:2: radius.workers: a string is not allowed here; want a whole number"},
		{"bad duration", "radius:\n  duplicate_ttl: soon\n", "t.yaml:2: radius.duplicate_ttl: a string is not allowed here; want a duration"},
		{"secret in a wrong place", "clients:\n  - secret: [hunter2-secret]\n", "want a string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.src), fakeEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes a value: %v", err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"demo.yaml", "example.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("clients: [{name: a, networks: [::1], secret: x}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse("f.yaml", b, fakeEnv)
		if err != nil {
			return
		}
		complete := len(c.Clients) > 0 &&
			(c.Directory.Backend == "file" && c.Directory.File.Path != "" ||
				c.Directory.Backend == "ldap" && len(c.Directory.LDAP.URLs) > 0 && c.Directory.LDAP.BaseDN != "")
		if !complete {
			t.Fatalf("accepted an incomplete config: %+v", c)
		}
		for _, cl := range c.Clients {
			if len(cl.Secret) == 0 || len(cl.Networks) == 0 {
				t.Fatalf("accepted a client without secret or networks: %s", cl.Name)
			}
		}
	})
}

func TestLDAPSection(t *testing.T) {
	const head = "clients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\n"
	t.Run("resolved", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(head+`directory:
  backend: ldap
  ldap:
    urls: [ldaps://dc1.example.edu, ldap://dc2.example.edu]
    start_tls: true
    bind_dn: cn=twostep,ou=services,dc=example,dc=edu
    bind_password_env: GOOD
    base_dn: dc=example,dc=edu
    group_search: false
    cache_ttl: 1m
    domain_map: {EXAMPLE: example.edu}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		l := c.Directory.LDAP
		if l.BindPassword != "an-environment-secret" || l.GroupSearch == nil || *l.GroupSearch || l.CacheTTL != time.Minute || l.DomainMap["EXAMPLE"] != "example.edu" || len(l.URLs) != 2 {
			t.Errorf("got %+v", l)
		}
		if c.Directory.HealthInterval != directory.DefaultHealthInterval {
			t.Errorf("health interval: got %v, want %v", c.Directory.HealthInterval, directory.DefaultHealthInterval)
		}
	})
	t.Run("problems at their lines", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+`directory:
  backend: ldap
  ldap:
    urls: [http://dc1.example.edu]
    bind_dn: "not a dn"
    bind_password: x
    bind_password_env: GOOD
    user_filter: "(uid=*)"
`), fakeEnv)
		if err == nil {
			t.Fatal("accepted a broken ldap section")
		}
		for _, want := range []string{
			"t.yaml:5: directory.ldap.urls[0]:",
			"t.yaml:6: directory.ldap.bind_dn:",
			"t.yaml:4: directory.ldap: give exactly one of bind_password, bind_password_file, bind_password_env",
			"t.yaml:9: directory.ldap.user_filter:",
			"directory.ldap.base_dn: required",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
		if strings.Contains(err.Error(), "an-environment-secret") {
			t.Error("the error contains the bind password")
		}
	})
	t.Run("no clear passwords, no credentials in URLs", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+`directory:
  backend: ldap
  ldap:
    urls: ["ldap://dc1.example.edu", "ldaps://svc:Hunter2-LDAP-pw@dc2.example.edu", "ldap://127.0.0.1:3890"]
    base_dn: dc=example,dc=edu
`), fakeEnv)
		if err == nil {
			t.Fatal("accepted")
		}
		for _, want := range []string{
			"directory.ldap.urls[0]: ldap:// without start_tls sends users' passwords in clear; use ldaps://, start_tls, or allow_plaintext",
			"directory.ldap.urls[1]: credentials in the URL",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
		if strings.Contains(err.Error(), "urls[2]") {
			t.Errorf("plain ldap:// to loopback refused:\n%v", err)
		}
		if strings.Contains(err.Error(), "Hunter2") {
			t.Errorf("the error repeats a password from a URL:\n%v", err)
		}
	})
}

func TestPolicyAndReplies(t *testing.T) {
	const head = "directory: {backend: file, file: {path: /u.yaml}}\n"
	t.Run("resolved", func(t *testing.T) {
		_, err := Parse("/etc/twostep/t.yaml", []byte(head+`radius:
  dictionaries: [dictionary.aruba]
clients:
  - {name: fw, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, reply_attributes: [Fortinet-Group-Name], on_error: drop}
  - {name: sw, networks: [10.0.0.2], secret: s3cret-s3cret-s3cret, reply_attributes: []}
  - {name: any, networks: [10.0.0.3], secret: s3cret-s3cret-s3cret}
policy:
  default: deny
  groups:
    - group: break-glass
      action: exempt
    - group: vpn-admins
      reply:
        - {name: Class, value: admins}
        - {name: Fortinet-Group-Name, value: fw-admins}
`), fakeEnv)
		if err == nil {
			t.Fatal("a missing dictionary file was accepted")
		}
		if !strings.Contains(err.Error(), "t.yaml:3: radius.dictionaries:") {
			t.Errorf("got %v, want the dictionary problem at line 3", err)
		}
		c, err := Parse("/etc/twostep/t.yaml", []byte(head+`clients:
  - {name: fw, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, reply_attributes: [Fortinet-Group-Name], on_error: drop}
  - {name: sw, networks: [10.0.0.2], secret: s3cret-s3cret-s3cret, reply_attributes: []}
  - {name: any, networks: [10.0.0.3], secret: s3cret-s3cret-s3cret}
policy:
  default: deny
  groups:
    - group: break-glass
      action: exempt
    - group: vpn-admins
      reply:
        - {name: Class, value: admins}
        - {name: Fortinet-Group-Name, value: fw-admins}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Clients[0].DropOnError || c.Clients[1].DropOnError {
			t.Errorf("on_error: got %v %v, want true false", c.Clients[0].DropOnError, c.Clients[1].DropOnError)
		}
		if c.Clients[1].ReplyAttributes == nil || len(c.Clients[1].ReplyAttributes) != 0 || c.Clients[2].ReplyAttributes != nil {
			t.Errorf("reply_attributes: [] must mean none and absent all; got %#v %#v", c.Clients[1].ReplyAttributes, c.Clients[2].ReplyAttributes)
		}
		p := c.Policy
		if p.Default != challenge.Deny || len(p.Groups) != 2 || p.Groups[0].Action != challenge.Exempt || p.Groups[1].Action != challenge.Require || len(p.Groups[1].Reply) != 2 {
			t.Errorf("policy: got %+v", p)
		}
	})
	t.Run("problems at their lines", func(t *testing.T) {
		_, err := Parse("t.yaml", []byte(head+`clients:
  - name: fw
    networks: [10.0.0.1]
    secret: s3cret-s3cret-s3cret
    reply_attributes: [Fortinet-Group-Nme]
    on_error: ignore
policy:
  default: allow
  groups:
    - action: exempt
    - group: admins
      action: deny
      reply: [{name: Class, value: x}]
    - group: ops
      reply:
        - {name: Session-Timeout, value: forever}
        - {name: No-Such-Attribute, value: x}
`), fakeEnv)
		if err == nil {
			t.Fatal("accepted")
		}
		for _, want := range []string{
			`t.yaml:6: clients[0].reply_attributes[0]: "Fortinet-Group-Nme": unknown attribute`,
			"t.yaml:7: clients[0].on_error: must be reject",
			"t.yaml:9: policy.default: must be require, exempt or deny",
			"t.yaml:11: policy.groups[0].group: a group name is needed",
			"t.yaml:14: policy.groups[1].reply: a deny rule sends no attributes",
			"t.yaml:17: policy.groups[2].reply[0]: attribute Session-Timeout:",
			`t.yaml:18: policy.groups[2].reply[1]: attribute "No-Such-Attribute": unknown attribute`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

func TestLDAPPreset(t *testing.T) {
	src := "clients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\ndirectory:\n  backend: ldap\n  ldap:\n    preset: %s\n    urls: [ldaps://dc1.example.edu]\n    base_dn: dc=example,dc=edu\n"
	c, err := Parse("t.yaml", fmt.Appendf(nil, src, "ad"), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Directory.LDAP.Preset != "ad" {
		t.Errorf("preset: got %q, want ad", c.Directory.LDAP.Preset)
	}
	_, err = Parse("t.yaml", fmt.Appendf(nil, src, "novell"), fakeEnv)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:5: directory.ldap.preset:") {
		t.Errorf("unknown preset: got %v, want a problem at line 5", err)
	}
}

func TestSecondFactorSections(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"embedded data", c.Cluster.Embedded.DataDir, embedded.DefaultDataDir},
			{"embedded start timeout", c.Cluster.Embedded.StartTimeout, time.Minute},
			{"prefix", c.Cluster.Etcd.Prefix, "/twostep/"},
			{"endpoints", c.Cluster.Etcd.Endpoints[0], "http://127.0.0.1:2379"},
			{"seed keys", c.Cluster.SeedKeys, cluster.DefaultSeedKeys},
			{"issuer", c.Cluster.Issuer, cluster.DefaultIssuer},
			{"window back", c.Passcodes.Window.Back, 1},
			{"window ahead", c.Passcodes.Window.Ahead, 0},
			{"lockout attempts", c.Passcodes.Lockout.Attempts, 10},
			{"lockout duration", c.Passcodes.Lockout.Duration, 15 * time.Minute},
			{"unenrolled", c.Passcodes.Unenrolled.Allow, false},
			{"mode", c.Clients[0].Login.Mode, challenge.ModeAuto},
			{"failmode", c.Clients[0].Login.FailMode, challenge.Secure},
			{"hotp window", c.Passcodes.HOTPWindow, 10},
			{"resync window", c.Passcodes.ResyncWindow, 100},
			{"bypass digits", c.Bypass.Digits, 9},
			{"short", c.Bypass.Profiles["short"], cluster.BypassProfile{Uses: 5, TTL: 24 * time.Hour}},
			{"long", c.Bypass.Profiles["long"], cluster.BypassProfile{Uses: 0, TTL: 168 * time.Hour}},
			{"recovery ttl", c.Recovery.TTL, time.Hour},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
			}
		}
	})
	t.Run("external etcd", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, mode: append, separator: "", code_length: 6, failmode: safe}]
directory: {backend: file, file: {path: users.yaml}}
cluster: {endpoints: ["https://etcd1:2379"], ca_file: ca.pem, username: twostep, password_env: GOOD}
passcodes: {lockout: {until_unlock: true}, unenrolled: {action: allow, grace: 72h}}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Cluster.UsesEmbedded() || c.Cluster.Etcd.CAFile != "/etc/twostep/ca.pem" || c.Cluster.Etcd.Password != "an-environment-secret" {
			t.Errorf("cluster: %+v", c.Cluster)
		}
		if l := c.Clients[0].Login; l.Mode != challenge.ModeAppend || l.CodeLength != 6 || l.Separator != "" || l.FailMode != challenge.Safe {
			t.Errorf("login: %+v", l)
		}
		if p := c.Passcodes; p.Lockout.Duration != 0 || !p.Unenrolled.Allow || p.Unenrolled.Grace != 72*time.Hour {
			t.Errorf("passcodes: %+v", p)
		}
	})
	t.Run("every problem with its line", func(t *testing.T) {
		const src = `clients:
  - name: nas
    networks: [10.0.0.1]
    secret: s3cret-s3cret-s3cret
    mode: sometimes
    separator: "1"
    failmode: open
    code_length: 7
directory: {backend: file, file: {path: users.yaml}}
cluster:
  endpoints: ["https://etcd1:2379"]
  embedded: {data_dir: /var/lib/x}
  username: only-a-name
passcodes:
  window_back: 11
  challenge_ttl: 1s
  lockout: {attempts: 101, duration: 10s}
  unenrolled: {action: maybe}
bypass:
  digits: 6
  profiles:
    weekend: {uses: -1, ttl: 48h}
recovery: {ttl: 720h}
`
		_, err := Parse("t.yaml", []byte(src), fakeEnv)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want *configs.Error", err)
		}
		for _, want := range []string{
			"t.yaml:5: clients[0].mode: must be auto",
			"t.yaml:6: clients[0].separator: must not contain digits",
			"t.yaml:7: clients[0].failmode: must be secure",
			"t.yaml:8: clients[0].code_length: must be 6 or 8",
			"t.yaml:12: cluster.embedded: give either endpoints",
			"t.yaml:13: cluster.username: give password too, or neither",
			"t.yaml:15: passcodes.window_back: must be 0 to 10",
			"t.yaml:16: passcodes.challenge_ttl: must be 10s to 10m",
			"t.yaml:17: passcodes.lockout.attempts: must be 1 to 100",
			"passcodes.lockout.duration: must be at least 1m",
			"t.yaml:18: passcodes.unenrolled.action: must be deny",
			"t.yaml:20: bypass.digits: must be 8 to 12",
			"t.yaml:22: bypass.profiles.weekend.uses: must be 0",
			"t.yaml:23: recovery.ttl: must be 1m to 7 days",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

// TestEmbeddedEtcdListeners: the embedded etcd's client and peer URLs
// stay on loopback unless TLS and certificate authentication of the other
// side guard them; whoever reaches the client URL can edit every record.
func TestEmbeddedEtcdListeners(t *testing.T) {
	const (
		// Each listener's TLS, as lines of cluster.embedded.
		serverTLS = "\n    cert_file: etcd.pem\n    key_file: etcd-key.pem"
		clientCA  = "\n    client_ca_file: clients-ca.pem"
		peerTLS   = "\n    peer_cert_file: peer.pem\n    peer_key_file: peer-key.pem"
		peerCA    = "\n    peer_ca_file: peers-ca.pem"
		// twostepd's own client certificate, which an etcd demanding
		// client certificates wants from it too.
		clientCert = "\n  cert_file: twostepd.pem\n  key_file: twostepd-key.pem\n  ca_file: ca.pem"
	)
	offClient := func(u string) string {
		return fmt.Sprintf("t.yaml:5: cluster.embedded.client_url: %q listens off loopback without TLS and client certificates: anyone on the network could edit the cluster's records; use https:// with cert_file, key_file and client_ca_file, or a loopback address", u)
	}
	offPeer := func(u string) string {
		return fmt.Sprintf("t.yaml:5: cluster.embedded.peer_url: %q listens off loopback without TLS and peer certificates: anyone on the network could speak to etcd as a cluster member; use https:// with peer_cert_file, peer_key_file and peer_ca_file, or a loopback address", u)
	}
	tests := []struct {
		name string
		// embedded is cluster.embedded's body; its first line is line 5.
		embedded string
		// cluster is more of the cluster section, after embedded.
		cluster string
		want    []string // nil: accepted
	}{
		{"client on 0.0.0.0", "client_url: http://0.0.0.0:2379", "", []string{offClient("http://0.0.0.0:2379")}},
		{"client on ::", "client_url: http://[::]:2379", "", []string{offClient("http://[::]:2379")}},
		{"client on every address", "client_url: http://:2379", "", []string{offClient("http://:2379")}},
		{"client on a LAN address", "client_url: http://192.168.1.10:2379", "", []string{offClient("http://192.168.1.10:2379")}},
		{"client on a host name", "client_url: http://etcd1.example.edu:2379", "", []string{offClient("http://etcd1.example.edu:2379")}},
		{"client on localhost", "client_url: http://localhost:2379", "", nil},
		{"client on 127.0.0.1", "client_url: http://127.0.0.1:2379", "", nil},
		{"client on 127.0.0.2", "client_url: http://127.0.0.2:2379", "", nil},
		{"client on [::1]", "client_url: http://[::1]:2379", "", nil},
		{"client https without client certificates", "client_url: https://192.168.1.10:2379" + serverTLS, "", []string{
			`t.yaml:5: cluster.embedded.client_url: "https://192.168.1.10:2379" listens off loopback without client certificates: anyone on the network could edit the cluster's records; give client_ca_file (the CA of the clients' certificates), or use a loopback address`,
		}},
		{"client https with client certificates", "client_url: https://192.168.1.10:2379" + serverTLS + clientCA, clientCert, nil},
		{"client https with a host name", "client_url: https://etcd1.example.edu:2379" + serverTLS + clientCA, clientCert, nil},
		{"client https on 0.0.0.0", "client_url: https://0.0.0.0:2379" + serverTLS + clientCA, clientCert, []string{
			`t.yaml:5: cluster.embedded.client_url: "https://0.0.0.0:2379": clients, twostepd too, connect to this URL and check cert_file for its host, and no certificate names every address: give this host's address or a name in cert_file`,
		}},
		{"client https on ::", "client_url: https://[::]:2379" + serverTLS + clientCA, clientCert, []string{
			`t.yaml:5: cluster.embedded.client_url: "https://[::]:2379": clients, twostepd too, connect to this URL`,
		}},
		{"client https on loopback without client certificates", "client_url: https://127.0.0.1:2379" + serverTLS, "", nil},
		{"client https without a certificate", "client_url: https://192.168.1.10:2379" + clientCA, clientCert, []string{
			"t.yaml:5: cluster.embedded.client_url: https:// needs cert_file and key_file",
			"t.yaml:6: cluster.embedded.client_ca_file: client certificates need TLS: give cert_file and key_file",
		}},
		{"client http with a certificate off loopback", "client_url: http://0.0.0.0:2379" + serverTLS, "", []string{
			`t.yaml:5: cluster.embedded.client_url: "http://0.0.0.0:2379" is http:// but cert_file is set; use https://`,
			offClient("http://0.0.0.0:2379"),
		}},
		{"client certificates demanded of twostepd", "client_url: https://127.0.0.1:2379" + serverTLS + clientCA, "", []string{
			"t.yaml:8: cluster.embedded.client_ca_file: the embedded etcd will demand a client certificate from twostepd and twostepctl too: give cluster.cert_file and cluster.key_file, signed by this CA",
		}},
		{"cert_file without key_file", "client_url: https://127.0.0.1:2379\n    cert_file: etcd.pem", "", []string{
			"t.yaml:6: cluster.embedded.cert_file: give key_file too, or neither",
		}},

		{"peer on 0.0.0.0", "peer_url: http://0.0.0.0:2380", "", []string{offPeer("http://0.0.0.0:2380")}},
		{"peer on ::", "peer_url: http://[::]:2380", "", []string{offPeer("http://[::]:2380")}},
		{"peer on a LAN address", "peer_url: http://10.0.0.5:2380", "", []string{offPeer("http://10.0.0.5:2380")}},
		{"peer on a host name", "peer_url: http://etcd1.example.edu:2380", "", []string{offPeer("http://etcd1.example.edu:2380")}},
		{"peer on localhost", "peer_url: http://localhost:2380", "", nil},
		{"peer on 127.0.0.1", "peer_url: http://127.0.0.1:2380", "", nil},
		{"peer on [::1]", "peer_url: http://[::1]:2380", "", nil},
		{"peer https without peer certificates", "peer_url: https://10.0.0.5:2380" + peerTLS, "", []string{
			`t.yaml:5: cluster.embedded.peer_url: "https://10.0.0.5:2380" listens off loopback without peer certificates: anyone on the network could speak to etcd as a cluster member; give peer_ca_file (the CA of the peers' certificates), or use a loopback address`,
		}},
		{"peer https with peer certificates", "peer_url: https://10.0.0.5:2380" + peerTLS + peerCA, "", nil},
		{"peer https on loopback without peer certificates", "peer_url: https://127.0.0.1:2380" + peerTLS, "", nil},
		{"peer https without a certificate", "peer_url: https://10.0.0.5:2380" + peerCA, "", []string{
			"t.yaml:5: cluster.embedded.peer_url: https:// needs peer_cert_file and peer_key_file",
			"t.yaml:6: cluster.embedded.peer_ca_file: peer certificates need TLS: give peer_cert_file and peer_key_file",
		}},
		{"peer http with a certificate", "peer_url: http://127.0.0.1:2380" + peerTLS, "", []string{
			`t.yaml:5: cluster.embedded.peer_url: "http://127.0.0.1:2380" is http:// but peer_cert_file is set; use https://`,
		}},
		{"peer_key_file without peer_cert_file", "peer_url: https://127.0.0.1:2380\n    peer_key_file: peer-key.pem", "", []string{
			"t.yaml:6: cluster.embedded.peer_key_file: give peer_cert_file too, or neither",
		}},
		{"start_timeout", "start_timeout: 5m", "", nil},
		{"start_timeout too short", "start_timeout: 0s", "", []string{"t.yaml:5: cluster.embedded.start_timeout: at least 1s; got 0s"}},
		{"start_timeout not a duration", "start_timeout: soon", "", []string{"t.yaml:5: cluster.embedded.start_timeout: a string is not allowed here; want a duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\n" +
				"directory: {backend: file, file: {path: users.yaml}}\n" +
				"cluster:\n  embedded:\n    " + tt.embedded + tt.cluster + "\n"
			_, err := Parse("t.yaml", []byte(src), fakeEnv)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *configs.Error", err)
			}
			if got, want := len(ce.Problems), len(tt.want); got != want {
				t.Errorf("got %d problems, want %d:\n%v", got, want, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}

	t.Run("resolved", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
cluster:
  embedded:
    client_url: https://192.0.2.1:2379
    peer_url: https://192.0.2.1:2380
    cert_file: etcd.pem
    key_file: etcd-key.pem
    client_ca_file: clients-ca.pem
    peer_cert_file: peer.pem
    peer_key_file: peer-key.pem
    peer_ca_file: peers-ca.pem
  cert_file: twostepd.pem
  key_file: twostepd-key.pem
  ca_file: ca.pem
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"cert_file", c.Cluster.Embedded.CertFile, "/etc/twostep/etcd.pem"},
			{"key_file", c.Cluster.Embedded.KeyFile, "/etc/twostep/etcd-key.pem"},
			{"client_ca_file", c.Cluster.Embedded.ClientCAFile, "/etc/twostep/clients-ca.pem"},
			{"peer_cert_file", c.Cluster.Embedded.PeerCertFile, "/etc/twostep/peer.pem"},
			{"peer_key_file", c.Cluster.Embedded.PeerKeyFile, "/etc/twostep/peer-key.pem"},
			{"peer_ca_file", c.Cluster.Embedded.PeerCAFile, "/etc/twostep/peers-ca.pem"},
			{"twostepd's endpoint", c.Cluster.Etcd.Endpoints[0], "https://192.0.2.1:2379"},
			{"twostepd's certificate", c.Cluster.Etcd.CertFile, "/etc/twostep/twostepd.pem"},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
			}
		}
	})

	t.Run("with the file's other problems", func(t *testing.T) {
		const src = `radius: {workers: -1}
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
cluster:
  embedded:
    client_url: http://0.0.0.0:2379
    peer_url: http://0.0.0.0:2380
passcodes: {window_back: 11}
`
		_, err := Parse("t.yaml", []byte(src), fakeEnv)
		for _, want := range []string{
			"t.yaml:1: radius.workers",
			`t.yaml:6: cluster.embedded.client_url: "http://0.0.0.0:2379" listens off loopback`,
			`t.yaml:7: cluster.embedded.peer_url: "http://0.0.0.0:2380" listens off loopback`,
			"t.yaml:8: passcodes.window_back",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

func TestPushSection(t *testing.T) {
	t.Run("off by default, limits and NAS waits defaulted", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if c.Push.Enabled() {
			t.Error("push on without push.listen")
		}
		if l := c.Clients[0].Login; l.NASTimeout != 5*time.Second || l.NASRetries != 2 || l.VerifiedPush {
			t.Errorf("login: %+v", l)
		}
	})
	t.Run("on", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, nas_timeout: 30s, nas_retries: 0, verified_push: true}]
directory: {backend: file, file: {path: users.yaml}}
push:
  listen: "127.0.0.1:8443"
  webpush: {vapid_key_file: vapid.key, subject: "mailto:x@example.edu"}
policy: {groups: [{group: admins, verified_push: true}]}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		p := c.Push
		if !p.Enabled() || p.API.URLs[0] != "http://127.0.0.1:8443" || p.Approval.Timeout != time.Minute || p.Approval.Limit.Count != 3 || p.Approval.Limit.Window != 5*time.Minute ||
			p.Notify.WebPush.VAPIDKeyFile != "/etc/twostep/vapid.key" || p.API.AnswersPerMinute != 600 {
			t.Errorf("push: %+v", p)
		}
		if l := c.Clients[0].Login; l.NASTimeout != 30*time.Second || l.NASRetries != 0 || !l.VerifiedPush {
			t.Errorf("login: %+v", l)
		}
		if !c.Policy.Groups[0].VerifiedPush {
			t.Error("group verified_push not read")
		}
	})
	t.Run("a limit written in part keeps the other default", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
push: {listen: "127.0.0.1:8443", limit: {count: 5}}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if l := c.Push.Approval.Limit; l.Count != 5 || l.Window != 5*time.Minute {
			t.Errorf("limit: got %+v, want 5 in 5m", l)
		}
	})
	t.Run("every problem with its line", func(t *testing.T) {
		const src = `clients:
  - name: nas
    networks: [10.0.0.1]
    secret: s3cret-s3cret-s3cret
    mode: append
    verified_push: true
    nas_timeout: 500ms
directory: {backend: file, file: {path: users.yaml}}
push:
  listen: "0.0.0.0:8443"
  urls: ["ftp://x", "http://twostep.example.edu"]
  timeout: 1s
  limit: {count: 3, window: 1s}
  webpush: {vapid_key_file: v.key, subject: admin}
  answers_per_minute: -5
`
		_, err := Parse("t.yaml", []byte(src), fakeEnv)
		for _, want := range []string{
			"t.yaml:6: clients[0].verified_push: needs a client that shows challenges",
			"t.yaml:7: clients[0].nas_timeout: the NAS's RADIUS timeout, between 1s and 2m",
			"t.yaml:10: push.listen: devices answer over the network: give push.tls",
			"push.urls[0]: must be an https:// URL",
			"push.urls[1]: devices answer over the network: use https://",
			"t.yaml:12: push.timeout: must be between 10s and 10m",
			"push.limit.window: must be between 1m and 24h",
			"push.webpush.subject: push services want a contact",
			"push.answers_per_minute: must be between 1 and 1000000",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

func TestPortalSection(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := Parse("/etc/twostep/t.yaml", []byte(`
clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
portal:
  listen: "0.0.0.0:443"
  tls: {cert_file: portal.crt, key_file: portal.key}
  trusted_proxies: ["192.0.2.10", "10.1.0.0/16"]
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		p := c.Portal
		if !p.Enabled() || p.TLS.CertFile != "/etc/twostep/portal.crt" || p.Session.TTL != 8*time.Hour || p.Session.Idle != 15*time.Minute ||
			p.Attempts != 5 || p.SignInsPerMinute != 10 || p.AddressSignInsPerMinute != 100 || p.Tokens.SelfAssign || p.TLS.SelfSigned ||
			len(p.TrustedProxies) != 2 || p.TrustedProxies[0] != "192.0.2.10" || !strings.HasPrefix(p.URL, "https://") {
			t.Errorf("portal: %+v", p)
		}
	})
	t.Run("the address ceiling", func(t *testing.T) {
		tests := []struct {
			name, lines string
			want        int
			wantErr     string
		}{
			{"follows sign_ins_per_minute", "sign_ins_per_minute: 30", 300, ""},
			{"set", "sign_ins_per_minute: 30\n  address_sign_ins_per_minute: 1000", 1000, ""},
			{"below the per-user limit", "sign_ins_per_minute: 30\n  address_sign_ins_per_minute: 20", 0,
				"portal.address_sign_ins_per_minute: must be between sign_ins_per_minute (30) and 1000000; got 20"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c, err := Parse("t.yaml", []byte(`clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
portal:
  listen: "0.0.0.0:443"
  tls: {self_signed: true}
  `+tt.lines+"\n"), fakeEnv)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("got %v, want %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Portal.AddressSignInsPerMinute; got != tt.want {
					t.Errorf("got %d, want %d", got, tt.want)
				}
			})
		}
	})
	t.Run("every problem with its line", func(t *testing.T) {
		const src = `clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
portal:
  listen: "0.0.0.0:443"
  session: {ttl: 1m, idle: 1s}
  attempts: 50
  sign_ins_per_minute: -1
  address_sign_ins_per_minute: 2000000
  trusted_proxies: ["10.0.0.0/8", "proxy.example.edu", "10.1.2.3/16"]
`
		_, err := Parse("t.yaml", []byte(src), fakeEnv)
		for _, want := range []string{
			"portal.tls: the portal is served over HTTPS only",
			"portal.session.ttl: must be between 5m and 168h",
			"portal.session.idle: must be between 1m",
			"portal.attempts: must be between 1 and 20",
			"portal.sign_ins_per_minute: must be between 1 and 10000",
			"portal.address_sign_ins_per_minute: must be between sign_ins_per_minute",
			"portal.trusted_proxies[1]: an address or CIDR prefix",
			// One reading of addresses and prefixes, the clients' networks'.
			`portal.trusted_proxies[2]: an address or CIDR prefix of a reverse proxy: "10.1.2.3/16" has host bits set; did you mean 10.1.0.0/16?`,
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
	})
}

func TestRequireMessageAuthenticator(t *testing.T) {
	tests := []struct {
		value   string // "" leaves the key out
		want    radiusd.MARequirement
		wantErr string
	}{
		{"", radiusd.MARequired, ""},
		{"true", radiusd.MARequired, ""},
		{"auto", radiusd.MAAuto, ""},
		{"false", radiusd.MAOptional, ""},
		{`"auto"`, radiusd.MAAuto, ""},
		{"yes", 0, "t.yaml:5: clients[0].require_message_authenticator: must be true (drop every request without Message-Authenticator), auto (drop them once the client has sent one) or false; got \"yes\""},
		{"Auto", radiusd.MAAuto, ""},
		{"True", radiusd.MARequired, ""}, // YAML 1.1 booleans, as older files write them
		{"FALSE", radiusd.MAOptional, ""},
	}
	for _, tt := range tests {
		name := tt.value
		if name == "" {
			name = "absent"
		}
		t.Run(name, func(t *testing.T) {
			line := ""
			if tt.value != "" {
				line = "\n    require_message_authenticator: " + tt.value
			}
			c, err := Parse("/x/t.yaml", []byte(`clients:
  - name: nas
    networks: [10.0.0.1]
    secret: s3cret-s3cret-s3cret`+line+`
directory: {backend: file, file: {path: /u.yaml}}
`), fakeEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Clients[0].MessageAuthenticator; got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestChanged: a reload learns which sections changed, by comparing the
// sections as loaded.
func TestChanged(t *testing.T) {
	const base = `clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
directory: {backend: file, file: {path: users.yaml}}
`
	parse := func(src string) *Config {
		t.Helper()
		c, err := Parse("/etc/twostep/t.yaml", []byte(src), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(base)
	tests := []struct {
		name, src string
		want      []string
	}{
		{"nothing", base, nil},
		{"defaults written out", base + "radius: {workers: 256, reject_delay: 1s}\nmetrics: {listen: \"127.0.0.1:9812\"}\n", nil},
		{"a secret", strings.Replace(base, "s3cret-s3cret-s3cret", "an0ther-s3cret-s3cret", 1), []string{"clients"}},
		{"several sections", base + "log: {level: debug}\npush: {listen: \"127.0.0.1:8443\"}\nportal: {listen: \"127.0.0.1:8444\", tls: {self_signed: true}}\nbypass: {digits: 10}\n",
			[]string{"log", "bypass", "push", "portal"}},
		{"the users file's path", strings.Replace(base, "users.yaml", "other.yaml", 1), []string{"directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(tt.src).Changed(old); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNodeName(t *testing.T) {
	const base = "clients: [{name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\ndirectory: {backend: file, file: {path: users.yaml}}\n"
	c, err := Parse("t.yaml", []byte(base+"cluster: {node_name: radius-1}\n"), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Cluster.NodeName(); got != "radius-1" {
		t.Errorf("NodeName: got %q, want radius-1", got)
	}
	c, err = Parse("t.yaml", []byte(base), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if host, _ := os.Hostname(); host != "" && c.Cluster.NodeName() != host {
		t.Errorf("NodeName without node_name: got %q, want the host name %q", c.Cluster.NodeName(), host)
	}
	for _, bad := range []string{`"a/b"`, `"two words"`, strings.Repeat("x", 65)} {
		_, err := Parse("t.yaml", []byte(base+"cluster: {node_name: "+bad+"}\n"), fakeEnv)
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Field != "cluster.node_name" {
			t.Errorf("node_name %s: got %v, want one problem at cluster.node_name", bad, err)
		}
	}
}
