package configs

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Portal configures the self-service portal ("My Settings & Devices")
// and the web authenticator, served over HTTPS by every node. It is off
// while Listen is empty.
type Portal struct {
	// Listen is the portal's address on this node.
	Listen string
	// URL is the address users open (what activation links point to);
	// default https:// and Listen, with this host's name for an
	// unspecified address.
	URL string
	// CertFile and KeyFile serve TLS. SelfSigned instead makes a
	// certificate at each start, for the demo only: browsers warn, and
	// phones will not install the web authenticator from it.
	CertFile, KeyFile string
	SelfSigned        bool
	// SessionTTL bounds a sign-in (default 8h), Idle ends one unused
	// (default 15m).
	SessionTTL, Idle time.Duration
	// Attempts is the wrong second factors one sign-in takes (default 5).
	Attempts int
	// SignInsPerMinute bounds, on each node and per minute, the sign-in
	// steps of one user name from one address, and the passwords that did
	// not sign in of one user name from anywhere (default 10).
	SignInsPerMinute int
	// AddressSignInsPerMinute bounds the sign-in steps of one address
	// whatever the names, on each node: the ceiling of a NAT (default 10 ×
	// SignInsPerMinute).
	AddressSignInsPerMinute int
	// SelfAssignTokens lets users add an inventory hardware token by its
	// serial and a code (default false: the help desk assigns tokens).
	SelfAssignTokens bool
	// PushServices are the Web Push service hosts a web authenticator may
	// subscribe through; default the browsers' (portal.DefaultPushServices).
	PushServices []string
	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// browser; default none.
	TrustedProxies []netip.Prefix
}

// Enabled reports whether the portal is on.
func (p Portal) Enabled() bool { return p.Listen != "" }

type rawPortal struct {
	Listen string `yaml:"listen"`
	URL    string `yaml:"url"`
	TLS    struct {
		CertFile   string `yaml:"cert_file"`
		KeyFile    string `yaml:"key_file"`
		SelfSigned bool   `yaml:"self_signed"`
	} `yaml:"tls"`
	Session struct {
		TTL  time.Duration `yaml:"ttl"`
		Idle time.Duration `yaml:"idle"`
	} `yaml:"session"`
	Attempts                int `yaml:"attempts"`
	SignInsPerMinute        int `yaml:"sign_ins_per_minute"`
	AddressSignInsPerMinute int `yaml:"address_sign_ins_per_minute"`
	Tokens                  struct {
		SelfAssign bool `yaml:"self_assign"`
	} `yaml:"tokens"`
	PushServices   []string `yaml:"push_services"`
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Defaults of the portal.
const (
	DefaultSessionTTL       = 8 * time.Hour
	DefaultSessionIdle      = 15 * time.Minute
	DefaultPortalAttempts   = 5
	DefaultSignInsPerMinute = 10
	// The default of address_sign_ins_per_minute is this many times
	// sign_ins_per_minute.
	DefaultAddressSignInsFactor = 10
)

func (v *validator) portal(r rawPortal, dir string) Portal {
	p := Portal{Listen: r.Listen, SessionTTL: r.Session.TTL, Idle: r.Session.Idle, Attempts: r.Attempts,
		SignInsPerMinute: r.SignInsPerMinute, AddressSignInsPerMinute: r.AddressSignInsPerMinute,
		SelfAssignTokens: r.Tokens.SelfAssign, SelfSigned: r.TLS.SelfSigned, PushServices: r.PushServices}
	if p.Listen == "" {
		return p
	}
	v.hostPort("portal.listen", p.Listen)
	p.URL = r.URL
	if p.URL == "" {
		host, port, _ := net.SplitHostPort(p.Listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host, _ = os.Hostname()
		}
		p.URL = "https://" + net.JoinHostPort(host, port)
		if port == "443" {
			p.URL = "https://" + host
		}
	} else if u, err := url.Parse(p.URL); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		v.add("portal.url", "must be the https:// address users open, without a path; got %q", p.URL)
	}
	switch {
	case r.TLS.SelfSigned && (r.TLS.CertFile != "" || r.TLS.KeyFile != ""):
		v.add("portal.tls", "give cert_file and key_file, or self_signed, not both")
	case r.TLS.SelfSigned:
	case r.TLS.CertFile == "" || r.TLS.KeyFile == "":
		v.add("portal.tls", "the portal is served over HTTPS only: give cert_file and key_file (self_signed: true is for a demo)")
	default:
		p.CertFile, p.KeyFile = absPath(dir, r.TLS.CertFile), absPath(dir, r.TLS.KeyFile)
	}
	switch {
	case p.SessionTTL == 0:
		p.SessionTTL = DefaultSessionTTL
	case p.SessionTTL < 5*time.Minute || p.SessionTTL > 7*24*time.Hour:
		v.add("portal.session.ttl", "must be between 5m and 168h; got %v", p.SessionTTL)
	}
	switch {
	case p.Idle == 0:
		p.Idle = min(DefaultSessionIdle, p.SessionTTL)
	case p.Idle < time.Minute || p.Idle > p.SessionTTL:
		v.add("portal.session.idle", "must be between 1m and the session's ttl (%v); got %v", p.SessionTTL, p.Idle)
	}
	switch {
	case p.Attempts == 0:
		p.Attempts = DefaultPortalAttempts
	case p.Attempts < 1 || p.Attempts > 20:
		v.add("portal.attempts", "must be between 1 and 20; got %d", p.Attempts)
	}
	switch {
	case p.SignInsPerMinute == 0:
		p.SignInsPerMinute = DefaultSignInsPerMinute
	case p.SignInsPerMinute < 1 || p.SignInsPerMinute > 10000:
		v.add("portal.sign_ins_per_minute", "must be between 1 and 10000; got %d", p.SignInsPerMinute)
	}
	switch {
	case p.AddressSignInsPerMinute == 0:
		p.AddressSignInsPerMinute = DefaultAddressSignInsFactor * p.SignInsPerMinute
	case p.AddressSignInsPerMinute < max(1, p.SignInsPerMinute) || p.AddressSignInsPerMinute > 1000000:
		v.add("portal.address_sign_ins_per_minute", "must be between sign_ins_per_minute (%d) and 1000000; got %d", p.SignInsPerMinute, p.AddressSignInsPerMinute)
	}
	for i, t := range r.TrustedProxies {
		pfx, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				v.add(fmt.Sprintf("portal.trusted_proxies[%d]", i), "an address or CIDR prefix of a reverse proxy; got %q", t)
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		p.TrustedProxies = append(p.TrustedProxies, pfx.Masked())
	}
	for i, h := range p.PushServices {
		if h == "" || strings.ContainsAny(h, "/:* ") {
			v.add(fmt.Sprintf("portal.push_services[%d]", i), "a host name (its subdomains count too), like fcm.googleapis.com; got %q", h)
		}
	}
	return p
}
