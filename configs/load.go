package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"twostep/cluster"
	"twostep/directory"
	"twostep/radiusd"
)

// raw mirrors the file as written; pointers mark fields whose absence
// differs from their zero value.
type raw struct {
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	RADIUS struct {
		Listen       []string       `yaml:"listen"`
		Workers      int            `yaml:"workers"`
		DuplicateTTL time.Duration  `yaml:"duplicate_ttl"`
		RejectDelay  *time.Duration `yaml:"reject_delay"`
		Dictionaries []string       `yaml:"dictionaries"`
	} `yaml:"radius"`
	Clients   []rawClient      `yaml:"clients"`
	Directory directory.Config `yaml:"directory"`
	Metrics   struct {
		Listen *string `yaml:"listen"`
	} `yaml:"metrics"`
	Cluster   cluster.Config         `yaml:"cluster"`
	Passcodes rawPasscodes           `yaml:"passcodes"`
	Bypass    cluster.BypassConfig   `yaml:"bypass"`
	Recovery  cluster.RecoveryConfig `yaml:"recovery"`
	Push      rawPush                `yaml:"push"`
	Portal    rawPortal              `yaml:"portal"`
	Policy    struct {
		Default string `yaml:"default"`
		Groups  []struct {
			Group        string `yaml:"group"`
			Action       string `yaml:"action"`
			VerifiedPush bool   `yaml:"verified_push"`
			Reply        []struct {
				Name  string `yaml:"name"`
				Value string `yaml:"value"`
			} `yaml:"reply"`
		} `yaml:"groups"`
	} `yaml:"policy"`
}

type rawClient struct {
	Name                        string        `yaml:"name"`
	DisplayName                 string        `yaml:"display_name"`
	Networks                    []string      `yaml:"networks"`
	Secret                      string        `yaml:"secret" config:"secret"`
	RequireMessageAuthenticator *string       `yaml:"require_message_authenticator"`
	ReplyAttributes             []string      `yaml:"reply_attributes"`
	OnError                     string        `yaml:"on_error"`
	Mode                        string        `yaml:"mode"`
	Separator                   *string       `yaml:"separator"`
	CodeLength                  int           `yaml:"code_length"`
	FailMode                    string        `yaml:"failmode"`
	NASTimeout                  time.Duration `yaml:"nas_timeout"`
	NASRetries                  *int          `yaml:"nas_retries"`
	VerifiedPush                bool          `yaml:"verified_push"`
}

// Load reads, validates and resolves the configuration at path. A file
// with problems is refused whole: the *Error lists every problem with its
// line. Secrets are resolved (secret_file, secret_env) but never printed.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return Parse(path, b, Env{})
}

// Env is where secret_env and secret_file are resolved; the zero value
// uses the process environment and file system. Tests substitute both.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	// SkipSecrets leaves the RADIUS clients' secrets unresolved and
	// unchecked, for tools that read the file but serve no RADIUS
	// (twostepctl). The LDAP and etcd passwords are still resolved: tools
	// look users up and read the cluster.
	SkipSecrets bool
}

// LoadForTools reads path like Load but leaves client secrets unresolved.
func LoadForTools(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("configs: %w", err)
	}
	return Parse(path, b, Env{SkipSecrets: true})
}

