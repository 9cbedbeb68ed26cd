package configs

import (
	"twostep/challenge"
	"twostep/notify"
	"twostep/portal"
)

// Push is the push section: push approval, off unless push.listen is
// set. Its keys belong to three owners, each holding its own.
type Push struct {
	// API is the approval API this node serves (listen, tls, urls,
	// answers_per_minute).
	API portal.APIConfig `yaml:",inline"`
	// Approval is how long a push is open and how many a user is sent
	// (timeout, limit); AnswerURLs and Node are the daemon's to set.
	Approval challenge.PushConfig `yaml:",inline"`
	// Notify is how pushes leave: Web Push, webhooks, the fraud alert
	// (webpush, webhook, alert).
	Notify notify.Config `yaml:",inline"`
}

// Enabled reports whether push approval is on.
func (p Push) Enabled() bool { return p.API.Enabled() }

// push checks the section when push is on, and resolves the alert's
// secret.
func (v *validator) push(p Push, dir string, env Env) Push {
	if !p.Enabled() {
		return p
	}
	v.section("push", p.API.Validate())
	v.section("push", p.Approval.Validate())
	v.section("push", p.Notify.Validate())
	if p.Notify.Alert.URL != "" {
		p.Notify.Alert.Secret = v.secret("push.alert.secret", true, notify.MaxAlertSecretLen, dir, env)
	}
	p.API = p.API.WithDefaults()
	p.Approval = p.Approval.WithDefaults()
	return p
}
