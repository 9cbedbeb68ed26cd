package challenge

import (
	"context"
	"fmt"
	"time"

	"twostep/cluster"
	"twostep/confcheck"
	"twostep/notify"
)

// Push approval: its settings, reasons and messages, and the user's push
// devices.

// Notifier delivers a push notification to one device; notify.Dispatch
// implements it (Web Push and webhooks).
type Notifier interface {
	Notify(ctx context.Context, t notify.Target, m notify.Message) error
}

// PushConfig configures push approval: its keys of the configuration
// file's push section (timeout, limit), and what the daemon adds (the
// fields tagged "-").
type PushConfig struct {
	// Timeout is how long a push can be answered, 10s to 10m; default
	// 60 s.
	Timeout time.Duration `yaml:"timeout"`
	// Limit bounds the pushes a user can be sent: a count 0 or more (0
	// does not limit, the zero value) in a window of 1m to 24h; the
	// configuration's default is 3 in 5 minutes (DefaultPushConfig).
	Limit cluster.PushLimit `yaml:"limit"`
	// AnswerURLs are the approval API's addresses, told to devices.
	AnswerURLs []string `yaml:"-"`
	// Node names this node in the answers it records.
	Node string `yaml:"-"`
	// Alert, when set, is told of every login reported as fraudulent.
	Alert func(ctx context.Context, p *cluster.Push) `yaml:"-"`
	// ResendAfter is how old a push whose record says its notification
	// never left must be before a node taking the login over sends it:
	// longer than a notification may take. Default 7 s.
	ResendAfter time.Duration `yaml:"-"`
}

// Defaults of push approval.
const (
	DefaultPushTimeout = time.Minute
	// DefaultResendAfter is PushConfig.ResendAfter's default.
	DefaultResendAfter = 7 * time.Second
)

// DefaultPushConfig is the push settings a configuration file that
// leaves them out stands for, where they differ from the zero value: at
// most 3 pushes per user in 5 minutes, against push bombing.
func DefaultPushConfig() PushConfig {
	return PushConfig{Limit: cluster.PushLimit{Count: 3, Window: 5 * time.Minute}}
}

// WithDefaults returns c with Timeout and ResendAfter set when zero.
func (c PushConfig) WithDefaults() PushConfig {
	if c.Timeout <= 0 {
		c.Timeout = DefaultPushTimeout
	}
	if c.ResendAfter <= 0 {
		c.ResendAfter = DefaultResendAfter
	}
	return c
}

// Validate reports every problem of c's keys in one confcheck.Problems,
// each under its key.
func (c PushConfig) Validate() error {
	var ps confcheck.Problems
	if c.Timeout != 0 && (c.Timeout < 10*time.Second || c.Timeout > 10*time.Minute) {
		ps.Add("timeout", "must be between 10s and 10m; got %v", c.Timeout)
	}
	switch l := c.Limit; {
	case l.Count < 0:
		ps.Add("limit.count", "must be 0 (no limit) or more; got %d", l.Count)
	case l.Count > 0 && (l.Window < time.Minute || l.Window > 24*time.Hour):
		ps.Add("limit.window", "must be between 1m and 24h; got %v", l.Window)
	}
	return ps.Err()
}

// Reasons of push approval.
const (
	ReasonPushApproved     Reason = "push_approved"
	ReasonPushDenied       Reason = "push_denied"
	ReasonPushFraud        Reason = "push_fraud"
	ReasonPushTimeout      Reason = "push_timeout"
	ReasonPushWaiting      Reason = "push_waiting"
	ReasonPushMenu         Reason = "push_menu"
	ReasonPushLimited      Reason = "push_limited"
	ReasonPushUndelivered  Reason = "push_undelivered"
	ReasonPushNoDevice     Reason = "push_no_device"
	ReasonPushNeedsPrompt  Reason = "push_needs_challenge"
	ReasonPushBadSignature Reason = "push_bad_signature"
)

// Messages of push approval.
const (
	msgPushWaiting   = "Approve the login on your phone, then press Enter."
	msgPushDenied    = "The login was denied on your device."
	msgPushFraud     = "You reported this login as fraudulent: your account is locked. Contact the help desk."
	msgPushTimeout   = "No answer from your device in time. Log in again."
	msgPushLimited   = "Too many push requests: wait a few minutes, or use a passcode."
	msgPushGone      = "Your device can no longer be reached: use a passcode, or add the device again."
	msgPushNoDevice  = "You have no device for push approval: use a passcode."
	msgPushNoNumber  = "This service cannot show a verification number: use a passcode."
	msgPushMismatch  = "The number entered on your device did not match. Log in again."
	msgPushMenuIntro = "Choose: "
)

// pushFactor holds what push approval needs.
type pushFactor struct {
	cfg      PushConfig
	pushes   *cluster.Pushes
	notifier Notifier
}

// WithPush turns on push approval (it needs WithPasscodes: devices and
// challenges live in the same cluster).
func WithPush(cfg PushConfig, pushes *cluster.Pushes, notifier Notifier) Option {
	cfg = cfg.WithDefaults()
	return func(e *Engine) { e.push = &pushFactor{cfg: cfg, pushes: pushes, notifier: notifier} }
}

// pushDevices returns acct's push devices: the user's default first (the
// one automatic pushes go to), then the others oldest first.
func pushDevices(acct *cluster.Account) []cluster.Device {
	var out []cluster.Device
	for _, d := range acct.Devices {
		if d.Type != cluster.PushApp {
			continue
		}
		if d.ID == acct.Profile.DefaultPush {
			out = append([]cluster.Device{d}, out...)
		} else {
			out = append(out, d)
		}
	}
	return out
}

// pushCount tells a user who asked for push device N of fewer how many
// there are, and what to type instead.
func pushCount(n int) string {
	if n == 1 {
		return "You have 1 device for push approval: use push or push1, or a passcode."
	}
	return fmt.Sprintf("You have %d devices for push approval: use push1 to push%d, or a passcode.", n, n)
}

// joinKey names req for joining a push started by a copy of it.
func joinKey(req *Request) string {
	return cluster.JoinKey(req.Source.Addr().String(), req.Identifier, req.Authenticator, req.User)
}

// pushDecision is a decision o for reason r with message msg about push
// p: the factor, and the device that got it.
func pushDecision(o Outcome, r Reason, msg string, p *cluster.Push) Decision {
	return Decision{Outcome: o, Reason: r, Message: msg, Factor: FactorPush, Device: p.DeviceName, DeviceID: p.Device}
}

// deviceDecision is a decision about a push to dev that was not sent.
func deviceDecision(o Outcome, r Reason, msg string, dev cluster.Device) Decision {
	return Decision{Outcome: o, Reason: r, Message: msg, Factor: FactorPush, Device: dev.Name, DeviceID: dev.ID}
}

// pushData is what a push carries for whichever node completes the login.
type pushData struct {
	Reply []Attribute `json:"reply,omitempty"`
}

// PortalService is the service name a push started by the portal shows
// on the device.
const PortalService = "My Settings & Devices"

// PushPurpose is what push p asks the user to confirm when the portal
// started it ("Remove the device “phone”"), for the device to show as
// its title; empty for a login's push. The portal's pushes carry their
// purpose where a NAS's carry the NAS-Identifier.
func PushPurpose(p *cluster.Push) string {
	if p.Client != PortalService {
		return ""
	}
	return p.NASID
}
