package cluster

import (
	"maps"
	"regexp"
	"slices"
	"time"

	"twostep/confcheck"
)

// BypassConfig is the bypass section of the configuration file: the
// bypass codes the help desk issues with twostepctl (IssueBypass).
type BypassConfig struct {
	// Digits is the length of a code, 8 to 12; default 9 (shorter codes
	// would look like TOTP codes and fall to guessing).
	Digits int `yaml:"digits"`
	// Profiles name the kinds of codes. The file's profiles are read over
	// DefaultBypassProfiles: short (5 uses, 24 hours: a forgotten
	// device) and long (unlimited uses, 7 days: a lost only device), whose
	// uses and ttl a profile of the same name keeps unless it gives them.
	Profiles map[string]BypassProfile `yaml:"profiles"`
}

// BypassProfile is what a bypass code of one profile allows.
type BypassProfile struct {
	// Uses bounds the logins, 0 (any number until the code expires) to
	// MaxBypassUses.
	Uses int `yaml:"uses"`
	// TTL is the code's life, MinBypassTTL to MaxBypassTTL.
	TTL time.Duration `yaml:"ttl"`
}

// RecoveryConfig is the recovery section of the configuration file: the
// recovery passcodes the help desk issues with twostepctl
// (IssueRecovery).
type RecoveryConfig struct {
	// Digits is the length of a passcode, 8 to 12; default 9.
	Digits int `yaml:"digits"`
	// TTL is a passcode's life, MinRecoveryTTL to MaxRecoveryTTL; default
	// 1 hour.
	TTL time.Duration `yaml:"ttl"`
}

// Defaults and limits of the help desk's codes, for the configuration and
// twostepctl's flags alike.
const (
	DefaultCodeDigits  = 9
	minCodeDigits      = 8
	maxCodeDigits      = 12
	DefaultRecoveryTTL = time.Hour
	MinRecoveryTTL     = time.Minute
	MaxRecoveryTTL     = 7 * 24 * time.Hour
	MaxBypassUses      = 1000
	MinBypassTTL       = time.Minute
	MaxBypassTTL       = 90 * 24 * time.Hour
)

// DefaultBypassProfiles are the bypass profiles of the help-desk guides.
func DefaultBypassProfiles() map[string]BypassProfile {
	return map[string]BypassProfile{
		"short": {Uses: 5, TTL: 24 * time.Hour},
		"long":  {Uses: 0, TTL: 7 * 24 * time.Hour},
	}
}

// DefaultBypassConfig is the section a file that leaves it out stands
// for, for a loader to decode the file's keys over: the default profiles.
func DefaultBypassConfig() BypassConfig {
	return BypassConfig{Profiles: DefaultBypassProfiles()}
}

// WithDefaults returns c with its defaults applied: the digits, and a
// default profile's ttl where the file gave it as 0.
func (c BypassConfig) WithDefaults() BypassConfig {
	if c.Digits == 0 {
		c.Digits = DefaultCodeDigits
	}
	profiles := maps.Clone(c.Profiles)
	for name, p := range profiles {
		if d, ok := DefaultBypassProfiles()[name]; ok && p.TTL == 0 {
			p.TTL = d.TTL
			profiles[name] = p
		}
	}
	c.Profiles = profiles
	return c
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Validate reports every problem of c in one confcheck.Problems.
func (c BypassConfig) Validate() error {
	var ps confcheck.Problems
	c = c.WithDefaults()
	checkDigits(&ps, c.Digits)
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		p, f := c.Profiles[name], "profiles."+name
		if !profileName.MatchString(name) {
			ps.Add(f, "a profile name is 1 to 32 letters, digits, '-' or '_'")
		}
		switch {
		case p.Uses < 0 || p.Uses > MaxBypassUses:
			ps.Add(f+".uses", "must be 0 (unlimited) to %d; got %d", MaxBypassUses, p.Uses)
		case p.TTL < MinBypassTTL || p.TTL > MaxBypassTTL:
			ps.Add(f+".ttl", "must be 1m to 90 days (2160h); got %s", p.TTL)
		}
	}
	return ps.Err()
}

// WithDefaults returns c with its defaults applied.
func (c RecoveryConfig) WithDefaults() RecoveryConfig {
	if c.Digits == 0 {
		c.Digits = DefaultCodeDigits
	}
	if c.TTL == 0 {
		c.TTL = DefaultRecoveryTTL
	}
	return c
}

// Validate reports every problem of c in one confcheck.Problems.
func (c RecoveryConfig) Validate() error {
	var ps confcheck.Problems
	c = c.WithDefaults()
	checkDigits(&ps, c.Digits)
	if c.TTL < MinRecoveryTTL || c.TTL > MaxRecoveryTTL {
		ps.Add("ttl", "must be 1m to 7 days (168h); got %s", c.TTL)
	}
	return ps.Err()
}

// checkDigits checks the digits of a help-desk code.
func checkDigits(ps *confcheck.Problems, digits int) {
	if digits < minCodeDigits || digits > maxCodeDigits {
		ps.Add("digits", "must be %d to %d; got %d", minCodeDigits, maxCodeDigits, digits)
	}
}
