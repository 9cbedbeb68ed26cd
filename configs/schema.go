package configs

import (
	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/directory"
	"twostep/portal"
	"twostep/radiusd"
)

// Config is a loaded and validated configuration file.
type Config struct {
	// Path is the file the configuration was read from.
	Path string
	// Log configures the daemon's log.
	Log Log
	// RADIUS configures the RADIUS listeners.
	RADIUS radiusd.Config
	// Clients are the NASes allowed to send requests, secrets resolved.
	Clients []radiusd.Client
	// Directory chooses the first-factor backend.
	Directory directory.Config
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics
	// Policy maps directory groups to exempt / require / deny and to reply
	// attributes; default: require for everybody, no attributes.
	Policy challenge.Policy
	// Cluster is where the shared state lives: the embedded etcd (default)
	// or an external cluster, and the seed key file.
	Cluster cluster.Config
	// Passcodes configures TOTP checks, challenges, lockout and users
	// without a device.
	Passcodes challenge.Passcodes
	// Bypass and Recovery shape the bypass codes and recovery passcodes
	// twostepctl issues.
	Bypass   cluster.BypassConfig
	Recovery cluster.RecoveryConfig
	// Push configures push approval and the approval API; off unless
	// push.listen is set.
	Push Push
	// Portal configures the self-service portal; off unless
	// portal.listen is set.
	Portal portal.Config
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged; default info.
	Level zerolog.Level
	// Format is "json" (default) or "console" (human-readable, for a terminal).
	Format string
}

// Metrics configures the operations HTTP listener.
type Metrics struct {
	// Listen is the address for /metrics, /healthz and /readyz; default
	// 127.0.0.1:9812; an empty string turns the listener off.
	Listen string `yaml:"listen"`
}

// Defaults written once, used by the loader and documented in
// configs/example.yaml.
const (
	DefaultMetrics = "127.0.0.1:9812"
)
