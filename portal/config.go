package portal

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/confcheck"
	"twostep/loglimit"
)

// Config is the self-service portal ("My Settings & Devices") and the web
// authenticator: the portal section of the configuration file, each
// setting under its yaml key, and what the daemon adds from elsewhere
// (the fields tagged "-"). The zero value is usable: each default is in
// its field's comment.
type Config struct {
	// Listen is the portal's address on this node (host:port), served
	// over HTTPS by cmd/twostepd; empty (the default) turns the portal
	// off, and the section is not checked.
	Listen string `yaml:"listen"`
	// URL is the address users open (what activation links point to):
	// https:// and a host, without a path; default https:// and Listen,
	// with this host's name for an unspecified address.
	URL string `yaml:"url"`
	// TLS is the portal's certificate, which cmd/twostepd loads.
	TLS TLSConfig `yaml:"tls"`
	// Session bounds a sign-in.
	Session SessionConfig `yaml:"session"`
	// Attempts is how many wrong second factors one sign-in takes before
	// the user must start again, 1 to 20; default 5 (the account's
	// lockout counts them too).
	Attempts int `yaml:"attempts"`
	// SignInsPerMinute bounds, on this node, the sign-in steps (password
	// and codes) of one user name from one address, and the passwords
	// that did not sign in of one user name from anywhere, 1 to 10000;
	// default 10.
	SignInsPerMinute int `yaml:"sign_ins_per_minute"`
	// AddressSignInsPerMinute bounds the sign-in steps of one address
	// whatever the names, on this node: the ceiling of a NAT, from
	// SignInsPerMinute to 1000000; default 10 × SignInsPerMinute.
	AddressSignInsPerMinute int `yaml:"address_sign_ins_per_minute"`
	// Tokens says what users may do with hardware tokens.
	Tokens TokensConfig `yaml:"tokens"`
	// PushServices are the hosts (and their subdomains) a web
	// authenticator's push subscription may point to; default
	// DefaultPushServices.
	PushServices []string `yaml:"push_services"`
	// TrustedProxies are the reverse proxies in front of the portal,
	// addresses or CIDR prefixes (confcheck.ParsePrefix), whose
	// X-Forwarded-For names the browser; none by default (the
	// connection's address counts).
	TrustedProxies []string `yaml:"trusted_proxies"`

	// Issuer names the service in authenticator apps (the otpauth
	// issuer; the cluster section's); default cluster.DefaultIssuer.
	Issuer string `yaml:"-"`
	// AnswersPerMinute bounds the push answers one address may post to
	// the approval API on the portal's origin (the push section's);
	// default DefaultAnswersPerMinute.
	AnswersPerMinute int `yaml:"-"`
	// WebAuthenticator offers "This phone" (the web authenticator) under
	// Add a new device; it needs push approval on.
	WebAuthenticator bool `yaml:"-"`
	// VAPIDPublicKey is the Web Push key (base64url of the point) the
	// web authenticator subscribes with; empty: no notifications, the
	// app shows waiting logins when it is opened.
	VAPIDPublicKey string `yaml:"-"`
	// SubscribeTimeout bounds the web authenticator's wait for the
	// browser's push service when it subscribes (a network that blocks
	// the service leaves the browser waiting for good); past it, the
	// phone is added as an in-app device, which shows waiting logins
	// when it is opened. Default 15 seconds.
	SubscribeTimeout time.Duration `yaml:"-"`
	// Metrics counts requests, sign-ins and the refusals of the rate
	// limits; nil counts nothing.
	Metrics *Metrics `yaml:"-"`
	// Logs lets through the log lines outsiders can cause, at most one a
	// second per cause; default a loglimit.Limiter of the portal's own.
	Logs *loglimit.Limiter `yaml:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `yaml:"-"`
}

// TLSConfig is the portal's certificate: CertFile and KeyFile, or
// SelfSigned.
type TLSConfig struct {
	TLSFiles `yaml:",inline"`
	// SelfSigned makes a certificate at each start instead, for the demo
	// only: browsers warn, and phones will not install the web
	// authenticator from it.
	SelfSigned bool `yaml:"self_signed"`
}

// TLSFiles are a PEM certificate and its key.
type TLSFiles struct {
	// CertFile is the certificate (chain), KeyFile its private key.
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
}

// SessionConfig bounds a sign-in.
type SessionConfig struct {
	// TTL bounds a sign-in's whole life, 5m to 168h; default 8 hours.
	TTL time.Duration `yaml:"ttl"`
	// Idle ends a session after this long without a request, 1m to TTL;
	// default 15 minutes, or TTL when shorter.
	Idle time.Duration `yaml:"idle"`
}

// TokensConfig says what users may do with hardware tokens.
type TokensConfig struct {
	// SelfAssign lets users take a hardware token from the inventory by
	// its serial and a code from it; default false (the help desk
	// assigns tokens).
	SelfAssign bool `yaml:"self_assign"`
}

// Defaults of Config.
const (
	defaultSessionTTL       = 8 * time.Hour
	defaultSessionIdle      = 15 * time.Minute
	defaultAttempts         = 5
	defaultSignInsPerMinute = 10
	// addressSignInsFactor times SignInsPerMinute is the default of
	// AddressSignInsPerMinute.
	addressSignInsFactor    = 10
	defaultSubscribeTimeout = 15 * time.Second
)

// Enabled reports whether the portal is on.
func (c Config) Enabled() bool { return c.Listen != "" }

// WithDefaults returns c with each setting of the portal section that is
// zero (or negative) set to its default.
func (c Config) WithDefaults() Config {
	if c.Listen != "" && c.URL == "" {
		host, port, _ := net.SplitHostPort(c.Listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, _ = os.Hostname()
		}
		c.URL = "https://" + net.JoinHostPort(host, port)
		if port == "443" {
			c.URL = "https://" + host
		}
	}
	if c.Session.TTL <= 0 {
		c.Session.TTL = defaultSessionTTL
	}
	if c.Session.Idle <= 0 {
		c.Session.Idle = min(defaultSessionIdle, c.Session.TTL)
	}
	if c.Attempts <= 0 {
		c.Attempts = defaultAttempts
	}
	if c.SignInsPerMinute <= 0 {
		c.SignInsPerMinute = defaultSignInsPerMinute
	}
	if c.AddressSignInsPerMinute <= 0 {
		c.AddressSignInsPerMinute = addressSignInsFactor * c.SignInsPerMinute
	}
	if len(c.PushServices) == 0 {
		c.PushServices = DefaultPushServices
	}
	return c
}

// withDefaults is WithDefaults and the defaults of what the daemon adds.
func (c Config) withDefaults() Config {
	c = c.WithDefaults()
	if c.Issuer == "" {
		c.Issuer = cluster.DefaultIssuer
	}
	if c.AnswersPerMinute <= 0 {
		c.AnswersPerMinute = DefaultAnswersPerMinute
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = defaultSubscribeTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logs == nil {
		c.Logs = loglimit.New(c.Now)
	}
	return c
}

// proxies parses TrustedProxies.
func (c Config) proxies() ([]netip.Prefix, error) {
	var ps confcheck.Problems
	var out []netip.Prefix
	for i, t := range c.TrustedProxies {
		pfx, err := confcheck.ParsePrefix(t)
		if err != nil {
			ps.Add(fmt.Sprintf("trusted_proxies[%d]", i), "an address or CIDR prefix of a reverse proxy: %v", err)
			continue
		}
		out = append(out, pfx)
	}
	return out, ps.Err()
}

// Validate reports every problem of the portal section c in one
// confcheck.Problems, each under its key; nothing while the portal is
// off.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var ps confcheck.Problems
	if err := confcheck.HostPort(c.Listen); err != nil {
		ps.Add("listen", "%v", err)
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			ps.Add("url", "must be the https:// address users open, without a path; got %q", c.URL)
		}
	}
	switch t := c.TLS; {
	case t.SelfSigned && (t.CertFile != "" || t.KeyFile != ""):
		ps.Add("tls", "give cert_file and key_file, or self_signed, not both")
	case t.SelfSigned:
	case t.CertFile == "" || t.KeyFile == "":
		ps.Add("tls", "the portal is served over HTTPS only: give cert_file and key_file (self_signed: true is for a demo)")
	}
	d := c.WithDefaults()
	if c.Session.TTL != 0 && (c.Session.TTL < 5*time.Minute || c.Session.TTL > 7*24*time.Hour) {
		ps.Add("session.ttl", "must be between 5m and 168h; got %v", c.Session.TTL)
	}
	if c.Session.Idle != 0 && (c.Session.Idle < time.Minute || c.Session.Idle > d.Session.TTL) {
		ps.Add("session.idle", "must be between 1m and the session's ttl (%v); got %v", d.Session.TTL, c.Session.Idle)
	}
	if c.Attempts != 0 && (c.Attempts < 1 || c.Attempts > 20) {
		ps.Add("attempts", "must be between 1 and 20; got %d", c.Attempts)
	}
	if c.SignInsPerMinute != 0 && (c.SignInsPerMinute < 1 || c.SignInsPerMinute > 10000) {
		ps.Add("sign_ins_per_minute", "must be between 1 and 10000; got %d", c.SignInsPerMinute)
	}
	if c.AddressSignInsPerMinute != 0 && (c.AddressSignInsPerMinute < max(1, d.SignInsPerMinute) || c.AddressSignInsPerMinute > 1000000) {
		ps.Add("address_sign_ins_per_minute", "must be between sign_ins_per_minute (%d) and 1000000; got %d", d.SignInsPerMinute, c.AddressSignInsPerMinute)
	}
	_, err := c.proxies()
	ps.Include("", err)
	for i, h := range c.PushServices {
		if h == "" || strings.ContainsAny(h, "/:* ") {
			ps.Add(fmt.Sprintf("push_services[%d]", i), "a host name (its subdomains count too), like fcm.googleapis.com; got %q", h)
		}
	}
	return ps.Err()
}
