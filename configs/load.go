package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/confcheck"
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
	RADIUS    radiusd.Config         `yaml:"radius"`
	Clients   []radiusd.ClientConfig `yaml:"clients"`
	Directory directory.Config       `yaml:"directory"`
	Metrics   struct {
		Listen *string `yaml:"listen"`
	} `yaml:"metrics"`
	Cluster   cluster.Config            `yaml:"cluster"`
	Passcodes challenge.PasscodesConfig `yaml:"passcodes"`
	Bypass    cluster.BypassConfig      `yaml:"bypass"`
	Recovery  cluster.RecoveryConfig    `yaml:"recovery"`
	Push      rawPush                   `yaml:"push"`
	Portal    rawPortal                 `yaml:"portal"`
	Policy    challenge.Policy          `yaml:"policy"`
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
	r := raw{
		RADIUS:    radiusd.DefaultConfig(),
		Cluster:   cluster.DefaultConfig(),
		Passcodes: challenge.DefaultPasscodesConfig(),
		Bypass:    cluster.DefaultBypassConfig(),
	}
	if !v.decode(&root, &r) {
		return nil, v.err()
	}
	absPaths(reflect.ValueOf(&r).Elem(), filepath.Dir(path))

	c := &Config{Path: path}
	v.log(&r, &c.Log)
	v.section("radius", r.RADIUS.Validate())
	c.RADIUS = r.RADIUS.WithDefaults()
	dict := v.dictionary(c.RADIUS.Dictionaries)
	c.Clients = v.clients(r.Clients, filepath.Dir(path), env, dict)
	c.Policy = v.policy(r.Policy, dict)
	c.Directory = v.directory(r.Directory, filepath.Dir(path), env)
	c.Cluster = v.cluster(r.Cluster, filepath.Dir(path), env)
	var err error
	c.Passcodes, err = r.Passcodes.Passcodes()
	v.section("passcodes", err)
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

// clients resolves the clients' secrets (unless the tools asked not to)
// and reads the entries; their reply attributes must be in the radius
// section's dictionaries.
func (v *validator) clients(entries []radiusd.ClientConfig, dir string, env Env, dict *radiusd.Dictionary) []radiusd.Client {
	for i := range entries {
		if !env.SkipSecrets {
			entries[i].Secret = v.secret(fmt.Sprintf("clients[%d].secret", i), true, radiusd.MaxSecretLen, dir, env)
		}
		for j, name := range entries[i].ReplyAttributes {
			if dict != nil {
				if _, err := dict.Encode(name, "0"); errors.Is(err, radiusd.ErrUnknownAttribute) {
					v.add(fmt.Sprintf("clients[%d].reply_attributes[%d]", i, j), "%q: %v", name, radiusd.ErrUnknownAttribute)
				}
			}
		}
	}
	clients, err := radiusd.Clients(entries)
	v.section("clients", err)
	return clients
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
	if err := confcheck.HostPort(addr); err != nil {
		v.add(p, "%v", err)
	}
}

func absPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
