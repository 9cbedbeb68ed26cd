package challenge

import (
	"time"

	"twostep/challenge/otp"
	"twostep/confcheck"
)

// PasscodesConfig is the passcodes section of the configuration file, as
// the file writes it; Passcodes reads it into the engine's Passcodes.
// A loader decodes the file's keys over DefaultPasscodesConfig.
type PasscodesConfig struct {
	// WindowBack and WindowAhead are the TOTP steps accepted before and
	// after now, 0 to 10 each; default 1 back (otp.DefaultWindow), 0
	// ahead.
	WindowBack  int `yaml:"window_back"`
	WindowAhead int `yaml:"window_ahead"`
	// HOTPWindow (1 to 100) and ResyncWindow (HOTPWindow to 10000): see
	// Passcodes; default 10 and 100.
	HOTPWindow   int `yaml:"hotp_window"`
	ResyncWindow int `yaml:"resync_window"`
	// ChallengeTTL (10s to 10m) and ChallengeAttempts (1 to 10): see
	// Passcodes; default 2m and 3.
	ChallengeTTL      time.Duration `yaml:"challenge_ttl"`
	ChallengeAttempts int           `yaml:"challenge_attempts"`
	// Prompt is the Access-Challenge's Reply-Message, at most
	// MaxReplyMessage bytes without control characters; default
	// DefaultPrompt.
	Prompt string `yaml:"prompt"`
	// Lockout locks a user after consecutive failed second factors.
	Lockout LockoutConfig `yaml:"lockout"`
	// Unenrolled decides for users without a device.
	Unenrolled UnenrolledConfig `yaml:"unenrolled"`
}

// LockoutConfig is the lockout of the passcodes section.
type LockoutConfig struct {
	// Attempts is the consecutive failures that lock, 1 to 100 (NIST SP
	// 800-63B allows at most 100; 10 stops guessing a 6-digit code
	// cold), or 0 to turn lockout off; the file's default is
	// DefaultLockoutAttempts.
	Attempts int `yaml:"attempts"`
	// Duration is how long a lock holds, at least 1m; default
	// DefaultLockoutDuration.
	Duration time.Duration `yaml:"duration"`
	// UntilUnlock holds a lock until an admin unlocks, instead of
	// Duration.
	UntilUnlock bool `yaml:"until_unlock"`
}

// UnenrolledConfig is the unenrolled of the passcodes section: see
// Unenrolled.
type UnenrolledConfig struct {
	// Action is deny (default) or allow.
	Action string `yaml:"action"`
	// Grace goes with allow; 0 allows without end.
	Grace time.Duration `yaml:"grace"`
	// Message tells a denied user what to do, at most MaxReplyMessage
	// bytes without control characters.
	Message string `yaml:"message"`
}

// MaxReplyMessage bounds the texts a NAS shows (the prompt, the message
// to users without a device): what fits a Reply-Message beside the State.
const MaxReplyMessage = 200

// DefaultPasscodesConfig is the section a configuration file that leaves
// every key out stands for, where it differs from the zero value: one
// TOTP step back, lockout after DefaultLockoutAttempts failures.
func DefaultPasscodesConfig() PasscodesConfig {
	return PasscodesConfig{WindowBack: otp.DefaultWindow().Back, Lockout: LockoutConfig{Attempts: DefaultLockoutAttempts}}
}

// Passcodes reads c, with every problem in one confcheck.Problems under
// the section's keys.
func (c PasscodesConfig) Passcodes() (Passcodes, error) {
	var ps confcheck.Problems
	p := Passcodes{
		Window:            otp.Window{Back: c.WindowBack, Ahead: c.WindowAhead},
		ChallengeTTL:      c.ChallengeTTL,
		ChallengeAttempts: c.ChallengeAttempts,
		Prompt:            c.Prompt,
		HOTPWindow:        c.HOTPWindow,
		ResyncWindow:      c.ResyncWindow,
	}
	if p.Window.Back < 0 || p.Window.Back > 10 {
		ps.Add("window_back", "must be 0 to 10 steps; got %d", p.Window.Back)
	}
	if p.HOTPWindow == 0 {
		p.HOTPWindow = otp.DefaultHOTPWindow
	}
	if p.ResyncWindow == 0 {
		p.ResyncWindow = otp.DefaultResyncWindow
	}
	if p.HOTPWindow < 1 || p.HOTPWindow > 100 {
		ps.Add("hotp_window", "must be 1 to 100 counters; got %d", p.HOTPWindow)
	}
	if p.ResyncWindow < p.HOTPWindow || p.ResyncWindow > 10000 {
		ps.Add("resync_window", "must be hotp_window to 10000 counters; got %d", p.ResyncWindow)
	}
	if p.Window.Ahead < 0 || p.Window.Ahead > 10 {
		ps.Add("window_ahead", "must be 0 to 10 steps; got %d", p.Window.Ahead)
	}
	if p.ChallengeTTL != 0 && (p.ChallengeTTL < 10*time.Second || p.ChallengeTTL > 10*time.Minute) {
		ps.Add("challenge_ttl", "must be 10s to 10m; got %s", p.ChallengeTTL)
	}
	if p.ChallengeAttempts < 0 || p.ChallengeAttempts > 10 {
		ps.Add("challenge_attempts", "must be 1 to 10 (0 keeps the default, %d); got %d", DefaultChallengeAttempts, p.ChallengeAttempts)
	}
	if len(p.Prompt) > MaxReplyMessage {
		ps.Add("prompt", "at most %d bytes fit a Reply-Message beside the State; got %d", MaxReplyMessage, len(p.Prompt))
	}
	if hasControl(p.Prompt) {
		ps.Add("prompt", "control characters are not allowed (NASes show the text as it is)")
	}

	l := c.Lockout
	p.Lockout.Attempts = l.Attempts
	if l.Attempts < 0 || l.Attempts > 100 {
		ps.Add("lockout.attempts", "must be 1 to 100 (NIST SP 800-63B), or 0 to turn lockout off; got %d", l.Attempts)
	}
	switch {
	case l.UntilUnlock && l.Duration != 0:
		ps.Add("lockout.duration", "give duration or until_unlock, not both")
	case l.UntilUnlock && l.Attempts == 0:
		ps.Add("lockout.until_unlock", "goes with attempts of 1 or more (attempts: 0 turns lockout off)")
	case l.UntilUnlock:
		p.Lockout.Duration = 0
	case l.Duration == 0:
		p.Lockout.Duration = DefaultLockoutDuration
	case l.Duration < time.Minute:
		ps.Add("lockout.duration", "must be at least 1m (or until_unlock: true); got %s", l.Duration)
	default:
		p.Lockout.Duration = l.Duration
	}

	u := c.Unenrolled
	switch u.Action {
	case "", "deny":
		if u.Grace != 0 {
			ps.Add("unenrolled.grace", "a grace period goes with action: allow")
		}
	case "allow":
		p.Unenrolled.Allow = true
	default:
		ps.Add("unenrolled.action", "must be deny (default) or allow; got %q", u.Action)
	}
	if u.Grace < 0 {
		ps.Add("unenrolled.grace", "must not be negative; got %s", u.Grace)
	}
	p.Unenrolled.Grace = u.Grace
	p.Unenrolled.Message = u.Message
	if len(u.Message) > MaxReplyMessage {
		ps.Add("unenrolled.message", "at most %d bytes; got %d", MaxReplyMessage, len(u.Message))
	}
	if hasControl(u.Message) {
		ps.Add("unenrolled.message", "control characters are not allowed (NASes show the text as it is)")
	}
	return p, ps.Err()
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}
