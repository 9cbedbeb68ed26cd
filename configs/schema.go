package configs

import (
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/directory"
	"twostep/radiusd"
)

// Config is a loaded and validated configuration file.
type Config struct {
	// Path is the file the configuration was read from.
	Path string
	// Log configures the daemon's log.
	Log Log
	// RADIUS configures the RADIUS listeners.
	RADIUS RADIUS
	// Clients are the NASes allowed to send requests, secrets resolved.
	Clients []radiusd.Client
	// Directory chooses the first-factor backend.
	Directory Directory
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics
	// Policy maps directory groups to exempt / require / deny and to reply
	// attributes; default: require for everybody, no attributes.
	Policy challenge.Policy
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged; default info.
	Level zerolog.Level
	// Format is "json" (default) or "console" (human-readable, for a terminal).
	Format string
}

// RADIUS configures the RADIUS server.
type RADIUS struct {
	// Listen holds the UDP addresses to serve, each with a host (an
	// address, or 0.0.0.0 / [::] for every address of one family); default
	// ["0.0.0.0:1812"].
	Listen []string
	// Workers bounds requests decided at once; default 256.
	Workers int
	// DuplicateTTL is how long answers are kept for retransmissions
	// (RFC 5080); default 10s, allowed 5s to 30s.
	DuplicateTTL time.Duration
	// Dictionaries are FreeRADIUS-format dictionary files naming further
	// reply attributes; default none (the built-in attributes).
	Dictionaries []string
}

// Directory chooses and configures the first-factor backend.
type Directory struct {
	// Backend is "file" (the embedded default) or "ldap".
	Backend string
	// File configures the file backend.
	File FileDirectory
	// LDAP configures the ldap backend (OpenLDAP, Active Directory); its
	// defaults are written in directory.LDAPConfig.
	LDAP directory.LDAPConfig
	// HealthInterval is how often the ldap backend is probed; while no
	// server answers, /readyz and Status-Server say not ready. Default 5s.
	HealthInterval time.Duration
}

// FileDirectory configures the file backend.
type FileDirectory struct {
	// Path is the users file, made absolute relative to the config file.
	Path string
	// Watch is how often the file is checked for changes; default 2s,
	// 0 in the file keeps the default, negative turns watching off.
	Watch time.Duration
}

// Metrics configures the operations HTTP listener.
type Metrics struct {
	// Listen is the address for /metrics, /healthz and /readyz; default
	// 127.0.0.1:9812; an empty string turns the listener off.
	Listen string
}

// Defaults written once, used by the loader and documented in
// configs/example.yaml.
const (
	DefaultListen       = "0.0.0.0:1812"
	DefaultWorkers      = 256
	DefaultDuplicateTTL = 10 * time.Second
	DefaultMetrics      = "127.0.0.1:9812"
	DefaultWatch        = 2 * time.Second
	DefaultHealth       = 5 * time.Second
	MaxSecretLen        = 64
)
