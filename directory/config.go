package directory

import (
	"time"

	"twostep/confcheck"
)

// Config is the directory section of the configuration file: which
// backend checks passwords, and its settings. Only the chosen backend's
// settings are used (and checked). cmd/twostepd opens the backend
// (OpenFile or NewLDAP) and runs its watch or probe loop.
type Config struct {
	// Backend is BackendFile (a users file) or BackendLDAP (OpenLDAP,
	// Active Directory). Required.
	Backend string `yaml:"backend"`
	// File configures the file backend.
	File FileConfig `yaml:"file"`
	// LDAP configures the ldap backend; its defaults are written in
	// LDAPConfig and applied by NewLDAP.
	LDAP LDAPConfig `yaml:"ldap"`
	// HealthInterval is how often the ldap backend is probed (a bind as
	// the service account and a search, within op_timeout); while the
	// probe fails, the node says it is not ready (/readyz,
	// Status-Server). Default 5s (DefaultHealthInterval); at least 100ms.
	HealthInterval time.Duration `yaml:"health_interval"`
}

// FileConfig configures the file backend.
type FileConfig struct {
	// Path is the users file (OpenFile). Required.
	Path string `yaml:"path" config:"path"`
	// Watch is how often the file is checked for changes (File.Watch);
	// default 2s (DefaultWatch): 0 keeps the default, a negative value
	// turns watching off.
	Watch time.Duration `yaml:"watch"`
}

// The backends of Config.Backend.
const (
	BackendFile = "file"
	BackendLDAP = "ldap"
)

// Defaults and limits of Config.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultWatch          = 2 * time.Second
	minHealthInterval     = 100 * time.Millisecond
)

// WithDefaults returns c with HealthInterval and File.Watch set when
// zero.
func (c Config) WithDefaults() Config {
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.File.Watch == 0 {
		c.File.Watch = DefaultWatch
	}
	return c
}

// Validate reports every problem of c, the chosen backend's settings
// included, in one confcheck.Problems.
func (c Config) Validate() error {
	var ps confcheck.Problems
	if c.HealthInterval != 0 && c.HealthInterval < minHealthInterval {
		ps.Add("health_interval", "must be at least %s; got %s", minHealthInterval, c.HealthInterval)
	}
	switch c.Backend {
	case "":
		ps.Add("backend", "choose a backend: file or ldap")
	case BackendLDAP:
		ps.Include("ldap", c.LDAP.Validate())
	case BackendFile:
		if c.File.Path == "" {
			ps.Add("file.path", "the users file is needed (create one with `twostepctl user add -users FILE USER`)")
		}
	default:
		ps.Add("backend", "unknown backend %q; known: file, ldap", c.Backend)
	}
	return ps.Err()
}
