package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// problemsOf parses src and returns its problems as "line: field: message".
func problemsOf(t *testing.T, src string) []string {
	t.Helper()
	_, err := Parse("t.yaml", []byte(src), fakeEnv)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *configs.Error", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, fmt.Sprintf("%d: %s: %s", p.Line, p.Field, p.Message))
	}
	return out
}

// TestUnknownKeysDoNotHideProblems: unknown keys, values of the wrong type
// and the checks of what was read all come out at once, each at its line.
func TestUnknownKeysDoNotHideProblems(t *testing.T) {
	const src = `log:
  levle: debug
radius:
  workers: many
  duplicate_ttl: 2m
clients:
  - name: nas
    networks: [10.0.0.1]
    secrte: s3cret-s3cret-s3cret
    nas_timeout: 5s
    verifiedpush: true
directory:
  backend: nis
cluster:
  embedded:
    data_dir: /var/lib/twostep/etcd
    seed_keys: /etc/twostep/seed.key
  client_url: http://127.0.0.1:2379
portal:
  listen: 127.0.0.1:8444
  tls: {self_signed: true}
  frobnicate: 3
`
	want := []string{
		`2: log.levle: unknown key; did you mean "level"?`,
		`4: radius.workers: a string is not allowed here; want a whole number`,
		`5: radius.duplicate_ttl: must be between 5s and 30s (RFC 5080); got 2m0s`,
		`7: clients[0]: give exactly one of secret, secret_file, secret_env`,
		`9: clients[0].secrte: unknown key; did you mean "secret"?`,
		`11: clients[0].verifiedpush: unknown key; did you mean "verified_push"?`,
		`13: directory.backend: unknown backend "nis"; known: file, ldap`,
		`17: cluster.embedded.seed_keys: unknown key here; it is a key of cluster: check its indentation`,
		`18: cluster.client_url: unknown key here; it is a key of cluster.embedded: check its indentation`,
		`22: portal.frobnicate: unknown key (configs/example.yaml lists every key)`,
	}
	got := problemsOf(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestUndecodedValuesNotReportedTwice: a value of the wrong type is one
// problem, not also the zero value's.
func TestUndecodedValuesNotReportedTwice(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"clients not a list", "clients: {name: nas}\ndirectory: {backend: file, file: {path: u.yaml}}\n",
			[]string{"1: clients: a mapping is not allowed here; want a list"}},
		{"secret not a string", "clients:\n  - {name: nas, networks: [10.0.0.1], secret: [hunter2-secret]}\ndirectory: {backend: file, file: {path: u.yaml}}\n",
			[]string{"2: clients[0].secret: a list is not allowed here; want a string"}},
		{"directory not a mapping", "clients:\n  - {name: nas, networks: [10.0.0.1], secret: s3cret-s3cret}\ndirectory: ldap\n",
			[]string{"3: directory: a string is not allowed here; want a mapping (keys and values)"}},
		{"unknown key under a known one", "clients:\n  - {name: nas, networks: [10.0.0.1], secret: s3cret-s3cret}\ndirectory: {backend: file, file: {path: u.yaml}}\ncluster:\n  pasword_file: /x\n  username: twostep\n",
			[]string{`5: cluster.pasword_file: unknown key; did you mean "password_file"?`, "6: cluster.username: give password too, or neither"}},
		{"a key given twice", "clients:\n  - {name: nas, networks: [10.0.0.1], secret: s3cret-s3cret}\ndirectory: {backend: file, file: {path: u.yaml}}\nmetrics: {listen: \"127.0.0.1:1\"}\nmetrics: {listen: \"127.0.0.1:2\"}\n",
			[]string{"5: metrics: given twice (first at line 4); remove one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src)
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || g == w
				}
				if !found {
					t.Errorf("missing %q; got:\n%s", w, strings.Join(got, "\n"))
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for _, g := range got {
				if strings.Contains(g, "hunter2") {
					t.Errorf("a problem shows the value: %s", g)
				}
			}
		})
	}
}

