package configs

import (
	"reflect"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/directory"
	"twostep/history"
	"twostep/notify"
	"twostep/portal"
	"twostep/radiusd"
)

// Config is a loaded and validated configuration file: each section as
// its owner reads it, defaults applied and secrets resolved. The section
// tag names a field's section in the file (Changed).
type Config struct {
	// Path is the file the configuration was read from.
	Path string
	// Log configures the daemon's log.
	Log Log `section:"log"`
	// RADIUS configures the RADIUS listeners.
	RADIUS radiusd.Config `section:"radius"`
	// Clients are the NASes allowed to send requests, secrets resolved.
	Clients []radiusd.Client `section:"clients"`
	// Directory chooses the first-factor backend.
	Directory directory.Config `section:"directory"`
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics `section:"metrics"`
	// Policy maps directory groups to exempt / require / deny and to reply
	// attributes; default: require for everybody, no attributes.
	Policy challenge.Policy `section:"policy"`
	// Cluster is where the shared state lives: the embedded etcd (default)
	// or an external cluster, and the seed key file.
	Cluster Cluster `section:"cluster"`
	// Passcodes configures TOTP checks, challenges, lockout and users
	// without a device.
	Passcodes challenge.Passcodes `section:"passcodes"`
	// Bypass and Recovery shape the bypass codes and recovery passcodes
	// twostepctl issues.
	Bypass   cluster.BypassConfig   `section:"bypass"`
	Recovery cluster.RecoveryConfig `section:"recovery"`
	// Push configures push approval and the approval API; off unless
	// push.listen is set.
	Push Push `section:"push"`
	// Portal configures the self-service portal; off unless
	// portal.listen is set.
	Portal portal.Config `section:"portal"`
	// History configures the login history; on by default.
	History history.Config `section:"history"`
}

// Changed names the sections whose settings differ from old's, in the
// file's order: what a reload applies, or says needs a restart.
func (c *Config) Changed(old *Config) []string {
	var names []string
	now, was := reflect.ValueOf(c).Elem(), reflect.ValueOf(old).Elem()
	for f := range now.Type().Fields() {
		name := f.Tag.Get("section")
		if name != "" && !reflect.DeepEqual(now.FieldByIndex(f.Index).Interface(), was.FieldByIndex(f.Index).Interface()) {
			names = append(names, name)
		}
	}
	return names
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

// DefaultMetrics is metrics.listen's default.
const DefaultMetrics = "127.0.0.1:9812"

// Push is the push section: push approval, off unless push.listen is
// set. Its keys belong to three owners, each holding its own.
type Push struct {
	// API is the approval API this node serves (listen, tls, urls,
	// answers_per_minute).
	API portal.APIConfig `yaml:",inline"`
	// Approval is how long a push is open and how many a user is sent
	// (timeout, limit); AnswerURLs and Node are the daemon's to set.
	Approval challenge.PushConfig `yaml:",inline"`
	// Notify is how pushes leave: Web Push, webhooks, the fraud alert
	// (webpush, webhook, alert).
	Notify notify.Config `yaml:",inline"`
}

// Enabled reports whether push approval is on.
func (p Push) Enabled() bool { return p.API.Enabled() }
