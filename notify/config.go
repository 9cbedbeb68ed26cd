package notify

import (
	"net/url"
	"strings"

	"twostep/confcheck"
)

// Config is how pushes leave: the webpush, webhook and alert keys of the
// configuration file's push section. cmd/twostepd builds the Dispatch
// and the fraud alert's Webhook from it.
type Config struct {
	// WebPush is the Web Push (VAPID) key and contact.
	WebPush WebPushConfig `yaml:"webpush"`
	// Webhook says how webhook devices may be reached.
	Webhook WebhookConfig `yaml:"webhook"`
	// Alert is who is told of logins reported as fraudulent.
	Alert AlertConfig `yaml:"alert"`
}

// WebPushConfig is the cluster's VAPID key (cmd/twostepd reads it into
// VAPID) and contact.
type WebPushConfig struct {
	// VAPIDKeyFile holds the Web Push (VAPID) private key, the same file
	// on every node (`twostepctl vapid-key -out FILE`); empty (the
	// default) turns Web Push off: webhook devices only.
	VAPIDKeyFile string `yaml:"vapid_key_file" config:"path"`
	// Subject is the contact push services may write to (VAPID.Subject):
	// mailto: or https:, required with a key.
	Subject string `yaml:"subject"`
}

// WebhookConfig is how webhooks may be reached.
type WebhookConfig struct {
	// AllowHTTP lets webhook devices and the fraud alert use plain
	// http:// beyond loopback (Webhook.AllowHTTP); default false.
	AllowHTTP bool `yaml:"allow_http"`
}

// AlertConfig is who is told, by a webhook, of every login reported as
// fraudulent.
type AlertConfig struct {
	// URL receives the alerts (a Target of KindWebhook); empty (the
	// default): no alerts.
	URL string `yaml:"url"`
	// Secret signs them (HMAC-SHA256, as webhooks are): a receiver must
	// be able to tell them from forgeries. Required with URL, at most
	// MaxAlertSecretLen bytes; the file gives it as secret, secret_file
	// or secret_env (configs resolves it).
	Secret []byte `yaml:"secret" config:"secret"`
}

// MaxAlertSecretLen bounds the alert's secret, as the configuration
// bounds every shared secret.
const MaxAlertSecretLen = 64

// Validate reports every problem of c in one confcheck.Problems, each
// under its key: a key without a subject, an alert URL its webhook could
// not reach. The alert's secret is its reader's to require.
func (c Config) Validate() error {
	var ps confcheck.Problems
	if c.WebPush.VAPIDKeyFile != "" && !strings.HasPrefix(c.WebPush.Subject, "mailto:") && !strings.HasPrefix(c.WebPush.Subject, "https:") {
		ps.Add("webpush.subject", "push services want a contact: mailto:ADDRESS or an https: URL; got %q", c.WebPush.Subject)
	}
	if c.Alert.URL != "" {
		u, err := url.Parse(c.Alert.URL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			ps.Add("alert.url", "must be an https URL")
		case u.Scheme == "http" && !isLoopback(u.Hostname()) && !c.Webhook.AllowHTTP:
			// The webhook's own reading of loopback (endpoint.go).
			ps.Add("alert.url", "plain http beyond loopback: use https, or set push.webhook.allow_http")
		}
	}
	return ps.Err()
}