// TestUnreadablePasswordFile: a password_file that cannot be read is one
// problem; the user name beside it is not also said to lack a password.
func TestUnreadablePasswordFile(t *testing.T) {
	const head = "clients:\n  - {name: nas, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}\n"
	tests := []struct {
		name, src, want string
	}{
		{"etcd", head + "directory: {backend: file, file: {path: u.yaml}}\ncluster:\n  endpoints: [\"http://127.0.0.1:2379\"]\n  username: twostep\n  password_file: missing\n",
			"7: cluster.password_file: cannot read the secret: file does not exist"},
		{"etcd, variable unset", head + "directory: {backend: file, file: {path: u.yaml}}\ncluster:\n  username: twostep\n  password_env: NOT_SET\n",
			"6: cluster.password_env: environment variable NOT_SET is empty or not set"},
		{"ldap", head + "directory:\n  backend: ldap\n  ldap:\n    urls: [\"ldaps://ldap.example.edu\"]\n    base_dn: dc=example,dc=edu\n    bind_dn: cn=twostep,dc=example,dc=edu\n    bind_password_file: missing\n",
			"9: directory.ldap.bind_password_file: cannot read the secret: file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("got:\n%s\nwant only:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestSyntaxErrorLine: a syntax error is reported at the line at fault,
// not at the start of the block around it.
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		text      string
	}{
		{"key indented one too few", "log:\n  level: info\ncluster:\n  embedded:\n    data_dir: /x\n   client_url: http://127.0.0.1:2379\nmetrics: {listen: \"\"}\n",
			6, "did not find expected key (check this line's indentation"},
		{"list item key indented one too few", "clients:\n  - name: a\n    networks: [127.0.0.1]\n    secret: s3cret\n   mode: auto\ndirectory:\n  backend: file\n",
			5, "did not find expected '-' indicator"},
		{"top-level key indented", "log:\n  level: info\n  format: json\n radius:\n  listen: [x]\n",
			4, "did not find expected key"},
		{"key indented too far", "clients:\n  - name: a\n    networks: [127.0.0.1]\n      secret: s3cret\n",
			4, "did not find expected key"},
		{"unclosed flow list", "radius:\n  listen: [a,\n    b\nclients: []\n", 0, "did not find expected ',' or ']'"},
		{"tab", "log:\n\tlevel: info\n", 2, "tabs cannot indent YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.src)
			if len(got) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(got), strings.Join(got, "\n"))
			}
			if tt.line != 0 && !strings.HasPrefix(got[0], fmt.Sprintf("%d: ", tt.line)) {
				t.Errorf("got %q, want it at line %d", got[0], tt.line)
			}
			if !strings.Contains(got[0], tt.text) {
				t.Errorf("got %q, want it to contain %q", got[0], tt.text)
			}
		})
	}
}

func TestNearestKey(t *testing.T) {
	known := []string{"listen", "workers", "duplicate_ttl", "reject_delay", "dictionaries", "nas_timeout", "verified_push", "ttl", "url"}
	tests := []struct{ key, want string }{
		{"listne", "listen"},
		{"Listen", "listen"},
		{"worker", "workers"},
		{"duplicate-ttl", "duplicate_ttl"},
		{"DuplicateTTL", "duplicate_ttl"},
		{"rejectdelay", "reject_delay"},
		{"dictionnaries", "dictionaries"},
		{"nas_timout", "nas_timeout"},
		{"verifiedpush", "verified_push"},
		{"tll", ""}, // three letters: too short to guess
		{"uri", ""},
		{"threads", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := nearest(tt.key, known); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAliases: anchors, aliases and merge keys decode as YAML says, and
// the budget stops a file that expands without end.
func TestAliases(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`base: &nas {networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, mode: append}
`+"clients:\n  - <<: *nas\n    name: a\n  - <<: *nas\n    name: b\n    mode: challenge\n"+`directory: {backend: file, file: {path: u.yaml}}
`), fakeEnv)
	if err == nil {
		t.Fatalf("got %+v, want the unknown top-level key base refused", c)
	}
	if got := err.Error(); !strings.Contains(got, "t.yaml:1: base: unknown key") {
		t.Errorf("got %v, want base refused", err)
	}

	c, err = Parse("t.yaml", []byte("clients:\n  - &a {name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret, mode: append}\n  - <<: *a\n    name: b\n    networks: [10.0.0.2]\n    mode: challenge\ndirectory: {backend: file, file: {path: u.yaml}}\n"), fakeEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Clients[1].Name, " ", c.Clients[1].Login.Mode, " ", string(c.Clients[1].Secret)); got != "b challenge s3cret-s3cret-s3cret" {
		t.Errorf("merged client: got %s", got)
	}

	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		fmt.Fprintf(&b, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", 'a'+i, 'a'+i, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1, 'a'+i-1)
	}
	b.WriteString("radius: {listen: *h}\n")
	if _, err := Parse("t.yaml", []byte(b.String()), fakeEnv); err == nil || !strings.Contains(err.Error(), "more than 100000 values") {
		t.Errorf("got %v, want the expansion refused", err)
	}
}

// TestMergeKeys: merges (<<) behave as YAML says, and cannot expand a
// small file into millions of values.
func TestMergeKeys(t *testing.T) {
	t.Run("an expansion by merges is refused", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("a0: &a0 {x: 1}\n")
		for i := 1; i <= 7; i++ {
			fmt.Fprintf(&b, "a%d: &a%d {<<: [", i, i)
			for j := range 10 {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "*a%d", i-1)
			}
			b.WriteString("]}\n")
		}
		b.WriteString("radius: {<<: *a7}\n")
		_, err := Parse("t.yaml", []byte(b.String()), fakeEnv)
		if err == nil || !strings.Contains(err.Error(), "more than 100000 values") {
			t.Fatalf("got %.300v, want the expansion refused", err)
		}
		var ce *Error
		if errors.As(err, &ce) && len(ce.Problems) > maxProblems+2 {
			t.Errorf("%d problems, want at most %d, the refusal and a count of the rest", len(ce.Problems), maxProblems)
		}
	})
	t.Run("a key written beside a merge replaces the merged one", func(t *testing.T) {
		c, err := Parse("t.yaml", []byte(`directory: {backend: file, file: {path: u.yaml}}
clients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]
cluster:
  <<: {embedded: {client_url: "http://127.0.0.2:2379", data_dir: /merged}}
  embedded: {data_dir: /mine}
`), fakeEnv)
		if err != nil {
			t.Fatal(err)
		}
		if e := c.Cluster.Embedded; e.DataDir != "/mine" || e.ClientURL == "http://127.0.0.2:2379" {
			t.Errorf("got %+v, want the embedded section written here only", e)
		}
	})
	t.Run("a merge of something else than mappings", func(t *testing.T) {
		got := problemsOf(t, "radius: {<<: 5}\ndirectory: {backend: file, file: {path: u.yaml}}\nclients: [{name: a, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}]\n")
		if len(got) != 1 || !strings.Contains(got[0], "a merge (<<) takes a mapping") {
			t.Errorf("got %q", got)
		}
	})
}

