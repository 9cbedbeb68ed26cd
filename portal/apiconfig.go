package portal

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"twostep/confcheck"
	"twostep/loglimit"
)

// APIConfig is the push approval API: its keys of the configuration
// file's push section (listen, tls, urls, answers_per_minute), and what
// the daemon adds (the fields tagged "-"). The zero value is usable: each
// default is in its field's comment.
type APIConfig struct {
	// Listen is the approval API's address on this node (host:port):
	// HTTPS with TLS, plain HTTP on a loopback address only, bound by
	// cmd/twostepd; empty (the default) turns push approval off, and the
	// section is not checked.
	Listen string `yaml:"listen"`
	// TLS is the API's certificate, which cmd/twostepd loads; both files
	// or neither.
	TLS TLSFiles `yaml:"tls"`
	// URLs are the API's addresses as devices reach them, every node's
	// (https://, or http:// to loopback); default the scheme and Listen
	// of this node.
	URLs []string `yaml:"urls"`
	// AnswersPerMinute bounds the answers posted from one address (an
	// IPv6 /64) in a minute, on this node, 1 to 1000000; default
	// DefaultAnswersPerMinute. Behind a load balancer that hides the
	// devices' addresses, every answer shares one budget.
	AnswersPerMinute int `yaml:"answers_per_minute"`

	// TrustedProxies are reverse proxies whose X-Forwarded-For names the
	// device; none by default (the connection's address counts).
	TrustedProxies []netip.Prefix `yaml:"-"`
	// Metrics counts requests and the refusals of the rate limits; nil
	// counts nothing.
	Metrics *Metrics `yaml:"-"`
	// Logs lets through the log lines outsiders can cause, at most one a
	// second per cause; default a loglimit.Limiter of the API's own.
	Logs *loglimit.Limiter `yaml:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `yaml:"-"`
}

// DefaultAnswersPerMinute is the default budget of push answers per
// address and node: ten a second, far above what the phones behind one
// NAT answer, far below a flood of made-up answers.
const DefaultAnswersPerMinute = 600

// Enabled reports whether push approval is on.
func (c APIConfig) Enabled() bool { return c.Listen != "" }

// WithDefaults returns c with URLs and AnswersPerMinute set when zero.
func (c APIConfig) WithDefaults() APIConfig {
	if len(c.URLs) == 0 && c.Listen != "" {
		scheme := "https"
		if c.TLS.CertFile == "" {
			scheme = "http"
		}
		c.URLs = []string{scheme + "://" + c.Listen}
	}
	if c.AnswersPerMinute <= 0 {
		c.AnswersPerMinute = DefaultAnswersPerMinute
	}
	return c
}

// Validate reports every problem of c's keys in one confcheck.Problems,
// each under its key; nothing while push approval is off.
func (c APIConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var ps confcheck.Problems
	if err := confcheck.HostPort(c.Listen); err != nil {
		ps.Add("listen", "%v", err)
	}
	switch {
	case c.TLS.CertFile != "" || c.TLS.KeyFile != "":
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			ps.Add("tls", "give both cert_file and key_file")
		}
	case !confcheck.Loopback(c.Listen):
		ps.Add("listen", "devices answer over the network: give push.tls (cert_file, key_file), or listen on a loopback address for a local test")
	}
	for i, u := range c.WithDefaults().URLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.RawQuery != "" || pu.User != nil {
			ps.Add(fmt.Sprintf("urls[%d]", i), "must be an https:// URL of a node's approval API (no query, no credentials); got %q", u)
		} else if pu.Scheme == "http" && !confcheck.Loopback(pu.Host) {
			ps.Add(fmt.Sprintf("urls[%d]", i), "devices answer over the network: use https://")
		}
	}
	if c.AnswersPerMinute != 0 && (c.AnswersPerMinute < 1 || c.AnswersPerMinute > 1000000) {
		ps.Add("answers_per_minute", "must be between 1 and 1000000; got %d", c.AnswersPerMinute)
	}
	return ps.Err()
}
