package configs

import (
	"errors"
	"regexp"
	"time"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
)

type rawCluster struct {
	Endpoints      []string      `yaml:"endpoints"`
	Embedded       rawEmbedded   `yaml:"embedded"`
	Prefix         string        `yaml:"prefix"`
	CAFile         string        `yaml:"ca_file"`
	CertFile       string        `yaml:"cert_file"`
	KeyFile        string        `yaml:"key_file"`
	ServerName     string        `yaml:"server_name"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password" config:"secret"`
	DialTimeout    time.Duration `yaml:"dial_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	SeedKeys       string        `yaml:"seed_keys"`
	Issuer         string        `yaml:"issuer"`
}

type rawEmbedded struct {
	DataDir      string `yaml:"data_dir"`
	ClientURL    string `yaml:"client_url"`
	PeerURL      string `yaml:"peer_url"`
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
	PeerCertFile string `yaml:"peer_cert_file"`
	PeerKeyFile  string `yaml:"peer_key_file"`
	PeerCAFile   string `yaml:"peer_ca_file"`
	// StartTimeout is a pointer: 0s is refused, not taken as the default.
	StartTimeout *time.Duration `yaml:"start_timeout"`
}

type rawBypass struct {
	Digits   int `yaml:"digits"`
	Profiles map[string]struct {
		Uses *int          `yaml:"uses"`
		TTL  time.Duration `yaml:"ttl"`
	} `yaml:"profiles"`
}

type rawRecovery struct {
	Digits int           `yaml:"digits"`
	TTL    time.Duration `yaml:"ttl"`
}

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

// Defaults of the cluster and passcodes sections not kept by their
// packages.
const (
	DefaultWindowBack = 1
	// DefaultLockoutAttempts follows NIST SP 800-63B, which allows at most
	// 100 consecutive failures; 10 stops guessing a 6-digit code cold.
	DefaultLockoutAttempts = challenge.DefaultLockoutAttempts
	DefaultLockoutDuration = challenge.DefaultLockoutDuration
	maxReplyMessage        = 200
)

func (v *validator) cluster(r rawCluster, dir string, env Env) Cluster {
	c := Cluster{SeedKeys: absPath(dir, r.SeedKeys), Issuer: r.Issuer}
	if c.SeedKeys == "" {
		c.SeedKeys = DefaultSeedKeys
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	e := cluster.EtcdConfig{
		Endpoints: r.Endpoints, Prefix: r.Prefix,
		CAFile: absPath(dir, r.CAFile), CertFile: absPath(dir, r.CertFile), KeyFile: absPath(dir, r.KeyFile),
		ServerName: r.ServerName, Username: r.Username,
		DialTimeout: r.DialTimeout, RequestTimeout: r.RequestTimeout,
	}
	if e.Prefix == "" {
		e.Prefix = cluster.DefaultPrefix
	}
	if len(r.Endpoints) > 0 {
		if r.Embedded != (rawEmbedded{}) {
			v.add("cluster.embedded", "give either endpoints (an external etcd) or embedded, not both")
		}
	} else {
		re := r.Embedded
		c.Embedded = cluster.EmbeddedConfig{
			DataDir:      absPath(dir, re.DataDir),
			ClientURL:    re.ClientURL,
			PeerURL:      re.PeerURL,
			CertFile:     absPath(dir, re.CertFile),
			KeyFile:      absPath(dir, re.KeyFile),
			ClientCAFile: absPath(dir, re.ClientCAFile),
			PeerCertFile: absPath(dir, re.PeerCertFile),
			PeerKeyFile:  absPath(dir, re.PeerKeyFile),
			PeerCAFile:   absPath(dir, re.PeerCAFile),
		}
		if c.Embedded.DataDir == "" {
			c.Embedded.DataDir = DefaultEtcdData
		}
		if c.Embedded.ClientURL == "" {
			c.Embedded.ClientURL = cluster.DefaultClientURL
		}
		if c.Embedded.PeerURL == "" {
			c.Embedded.PeerURL = cluster.DefaultPeerURL
		}
		c.Embedded.StartTimeout = cluster.DefaultStartTimeout
		if re.StartTimeout != nil {
			c.Embedded.StartTimeout = *re.StartTimeout
			if *re.StartTimeout == 0 {
				// Validate would take it for the default.
				v.add("cluster.embedded.start_timeout", "at least 1s; got 0s")
			}
		}
		var ee *cluster.EmbeddedConfigError
		if err := c.Embedded.Validate(); errors.As(err, &ee) {
			for _, p := range ee.Problems {
				v.add("cluster.embedded."+p.Key, "%s", p.Message)
			}
		}
		// twostepd and twostepctl reach the embedded etcd as any other,
		// with the cluster section's TLS files: without a certificate
		// their own etcd would refuse them at start.
		if c.Embedded.ClientCAFile != "" && e.CertFile == "" && e.KeyFile == "" {
			v.add("cluster.embedded.client_ca_file", "the embedded etcd will demand a client certificate from twostepd and twostepctl too: give cluster.cert_file and cluster.key_file, signed by this CA")
		}
		e.Endpoints = []string{c.Embedded.ClientURL}
	}
	pw := v.secret("cluster.password", false, 0, dir, env)
	e.Password = string(pw)
	check := e
	if pw == nil && v.givenSecret("cluster.password") {
		check.Password = unresolved
	}
	if err := check.Validate(); err != nil {
		v.add("cluster", "%v", err)
	}
	c.Etcd = e
	return c
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
		p.HOTPWindow = DefaultHOTPWindow
	}
	if p.ResyncWindow == 0 {
		p.ResyncWindow = DefaultResyncWindow
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

// clientLogin reads how client p carries the second factor.
func (v *validator) clientLogin(p string, rc rawClient) challenge.ClientLogin {
	l := challenge.ClientLogin{NASTimeout: challenge.DefaultNASTimeout, NASRetries: challenge.DefaultNASRetries, VerifiedPush: rc.VerifiedPush}
	if rc.NASTimeout != 0 {
		l.NASTimeout = rc.NASTimeout
		if rc.NASTimeout < time.Second || rc.NASTimeout > 2*time.Minute {
			v.add(p+".nas_timeout", "the NAS's RADIUS timeout, between 1s and 2m; got %v", rc.NASTimeout)
		}
	}
	if rc.NASRetries != nil {
		l.NASRetries = *rc.NASRetries
		if l.NASRetries < 0 || l.NASRetries > 10 {
			v.add(p+".nas_retries", "the NAS's retransmissions, 0 to 10; got %d", l.NASRetries)
		}
	}
	if total := l.NASTimeout * time.Duration(l.NASRetries+1); total > 2*time.Minute {
		v.add(p+".nas_timeout", "the NAS waits %v in all (timeout × tries); twostep answers within 2m", total)
	}
	if rc.Mode != "" {
		m, ok := challenge.ParseMode(rc.Mode)
		if !ok {
			v.add(p+".mode", "must be auto (default), append or challenge; got %q", rc.Mode)
		}
		l.Mode = m
	}
	if rc.FailMode != "" {
		f, ok := challenge.ParseFailMode(rc.FailMode)
		if !ok {
			v.add(p+".failmode", "must be secure (reject while the cluster is down; default) or safe (password alone); got %q", rc.FailMode)
		}
		l.FailMode = f
	}
	if l.VerifiedPush && l.Mode == challenge.ModeAppend {
		v.add(p+".verified_push", "needs a client that shows challenges (mode auto or challenge): the number is shown in an Access-Challenge")
	}
	if l.Mode == challenge.ModeChallenge && (rc.Separator != nil || rc.CodeLength != 0) {
		v.add(p+".mode", "challenge mode never splits the password: separator and code_length go with append or auto")
	}
	if rc.Separator != nil {
		l.Separator = *rc.Separator
		switch {
		case l.Separator == "" && rc.CodeLength == 0:
			v.add(p+".separator", "an empty separator needs code_length (the passcode's fixed length)")
		case len(l.Separator) > 4:
			v.add(p+".separator", "at most 4 characters; got %d", len(l.Separator))
		case containsDigit(l.Separator):
			v.add(p+".separator", "must not contain digits: passcodes are digits")
		}
	}
	if rc.CodeLength != 0 {
		switch {
		case rc.CodeLength != 6 && rc.CodeLength != 8:
			v.add(p+".code_length", "must be 6 or 8 (the devices' digits); got %d", rc.CodeLength)
		case l.Mode != challenge.ModeAppend:
			v.add(p+".code_length", "only with mode: append (in auto mode nothing tells a password from a password and a code)")
		case rc.Separator == nil || *rc.Separator != "":
			v.add(p+".code_length", "goes with separator: \"\" (no separator)")
		}
		l.CodeLength = rc.CodeLength
	}
	return l
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

func containsDigit(s string) bool {
	for _, r := range s {
		if r >= '0' && r <= '9' {
			return true
		}
	}
	return false
}

// HelpDesk configures the codes the help desk issues with twostepctl.
type HelpDesk struct {
	// BypassDigits is the length of bypass codes; default 9.
	BypassDigits int
	// Profiles name the kinds of bypass codes; defaults: short (5 uses,
	// 24 hours: a forgotten device) and long (unlimited uses, 7 days: a
	// lost only device).
	Profiles map[string]BypassProfile
	// RecoveryDigits and RecoveryTTL shape recovery passcodes; default 9
	// digits, valid 1 hour.
	RecoveryDigits int
	RecoveryTTL    time.Duration
}

// BypassProfile is what a bypass code of one profile allows.
type BypassProfile struct {
	// Uses bounds the logins; 0 allows any number until the code expires.
	Uses int
	TTL  time.Duration
}

// Defaults of the help-desk codes.
const (
	DefaultCodeDigits  = 9
	DefaultRecoveryTTL = time.Hour
	// DefaultHOTPWindow and DefaultResyncWindow are the look-ahead of
	// HOTP tokens at login and at resynchronisation.
	DefaultHOTPWindow   = otp.DefaultHOTPWindow
	DefaultResyncWindow = otp.DefaultResyncWindow
)

// DefaultProfiles are the bypass profiles of the help-desk guides.
func DefaultProfiles() map[string]BypassProfile {
	return map[string]BypassProfile{
		"short": {Uses: 5, TTL: 24 * time.Hour},
		"long":  {Uses: 0, TTL: 7 * 24 * time.Hour},
	}
}

func (v *validator) helpDesk(b rawBypass, r rawRecovery) HelpDesk {
	h := HelpDesk{BypassDigits: b.Digits, Profiles: DefaultProfiles(), RecoveryDigits: r.Digits, RecoveryTTL: r.TTL}
	if h.BypassDigits == 0 {
		h.BypassDigits = DefaultCodeDigits
	}
	if h.BypassDigits < 8 || h.BypassDigits > 12 {
		// Shorter codes would look like TOTP codes and fall to guessing.
		v.add("bypass.digits", "must be 8 to 12; got %d", h.BypassDigits)
	}
	for name, p := range b.Profiles {
		f := "bypass.profiles." + name
		if !profileName.MatchString(name) {
			v.add(f, "a profile name is 1 to 32 letters, digits, '-' or '_'")
		}
		bp := h.Profiles[name]
		if p.Uses != nil {
			bp.Uses = *p.Uses
		}
		if p.TTL != 0 {
			bp.TTL = p.TTL
		}
		switch {
		case bp.Uses < 0 || bp.Uses > 1000:
			v.add(f+".uses", "must be 0 (unlimited) to 1000; got %d", bp.Uses)
		case bp.TTL < time.Minute || bp.TTL > 90*24*time.Hour:
			v.add(f+".ttl", "must be 1m to 90 days (2160h); got %s", bp.TTL)
		}
		h.Profiles[name] = bp
	}
	if h.RecoveryDigits == 0 {
		h.RecoveryDigits = DefaultCodeDigits
	}
	if h.RecoveryDigits < 8 || h.RecoveryDigits > 12 {
		v.add("recovery.digits", "must be 8 to 12; got %d", h.RecoveryDigits)
	}
	if h.RecoveryTTL == 0 {
		h.RecoveryTTL = DefaultRecoveryTTL
	}
	if h.RecoveryTTL < time.Minute || h.RecoveryTTL > 7*24*time.Hour {
		v.add("recovery.ttl", "must be 1m to 7 days (168h); got %s", h.RecoveryTTL)
	}
	return h
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