// TestOwnersStructs: the decoder reads the owners' structs as their tags
// say, each section over its defaults.
func TestOwnersStructs(t *testing.T) {
	type inner struct {
		A int `yaml:"a"`
		B int `yaml:"b"`
	}
	type Shared struct {
		Shared string `yaml:"shared" config:"path"`
	}
	type section struct {
		Shared   `yaml:",inline"`
		Own      string            `yaml:"own"`
		Secret   []byte            `yaml:"secret" config:"secret"`
		Runtime  func()            `yaml:"-"`
		Inner    inner             `yaml:"inner"`
		Profiles map[string]inner  `yaml:"profiles"`
		Files    []string          `yaml:"files" config:"path"`
		Plain    map[string]string `yaml:"plain"`
	}
	type doc struct {
		S section `yaml:"s"`
	}
	defaults := func() doc {
		return doc{S: section{Own: "default", Inner: inner{A: 1, B: 2}, Profiles: map[string]inner{"short": {A: 5, B: 24}}}}
	}
	decode := func(t *testing.T, src string) (doc, *validator) {
		t.Helper()
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(src), &root); err != nil {
			t.Fatal(err)
		}
		v := &validator{file: "t.yaml", broken: map[string]bool{}, lines: map[string]int{}}
		indexLines(&root, "", v.lines)
		d := defaults()
		if !v.decode(&root, &d) {
			t.Fatal("decode gave up")
		}
		absPaths(reflect.ValueOf(&d).Elem(), "/etc/twostep")
		return d, v
	}

	d, v := decode(t, `s:
  shared: rel/file
  inner: {b: 3}
  profiles: {short: {a: 6}, long: {b: 7}}
  files: [a, /b]
  secret_file: s.secret
`)
	if err := v.err(); err != nil {
		t.Fatal(err)
	}
	want := doc{S: section{Shared: Shared{"/etc/twostep/rel/file"}, Own: "default", Inner: inner{A: 1, B: 3},
		Profiles: map[string]inner{"short": {A: 6, B: 24}, "long": {B: 7}}, Files: []string{"/etc/twostep/a", "/b"}}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v, want %+v", d, want)
	}
	if src := v.secrets["s.secret"]; src == nil || *src != (secretSource{fromFile: "s.secret"}) {
		t.Errorf("secret: got %v, want its file kept aside", src)
	}
	if got := defaults().S.Profiles["short"]; got.A != 5 {
		t.Errorf("the defaults changed: %+v", got)
	}

	_, v = decode(t, "s: {runtime: x, secert: y}\n")
	got := fmt.Sprint(v.problems)
	for _, w := range []string{`s.runtime unknown key`, `s.secert unknown key; did you mean "secret"?`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in %s", w, got)
		}
	}
}
