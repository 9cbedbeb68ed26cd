package configs

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/confcheck"
	"twostep/directory"
	"twostep/notify"
	"twostep/portal"
	"twostep/radiusd"
)

// Each section checked by its owner (v.section puts the problems at their
// lines), with what configs does for it: the secrets it names, and the
// checks across sections.

func (v *validator) log(r logSection) Log {
	l := Log{Level: zerolog.InfoLevel}
	if r.Level != "" {
		lvl, err := zerolog.ParseLevel(r.Level)
		if err != nil || lvl < zerolog.DebugLevel || lvl > zerolog.ErrorLevel {
			v.add("log.level", "must be one of debug, info, warn, error; got %q", r.Level)
		}
		l.Level = lvl
	}
	switch r.Format {
	case "", "json":
		l.Format = "json"
	case "console":
		l.Format = "console"
	default:
		v.add("log.format", "must be json or console; got %q", r.Format)
	}
	return l
}

func (v *validator) metrics(m Metrics) Metrics {
	if m.Listen != "" {
		if err := confcheck.HostPort(m.Listen); err != nil {
			v.add("metrics.listen", "%v", err)
		}
	}
	return m
}

// clients resolves the clients' secrets (unless the tools asked not to)
// and reads the entries; their reply attributes must be in the radius
// section's dictionaries.
func (v *validator) clients(entries []radiusd.ClientConfig, dir string, env Env, dict *radiusd.Dictionary) []radiusd.Client {
	for i := range entries {
		if !env.SkipSecrets {
			entries[i].Secret = v.secret(fmt.Sprintf("clients[%d].secret", i), true, radiusd.MaxSecretLen, dir, env)
		}
		for j, name := range entries[i].ReplyAttributes {
			if dict != nil {
				if _, err := dict.Encode(name, "0"); errors.Is(err, radiusd.ErrUnknownAttribute) {
					v.add(fmt.Sprintf("clients[%d].reply_attributes[%d]", i, j), "%q: %v", name, radiusd.ErrUnknownAttribute)
				}
			}
		}
	}
	clients, err := radiusd.Clients(entries)
	v.section("clients", err)
	return clients
}

// directory resolves the ldap backend's password (for tools too:
// twostepctl looks users up in the directory) and checks the section.
func (v *validator) directory(d directory.Config, dir string, env Env) directory.Config {
	check := d
	if d.Backend == directory.BackendLDAP {
		const field = "directory.ldap.bind_password"
		pw := v.secret(field, false, 0, dir, env)
		d.LDAP.BindPassword = string(pw)
		check.LDAP.BindPassword = d.LDAP.BindPassword
		if pw == nil && v.givenSecret(field) {
			check.LDAP.BindPassword = unresolved
		}
	}
	v.section("directory", check.Validate())
	return d.WithDefaults()
}

// cluster resolves the etcd password (for tools too: they read the
// cluster) and checks the section.
func (v *validator) cluster(c Cluster, dir string, env Env) Cluster {
	const field = "cluster.password"
	pw := v.secret(field, false, 0, dir, env)
	c.Etcd.Password = string(pw)
	check := c
	if pw == nil && v.givenSecret(field) {
		check.Etcd.Password = unresolved
	}
	v.section("cluster", check.Validate())
	return c.WithDefaults()
}

// dictionary loads the reply-attribute dictionaries; nil when one is bad
// (reported at radius.dictionaries).
func (v *validator) dictionary(files []string) *radiusd.Dictionary {
	d, err := radiusd.NewDictionary(files...)
	if err != nil {
		v.add("radius.dictionaries", "%v", err)
		return nil
	}
	return d
}

// policy checks the group rules; every reply attribute is encoded once
// here, with the radius section's dictionaries, so that a bad name or
// value is refused at start-up, not on a user's login.
func (v *validator) policy(p challenge.Policy, dict *radiusd.Dictionary) challenge.Policy {
	v.section("policy", p.Validate())
	for i, g := range p.Groups {
		for j, a := range g.Reply {
			if dict != nil {
				if _, err := dict.Encode(a.Name, a.Value); err != nil {
					v.add(fmt.Sprintf("policy.groups[%d].reply[%d]", i, j), "%v", err)
				}
			}
		}
	}
	return p
}

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

// portal checks the portal section (nothing while the portal is off).
func (v *validator) portal(p portal.Config) portal.Config {
	v.section("portal", p.Validate())
	return p.WithDefaults()
}
