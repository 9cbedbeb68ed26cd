package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"go.yaml.in/yaml/v3"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/directory"
	"twostep/history"
	"twostep/portal"
	"twostep/radiusd"
)

// file is the configuration file as decoded: each section its owner's
// struct (configs owns log and metrics, the daemon's own).
type file struct {
	Log       logSection                `yaml:"log"`
	RADIUS    radiusd.Config            `yaml:"radius"`
	Clients   []radiusd.ClientConfig    `yaml:"clients"`
	Directory directory.Config          `yaml:"directory"`
	Metrics   Metrics                   `yaml:"metrics"`
	Cluster   Cluster                   `yaml:"cluster"`
	Passcodes challenge.PasscodesConfig `yaml:"passcodes"`
	Bypass    cluster.BypassConfig      `yaml:"bypass"`
	Recovery  cluster.RecoveryConfig    `yaml:"recovery"`
	Push      Push                      `yaml:"push"`
	Portal    portal.Config             `yaml:"portal"`
	History   history.Config            `yaml:"history"`
	Policy    challenge.Policy          `yaml:"policy"`
}

// logSection is the log section as written.
type logSection struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
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
	f := file{
		RADIUS:    radiusd.DefaultConfig(),
		Metrics:   Metrics{Listen: DefaultMetrics},
		Cluster:   DefaultCluster(),
		Passcodes: challenge.DefaultPasscodesConfig(),
		Bypass:    cluster.DefaultBypassConfig(),
		Push:      Push{Approval: challenge.DefaultPushConfig()},
		History:   history.DefaultConfig(),
	}
	if !v.decode(&root, &f) {
		return nil, v.err()
	}
	dir := filepath.Dir(path)
	absPaths(reflect.ValueOf(&f).Elem(), dir)

	// Each section checked by its owner, its problems put at their lines;
	// the secrets resolved; the checks across sections.
	c := &Config{Path: path, Log: v.log(f.Log), Metrics: v.metrics(f.Metrics)}
	v.section("radius", f.RADIUS.Validate())
	c.RADIUS = f.RADIUS.WithDefaults()
	dict := v.dictionary(c.RADIUS.Dictionaries)
	c.Clients = v.clients(f.Clients, dir, env, dict)
	c.Policy = v.policy(f.Policy, dict)
	c.Directory = v.directory(f.Directory, dir, env)
	c.Cluster = v.cluster(f.Cluster, dir, env)
	var err error
	c.Passcodes, err = f.Passcodes.Passcodes()
	v.section("passcodes", err)
	v.section("bypass", f.Bypass.Validate())
	c.Bypass = f.Bypass.WithDefaults()
	v.section("recovery", f.Recovery.Validate())
	c.Recovery = f.Recovery.WithDefaults()
	c.Push = v.push(f.Push, dir, env)
	c.Portal = v.portal(f.Portal)
	v.section("history", f.History.Validate())
	c.History = f.History.WithDefaults()
	if err := v.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func absPath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
