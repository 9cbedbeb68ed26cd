package configs

import (
	"time"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
)

type rawPasscodes struct {
	HOTPWindow        int           `yaml:"hotp_window"`
	ResyncWindow      int           `yaml:"resync_window"`
	WindowBack        *int          `yaml:"window_back"`
	WindowAhead       int           `yaml:"window_ahead"`
	ChallengeTTL      time.Duration `yaml:"challenge_ttl"`
	ChallengeAttempts int           `yaml:"challenge_attempts"`
	Prompt            string        `yaml:"prompt"`
	Lockout           struct {
		Attempts    *int          `yaml:"attempts"`
		Duration    time.Duration `yaml:"duration"`
		UntilUnlock bool          `yaml:"until_unlock"`
	} `yaml:"lockout"`
	Unenrolled struct {
		Action  string        `yaml:"action"`
		Grace   time.Duration `yaml:"grace"`
		Message string        `yaml:"message"`
	} `yaml:"unenrolled"`
}

// Defaults of the passcodes section not kept by its package.
const (
	DefaultWindowBack = 1
	// DefaultLockoutAttempts follows NIST SP 800-63B, which allows at most
	// 100 consecutive failures; 10 stops guessing a 6-digit code cold.
	DefaultLockoutAttempts = challenge.DefaultLockoutAttempts
	DefaultLockoutDuration = challenge.DefaultLockoutDuration
	maxReplyMessage        = 200
)

// cluster resolves the etcd password (for tools too: they read the
// cluster) and checks the section.
func (v *validator) cluster(c cluster.Config, dir string, env Env) cluster.Config {
	const field = "cluster.password"
	pw := v.secret(field, false, 0, dir, env)
	c.Etcd.Password = string(pw)
	check := c
	if pw == nil && v.givenSecret(field) {
		check.Etcd.Password = unresolved
	}
	v.section("cluster", check.Validate())
	return c.WithDefaults()
}

func (v *validator) passcodes(r rawPasscodes) challenge.Passcodes {
	p := challenge.Passcodes{
		Window:            otp.Window{Back: DefaultWindowBack, Ahead: r.WindowAhead},
		ChallengeTTL:      r.ChallengeTTL,
		ChallengeAttempts: r.ChallengeAttempts,
		Prompt:            r.Prompt,
	}
	if r.WindowBack != nil {
		p.Window.Back = *r.WindowBack
	}
	if p.Window.Back < 0 || p.Window.Back > 10 {
		v.add("passcodes.window_back", "must be 0 to 10 steps; got %d", p.Window.Back)
	}
	p.HOTPWindow, p.ResyncWindow = r.HOTPWindow, r.ResyncWindow
	if p.HOTPWindow == 0 {
		p.HOTPWindow = otp.DefaultHOTPWindow
	}
	if p.ResyncWindow == 0 {
		p.ResyncWindow = otp.DefaultResyncWindow
	}
	if p.HOTPWindow < 1 || p.HOTPWindow > 100 {
		v.add("passcodes.hotp_window", "must be 1 to 100 counters; got %d", p.HOTPWindow)
	}
	if p.ResyncWindow < p.HOTPWindow || p.ResyncWindow > 10000 {
		v.add("passcodes.resync_window", "must be hotp_window to 10000 counters; got %d", p.ResyncWindow)
	}
	if p.Window.Ahead < 0 || p.Window.Ahead > 10 {
		v.add("passcodes.window_ahead", "must be 0 to 10 steps; got %d", p.Window.Ahead)
	}
	if p.ChallengeTTL != 0 && (p.ChallengeTTL < 10*time.Second || p.ChallengeTTL > 10*time.Minute) {
		v.add("passcodes.challenge_ttl", "must be 10s to 10m; got %s", p.ChallengeTTL)
	}
	if p.ChallengeAttempts < 0 || p.ChallengeAttempts > 10 {
		v.add("passcodes.challenge_attempts", "must be 1 to 10 (0 keeps the default, 3); got %d", p.ChallengeAttempts)
	}
	if len(p.Prompt) > maxReplyMessage {
		v.add("passcodes.prompt", "at most %d bytes fit a Reply-Message beside the State; got %d", maxReplyMessage, len(p.Prompt))
	}
	if hasControl(p.Prompt) {
		v.add("passcodes.prompt", "control characters are not allowed (NASes show the text as it is)")
	}

	p.Lockout.Attempts = DefaultLockoutAttempts
	if r.Lockout.Attempts != nil {
		p.Lockout.Attempts = *r.Lockout.Attempts
	}
	if p.Lockout.Attempts < 0 || p.Lockout.Attempts > 100 {
		v.add("passcodes.lockout.attempts", "must be 1 to 100 (NIST SP 800-63B), or 0 to turn lockout off; got %d", p.Lockout.Attempts)
	}
	switch {
	case r.Lockout.UntilUnlock && r.Lockout.Duration != 0:
		v.add("passcodes.lockout.duration", "give duration or until_unlock, not both")
	case r.Lockout.UntilUnlock && p.Lockout.Attempts == 0:
		v.add("passcodes.lockout.until_unlock", "goes with attempts of 1 or more (attempts: 0 turns lockout off)")
	case r.Lockout.UntilUnlock:
		p.Lockout.Duration = 0
	case r.Lockout.Duration == 0:
		p.Lockout.Duration = DefaultLockoutDuration
	case r.Lockout.Duration < time.Minute:
		v.add("passcodes.lockout.duration", "must be at least 1m (or until_unlock: true); got %s", r.Lockout.Duration)
	default:
		p.Lockout.Duration = r.Lockout.Duration
	}

	switch r.Unenrolled.Action {
	case "", "deny":
		if r.Unenrolled.Grace != 0 {
			v.add("passcodes.unenrolled.grace", "a grace period goes with action: allow")
		}
	case "allow":
		p.Unenrolled.Allow = true
	default:
		v.add("passcodes.unenrolled.action", "must be deny (default) or allow; got %q", r.Unenrolled.Action)
	}
	if r.Unenrolled.Grace < 0 {
		v.add("passcodes.unenrolled.grace", "must not be negative; got %s", r.Unenrolled.Grace)
	}
	p.Unenrolled.Grace = r.Unenrolled.Grace
	p.Unenrolled.Message = r.Unenrolled.Message
	if len(p.Unenrolled.Message) > maxReplyMessage {
		v.add("passcodes.unenrolled.message", "at most %d bytes; got %d", maxReplyMessage, len(p.Unenrolled.Message))
	}
	if hasControl(p.Unenrolled.Message) {
		v.add("passcodes.unenrolled.message", "control characters are not allowed (NASes show the text as it is)")
	}
	return p
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
