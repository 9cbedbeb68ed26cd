package challenge

import (
	"time"

	"twostep/confcheck"
)

// LoginConfig is how a RADIUS client's users give their second factor,
// as a client entry of the configuration file writes it
// (radiusd.ClientConfig holds it inline); Login reads it into a
// ClientLogin.
type LoginConfig struct {
	// Mode is auto (default), append or challenge (Mode).
	Mode string `yaml:"mode"`
	// Separator parts password and passcode in append and auto mode, at
	// most 4 characters and no digits; default ",". "" (with CodeLength)
	// is none.
	Separator *string `yaml:"separator"`
	// CodeLength, 6 or 8, takes the passcode as the password's last
	// characters with no separator (append mode, separator "").
	CodeLength int `yaml:"code_length"`
	// FailMode is secure (default) or safe (FailMode).
	FailMode string `yaml:"failmode"`
	// NASTimeout is the NAS's RADIUS timeout, 1s to MaxNASWait; default
	// 5s (DefaultNASTimeout).
	NASTimeout time.Duration `yaml:"nas_timeout"`
	// NASRetries is the NAS's retransmissions, 0 to 10; default 2
	// (DefaultNASRetries).
	NASRetries *int `yaml:"nas_retries"`
	// VerifiedPush shows a number in an Access-Challenge that the user
	// types on the device (modes auto and challenge).
	VerifiedPush bool `yaml:"verified_push"`
}

// MaxNASWait is the longest any NAS waits for an answer, its timeout
// times its tries: twostep answers every request within it.
const MaxNASWait = 2 * time.Minute

// Login reads c, with every problem in one confcheck.Problems under the
// client entry's keys.
func (c LoginConfig) Login() (ClientLogin, error) {
	var ps confcheck.Problems
	l := ClientLogin{NASTimeout: DefaultNASTimeout, NASRetries: DefaultNASRetries, VerifiedPush: c.VerifiedPush}
	if c.NASTimeout != 0 {
		l.NASTimeout = c.NASTimeout
		if c.NASTimeout < time.Second || c.NASTimeout > MaxNASWait {
			ps.Add("nas_timeout", "the NAS's RADIUS timeout, between 1s and 2m; got %v", c.NASTimeout)
		}
	}
	if c.NASRetries != nil {
		l.NASRetries = *c.NASRetries
		if l.NASRetries < 0 || l.NASRetries > 10 {
			ps.Add("nas_retries", "the NAS's retransmissions, 0 to 10; got %d", l.NASRetries)
		}
	}
	if total := l.NASTimeout * time.Duration(l.NASRetries+1); total > MaxNASWait {
		ps.Add("nas_timeout", "the NAS waits %v in all (timeout × tries); twostep answers within 2m", total)
	}
	if c.Mode != "" {
		m, ok := ParseMode(c.Mode)
		if !ok {
			ps.Add("mode", "must be auto (default), append or challenge; got %q", c.Mode)
		}
		l.Mode = m
	}
	if c.FailMode != "" {
		f, ok := ParseFailMode(c.FailMode)
		if !ok {
			ps.Add("failmode", "must be secure (reject while the cluster is down; default) or safe (password alone); got %q", c.FailMode)
		}
		l.FailMode = f
	}
	if l.VerifiedPush && l.Mode == ModeAppend {
		ps.Add("verified_push", "needs a client that shows challenges (mode auto or challenge): the number is shown in an Access-Challenge")
	}
	if l.Mode == ModeChallenge && (c.Separator != nil || c.CodeLength != 0) {
		ps.Add("mode", "challenge mode never splits the password: separator and code_length go with append or auto")
	}
	if c.Separator != nil {
		l.Separator = *c.Separator
		switch {
		case l.Separator == "" && c.CodeLength == 0:
			ps.Add("separator", "an empty separator needs code_length (the passcode's fixed length)")
		case len(l.Separator) > 4:
			ps.Add("separator", "at most 4 characters; got %d", len(l.Separator))
		case containsDigit(l.Separator):
			ps.Add("separator", "must not contain digits: passcodes are digits")
		}
	}
	if c.CodeLength != 0 {
		switch {
		case c.CodeLength != 6 && c.CodeLength != 8:
			ps.Add("code_length", "must be 6 or 8 (the devices' digits); got %d", c.CodeLength)
		case l.Mode != ModeAppend:
			ps.Add("code_length", "only with mode: append (in auto mode nothing tells a password from a password and a code)")
		case c.Separator == nil || *c.Separator != "":
			ps.Add("code_length", "goes with separator: \"\" (no separator)")
		}
		l.CodeLength = c.CodeLength
	}
	return l, ps.Err()
}

func containsDigit(s string) bool {
	for _, r := range s {
		if r >= '0' && r <= '9' {
			return true
		}
	}
	return false
}
