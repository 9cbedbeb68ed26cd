package history

import (
	"time"

	"twostep/cluster"
	"twostep/confcheck"
	"twostep/history/syslog"
)

// Config is the history section of the configuration file: whether and
// how long the login history is kept, and whether a Reject tells the
// user the login's reference.
type Config struct {
	// Enabled records every answered request; the file's default is true
	// (DefaultConfig).
	Enabled bool `yaml:"enabled"`
	// Retention is how long a record stays in etcd (its lease), MinRetention
	// to MaxRetention; default 720h (30 days).
	Retention time.Duration `yaml:"retention"`
	// PerUser caps the records kept for one user, and for the requests
	// no directory user was named for, together: 1 to MaxPerUser;
	// default 200.
	PerUser int `yaml:"per_user"`
	// ReferenceInReply ends the Reply-Message of an Access-Reject with
	// the login's reference ("Ref 3f9a-c21b"), which the help desk looks
	// up with `twostepctl logins -id`; the file's default is true. Only
	// with Enabled.
	ReferenceInReply bool `yaml:"reference_in_reply"`
	// Syslog sends the login records, and the cluster's audit trail, to
	// a syslog receiver too; off unless syslog.address is set. It works
	// with Enabled false as well.
	Syslog syslog.Config `yaml:"syslog"`
}

// Bounds of the history section.
const (
	MinRetention = time.Hour
	MaxRetention = 366 * 24 * time.Hour
	MaxPerUser   = 10000
)

// DefaultConfig is the section a configuration file that leaves it out
// stands for: on, 30 days, 200 records per user, the reference in
// Rejects.
func DefaultConfig() Config {
	return Config{Enabled: true, Retention: cluster.DefaultHistoryRetention, PerUser: cluster.DefaultHistoryPerUser, ReferenceInReply: true}
}

// WithDefaults returns c with Retention and PerUser set when zero, and
// the syslog section's defaults when it is on.
func (c Config) WithDefaults() Config {
	if c.Syslog.Enabled() {
		c.Syslog = c.Syslog.WithDefaults()
	}
	if c.Retention == 0 {
		c.Retention = cluster.DefaultHistoryRetention
	}
	if c.PerUser == 0 {
		c.PerUser = cluster.DefaultHistoryPerUser
	}
	return c
}

// Validate reports every problem of c in one confcheck.Problems, each
// under its key.
func (c Config) Validate() error {
	var ps confcheck.Problems
	c = c.WithDefaults()
	if c.Retention < MinRetention || c.Retention > MaxRetention {
		ps.Add("retention", "must be 1h to 366 days (8784h); got %s", c.Retention)
	}
	if c.PerUser < 1 || c.PerUser > MaxPerUser {
		ps.Add("per_user", "must be 1 to %d; got %d", MaxPerUser, c.PerUser)
	}
	ps.Include("syslog", c.Syslog.Validate())
	return ps.Err()
}