// Parse is Load on bytes already read. Relative paths are taken from
// path's directory.
func Parse(path string, b []byte, env Env) (*Config, error) {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.ReadFile == nil {
		env.ReadFile = os.ReadFile
	}
	v := &validator{file: path, broken: map[string]bool{}}

	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		v.addLine(syntaxLine(b, err), "", "%s", syntaxMessage(err))
		return nil, v.err()
	}
	v.lines = map[string]int{}
	indexLines(&root, "", v.lines)

	// Decoded key by key: an unknown key or a value of the wrong type is
	// reported at its line, and the checks below still run on the rest.
	// Each section is decoded over its owner's defaults (decode.go).
	r := raw{Cluster: cluster.DefaultConfig(), Bypass: cluster.DefaultBypassConfig()}
	if !v.decode(&root, &r) {
		return nil, v.err()
	}
	absPaths(reflect.ValueOf(&r).Elem(), filepath.Dir(path))

	c := &Config{Path: path}
	v.log(&r, &c.Log)
	v.radius(&r, &c.RADIUS, filepath.Dir(path))
	dict := v.dictionary(c.RADIUS.Dictionaries)
	c.Clients = v.clients(r.Clients, filepath.Dir(path), env, dict)
	c.Policy = v.policy(&r, dict)
	c.Directory = v.directory(r.Directory, filepath.Dir(path), env)
	c.Cluster = v.cluster(r.Cluster, filepath.Dir(path), env)
	c.Passcodes = v.passcodes(r.Passcodes)
	v.section("bypass", r.Bypass.Validate())
	c.Bypass = r.Bypass.WithDefaults()
	v.section("recovery", r.Recovery.Validate())
	c.Recovery = r.Recovery.WithDefaults()
	c.Push = v.push(r.Push, filepath.Dir(path), env)
	c.Portal = v.portal(r.Portal, filepath.Dir(path))
	c.Metrics.Listen = DefaultMetrics
	if r.Metrics.Listen != nil {
		c.Metrics.Listen = *r.Metrics.Listen
		if c.Metrics.Listen != "" {
			v.hostPort("metrics.listen", c.Metrics.Listen)
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *validator) log(r *raw, l *Log) {
	l.Level = zerolog.InfoLevel
	if r.Log.Level != "" {
		lvl, err := zerolog.ParseLevel(r.Log.Level)
		if err != nil || lvl < zerolog.DebugLevel || lvl > zerolog.ErrorLevel {
			v.add("log.level", "must be one of debug, info, warn, error; got %q", r.Log.Level)
		}
		l.Level = lvl
	}
	switch r.Log.Format {
	case "", "json":
		l.Format = "json"
	case "console":
		l.Format = "console"
	default:
		v.add("log.format", "must be json or console; got %q", r.Log.Format)
	}
}

func (v *validator) radius(r *raw, out *RADIUS, dir string) {
	for _, f := range r.RADIUS.Dictionaries {
		out.Dictionaries = append(out.Dictionaries, absPath(dir, f))
	}
	out.Listen = r.RADIUS.Listen
	if len(out.Listen) == 0 {
		out.Listen = []string{DefaultListen}
	}
	seen := map[string]bool{}
	for i, a := range out.Listen {
		p := fmt.Sprintf("radius.listen[%d]", i)
		v.hostPort(p, a)
		if host, _, err := net.SplitHostPort(a); err == nil && host == "" {
			// A socket for both families cannot learn which IPv4 address
			// was asked, so its answers could leave from another one.
			v.add(p, "%q has no host: list 0.0.0.0%s for IPv4 and [::]%s for IPv6", a, a, a)
		}
		if seen[a] {
			v.add(p, "%q is listed twice", a)
		}
		seen[a] = true
	}
	out.Workers = r.RADIUS.Workers
	switch {
	case out.Workers == 0:
		out.Workers = DefaultWorkers
	case out.Workers < 1 || out.Workers > 65536:
		v.add("radius.workers", "must be between 1 and 65536; got %d", out.Workers)
	}
	out.DuplicateTTL = r.RADIUS.DuplicateTTL
	switch {
	case out.DuplicateTTL == 0:
		out.DuplicateTTL = DefaultDuplicateTTL
	case out.DuplicateTTL < 5*time.Second || out.DuplicateTTL > 30*time.Second:
		v.add("radius.duplicate_ttl", "must be between 5s and 30s (RFC 5080); got %s", out.DuplicateTTL)
	}
	out.RejectDelay = DefaultRejectDelay
	if r.RADIUS.RejectDelay != nil {
		out.RejectDelay = *r.RADIUS.RejectDelay
	}
	if out.RejectDelay < 0 || out.RejectDelay > 5*time.Second {
		v.add("radius.reject_delay", "must be 0s (off) to 5s, below the NAS's timeout; got %s", out.RejectDelay)
	}
}

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (v *validator) clients(rcs []rawClient, dir string, env Env, dict *radiusd.Dictionary) []radiusd.Client {
	if len(rcs) == 0 {
		v.add("clients", "at least one client (NAS) is needed; see configs/example.yaml")
		return nil
	}
	var out []radiusd.Client
	names := map[string]bool{}
	prefixes := map[netip.Prefix]string{}
	for i, rc := range rcs {
		p := fmt.Sprintf("clients[%d]", i)
		c := radiusd.Client{Name: rc.Name}
		switch {
		case rc.Name == "":
			v.add(p+".name", "a name is needed (letters, digits, '.', '_', '-'); it labels logs and metrics")
		case !clientName.MatchString(rc.Name):
			v.add(p+".name", "%q: use letters, digits, '.', '_', '-' (at most 63)", rc.Name)
		case names[rc.Name]:
			v.add(p+".name", "%q is used by another client", rc.Name)
		}
		names[rc.Name] = true
		c.DisplayName = v.displayName(p, rc)
		if len(rc.Networks) == 0 {
			v.add(p+".networks", "at least one address or CIDR prefix is needed")
		}
		for j, n := range rc.Networks {
			np := fmt.Sprintf("%s.networks[%d]", p, j)
			pfx, err := parsePrefix(n)
			if err != nil {
				v.add(np, "%v", err)
				continue
			}
			if other, dup := prefixes[pfx]; dup {
				v.add(np, "%s is already given to client %q", pfx, other)
			}
			prefixes[pfx] = rc.Name
			c.Networks = append(c.Networks, pfx)
		}
		if !env.SkipSecrets {
			c.Secret = v.secret(p+".secret", true, MaxSecretLen, dir, env)
		}
		if rc.RequireMessageAuthenticator != nil {
			r, ok := radiusd.ParseMARequirement(*rc.RequireMessageAuthenticator)
			if !ok {
				v.add(p+".require_message_authenticator", "must be true (drop every request without Message-Authenticator), auto (drop them once the client has sent one) or false; got %q", *rc.RequireMessageAuthenticator)
			}
			c.MessageAuthenticator = r
		}
		if rc.ReplyAttributes != nil {
			c.ReplyAttributes = []string{}
		}
		for j, name := range rc.ReplyAttributes {
			if dict != nil {
				if _, err := dict.Encode(name, "0"); errors.Is(err, radiusd.ErrUnknownAttribute) {
					v.add(fmt.Sprintf("%s.reply_attributes[%d]", p, j), "%q: %v", name, radiusd.ErrUnknownAttribute)
				}
			}
			c.ReplyAttributes = append(c.ReplyAttributes, name)
		}
		c.Login = v.clientLogin(p, rc)
		switch rc.OnError {
		case "", "reject":
		case "drop":
			c.DropOnError = true
		default:
			v.add(p+".on_error", "must be reject (answer Access-Reject) or drop (no answer: the NAS fails over); got %q", rc.OnError)
		}
		out = append(out, c)
	}
	return out
}

// maxDisplayName bounds a client's display name: it is a title on a
// phone's lock screen.
const maxDisplayName = 64

// displayName reads what users see for client p in a push; default its
// name.
func (v *validator) displayName(p string, rc rawClient) string {
	name := strings.TrimSpace(rc.DisplayName)
	switch {
	case name == "":
		return rc.Name
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDisplayName || strings.ContainsFunc(name, unicode.IsControl):
		v.add(p+".display_name", "%q: at most %d characters, no control characters", name, maxDisplayName)
	}
	return name
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// directory resolves the ldap backend's password (for tools too:
// twostepctl looks users up in the directory) and checks the section.
func (v *validator) directory(d directory.Config, dir string, env Env) directory.Config {
	check := d
	if d.Backend == directory.BackendLDAP {
		const field = "directory.ldap.bind_password"
		pw := v.secret(field, false, 0, dir, env)
		d.LDAP.BindPassword = string(pw)
		check.LDAP.BindPassword = d.LDAP.BindPassword
		if pw == nil && v.givenSecret(field) {
			check.LDAP.BindPassword = unresolved
		}
	}
	v.section("directory", check.Validate())
	return d.WithDefaults()
}

func (v *validator) hostPort(p, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(p, "%q is not host:port (use [::1]:1812 for IPv6)", addr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.add(p, "%q: port must be a number from 0 to 65535", addr)
	}
}

func absPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
