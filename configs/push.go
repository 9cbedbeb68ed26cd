package configs

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/radiusd"
)

// Push configures push approval: the approval API this node serves and
// how pushes reach devices. Push is off while Listen is empty.
type Push struct {
	// Listen is the approval API's address on this node (HTTPS, or plain
	// HTTP on a loopback address only).
	Listen string
	// CertFile and KeyFile serve TLS.
	CertFile, KeyFile string
	// URLs are the API's addresses as devices reach them, every node's;
	// default the scheme and Listen of this node.
	URLs []string
	// Timeout, Limit: see challenge.PushConfig.
	Timeout time.Duration
	Limit   cluster.PushLimit
	// AnswersPerMinute bounds the answers one address may post to this
	// node's approval API, here and on the portal (default 600).
	AnswersPerMinute int
	// VAPIDKeyFile holds the Web Push (VAPID) private key, the same file
	// on every node; empty turns Web Push off (webhooks only). Subject is
	// the contact push services may write to (mailto: or https:).
	VAPIDKeyFile string
	Subject      string
	// WebhookAllowHTTP lets webhook devices use plain http:// URLs on
	// hosts other than loopback.
	WebhookAllowHTTP bool
	// AlertURL is told of every login reported as fraudulent, signed with
	// AlertSecret (HMAC-SHA256, as webhooks are).
	AlertURL    string
	AlertSecret []byte
}

// Enabled reports whether push approval is on.
func (p Push) Enabled() bool { return p.Listen != "" }

type rawPush struct {
	Listen string `yaml:"listen"`
	TLS    struct {
		CertFile string `yaml:"cert_file"`
		KeyFile  string `yaml:"key_file"`
	} `yaml:"tls"`
	URLs             []string      `yaml:"urls"`
	Timeout          time.Duration `yaml:"timeout"`
	AnswersPerMinute int           `yaml:"answers_per_minute"`
	Limit            *struct {
		Count  int           `yaml:"count"`
		Window time.Duration `yaml:"window"`
	} `yaml:"limit"`
	WebPush struct {
		VAPIDKeyFile string `yaml:"vapid_key_file"`
		Subject      string `yaml:"subject"`
	} `yaml:"webpush"`
	Webhook struct {
		AllowHTTP bool `yaml:"allow_http"`
	} `yaml:"webhook"`
	Alert struct {
		URL    string `yaml:"url"`
		Secret string `yaml:"secret" config:"secret"`
	} `yaml:"alert"`
}

// Defaults of push approval.
const (
	DefaultPushLimitCount   = 3
	DefaultPushLimitWindow  = 5 * time.Minute
	DefaultAnswersPerMinute = 600
)

func (v *validator) push(r rawPush, dir string, env Env) Push {
	p := Push{Listen: r.Listen, Timeout: r.Timeout, URLs: r.URLs, AnswersPerMinute: r.AnswersPerMinute,
		Limit:            cluster.PushLimit{Count: DefaultPushLimitCount, Window: DefaultPushLimitWindow},
		VAPIDKeyFile:     r.WebPush.VAPIDKeyFile,
		Subject:          r.WebPush.Subject,
		WebhookAllowHTTP: r.Webhook.AllowHTTP,
		AlertURL:         r.Alert.URL,
	}
	if p.Listen == "" {
		return p
	}
	v.hostPort("push.listen", p.Listen)
	if r.TLS.CertFile != "" || r.TLS.KeyFile != "" {
		if r.TLS.CertFile == "" || r.TLS.KeyFile == "" {
			v.add("push.tls", "give both cert_file and key_file")
		}
		p.CertFile, p.KeyFile = absPath(dir, r.TLS.CertFile), absPath(dir, r.TLS.KeyFile)
	} else if !loopbackHost(p.Listen) {
		v.add("push.listen", "devices answer over the network: give push.tls (cert_file, key_file), or listen on a loopback address for a local test")
	}
	if len(p.URLs) == 0 {
		scheme := "https"
		if p.CertFile == "" {
			scheme = "http"
		}
		p.URLs = []string{scheme + "://" + p.Listen}
	}
	for i, u := range p.URLs {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.RawQuery != "" || pu.User != nil {
			v.add(fmt.Sprintf("push.urls[%d]", i), "must be an https:// URL of a node's approval API (no query, no credentials); got %q", u)
		} else if pu.Scheme == "http" && !loopbackHost(pu.Host) {
			v.add(fmt.Sprintf("push.urls[%d]", i), "devices answer over the network: use https://")
		}
	}
	switch {
	case p.Timeout == 0:
		p.Timeout = challenge.DefaultPushTimeout
	case p.Timeout < 10*time.Second || p.Timeout > 10*time.Minute:
		v.add("push.timeout", "must be between 10s and 10m; got %v", p.Timeout)
	}
	switch {
	case p.AnswersPerMinute == 0:
		p.AnswersPerMinute = DefaultAnswersPerMinute
	case p.AnswersPerMinute < 1 || p.AnswersPerMinute > 1000000:
		v.add("push.answers_per_minute", "must be between 1 and 1000000; got %d", p.AnswersPerMinute)
	}
	if r.Limit != nil {
		p.Limit = cluster.PushLimit{Count: r.Limit.Count, Window: r.Limit.Window}
		switch {
		case r.Limit.Count < 0:
			v.add("push.limit.count", "must be 0 (no limit) or more; got %d", r.Limit.Count)
		case r.Limit.Count > 0 && (r.Limit.Window < time.Minute || r.Limit.Window > 24*time.Hour):
			v.add("push.limit.window", "must be between 1m and 24h; got %v", r.Limit.Window)
		}
	}
	if p.VAPIDKeyFile != "" {
		p.VAPIDKeyFile = absPath(dir, p.VAPIDKeyFile)
		if !strings.HasPrefix(p.Subject, "mailto:") && !strings.HasPrefix(p.Subject, "https:") {
			v.add("push.webpush.subject", "push services want a contact: mailto:ADDRESS or an https: URL; got %q", p.Subject)
		}
	}
	if p.AlertURL != "" {
		u, err := url.Parse(p.AlertURL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			v.add("push.alert.url", "must be an https URL")
		case u.Scheme == "http" && !loopbackHost(u.Host) && !p.WebhookAllowHTTP:
			v.add("push.alert.url", "plain http beyond loopback: use https, or set push.webhook.allow_http")
		}
		// Alerts are signed: a receiver must be able to tell them from
		// forgeries.
		p.AlertSecret = v.secret("push.alert.secret", true, radiusd.MaxSecretLen, dir, env)
	}
	return p
}

// loopbackHost reports whether host[:port] names a loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
