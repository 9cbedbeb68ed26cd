package main

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/configs"
	"twostep/directory"
	"twostep/loglimit"
	"twostep/radiusd"
)

// shutdownGrace bounds how long SIGTERM waits for requests in flight and
// then for the cluster store to close: the process ends within it.
const shutdownGrace = 15 * time.Second

// daemon holds what assemble built; serve runs it.
type daemon struct {
	cfg     *configs.Config
	log     zerolog.Logger
	dir     backend // the first factor, with its capabilities (backend.go)
	clients *radiusd.ClientTable
	keys    *cluster.Keyring  // seals OTP seeds in the store
	vapid   *ecdsa.PrivateKey // the Web Push key, once pushOption read it; nil: Web Push off
	m       *metrics          // every package's collectors, on the registry /metrics serves
	ready   atomic.Bool
	// The log lines outsiders can cause go through lines (one a second
	// per cause, for the whole process).
	lines *loglimit.Limiter
}

// assemble loads the configuration and builds every part without opening a
// socket, so -check exercises exactly what start-up does.
func assemble(path string, logOut io.Writer) (*daemon, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: newLogger(cfg.Log, logOut), lines: loglimit.New(time.Now), m: newMetrics()}
	if d.dir, err = openDirectory(cfg.Directory, d.m.directory); err != nil {
		return nil, err
	}
	d.clients, err = radiusd.NewClientTable(cfg.Clients)
	if err != nil {
		return nil, fmt.Errorf("%s: clients: %w", path, err)
	}
	if d.keys, err = cluster.LoadKeyring(cfg.Cluster.SeedKeys); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w\ncreate the seed key file once, keep a copy offline, and give it to every node:\n  twostepctl keygen -out %s", err, cfg.Cluster.SeedKeys)
		}
		return nil, err
	}
	return d, nil
}

// summary is what -check prints: what would run, never a secret.
func (d *daemon) summary(w io.Writer) error {
	c := d.cfg
	fmt.Fprintf(w, "%s: OK\n", c.Path)
	fmt.Fprintf(w, "  radius: listen %v, %d workers, duplicate cache %s, reject delay %s\n", c.RADIUS.Listen, c.RADIUS.Workers, c.RADIUS.DuplicateTTL, c.RADIUS.RejectDelay)
	for _, cl := range c.Clients {
		fmt.Fprintf(w, "  client %s: %v, Message-Authenticator required: %s, on error: %s, second factor: %s mode, failmode %s, waits %s for a push or the store (the NAS: %s × %d tries)\n",
			cl.Name, cl.Networks, cl.MessageAuthenticator, map[bool]string{false: "reject", true: "drop"}[cl.DropOnError], cl.Login.Mode, cl.Login.FailMode,
			cl.Login.Wait(), cl.Login.NASTimeout, cl.Login.NASRetries+1)
	}
	for _, r := range c.Policy.Groups {
		fmt.Fprintf(w, "  policy: group %s: %s, %d reply attribute(s)\n", r.Group, r.Action, len(r.Reply))
	}
	fmt.Fprintf(w, "  policy: everybody else: %s\n", c.Policy.Default)
	if e := c.Cluster.Embedded; c.Cluster.UsesEmbedded() {
		fmt.Fprintf(w, "  cluster: embedded etcd, data %s, clients at %s, peers at %s, prefix %s, ready within %s or the start fails\n",
			e.DataDir, e.ClientURL, e.PeerURL, c.Cluster.Etcd.Prefix, e.StartTimeout)
	} else {
		fmt.Fprintf(w, "  cluster: etcd %v, prefix %s\n", c.Cluster.Etcd.Endpoints, c.Cluster.Etcd.Prefix)
	}
	fmt.Fprintf(w, "  seed keys: %s (sealing with %s)\n", c.Cluster.SeedKeys, d.keys.ActiveID())
	lock := "off"
	if l := c.Passcodes.Lockout; l.Attempts > 0 && l.Duration > 0 {
		lock = fmt.Sprintf("after %d failures for %s", l.Attempts, l.Duration)
	} else if l.Attempts > 0 {
		lock = fmt.Sprintf("after %d failures until an admin unlocks", l.Attempts)
	}
	fmt.Fprintf(w, "  passcodes: window %d back %d ahead, lockout %s, users without a device: %s\n",
		c.Passcodes.Window.Back, c.Passcodes.Window.Ahead, lock, map[bool]string{false: "denied", true: "allowed"}[c.Passcodes.Unenrolled.Allow])
	fmt.Fprintf(w, "  directory: %s\n", d.describeDirectory())
	if c.Metrics.Listen != "" {
		fmt.Fprintf(w, "  metrics: http://%s/metrics\n", c.Metrics.Listen)
	}
	if c.Portal.Enabled() {
		fmt.Fprintf(w, "  portal: https://%s/, per minute on each node: %d sign-in steps per user and address, %d wrong passwords per user, %d steps per address\n",
			c.Portal.Listen, c.Portal.SignInsPerMinute, c.Portal.SignInsPerMinute, c.Portal.AddressSignInsPerMinute)
	}
	if p := c.Push; p.Enabled() {
		scheme := "https"
		if p.API.TLS.CertFile == "" {
			scheme = "http"
		}
		limit := "no limit"
		if l := p.Approval.Limit; l.Count > 0 {
			limit = fmt.Sprintf("at most %d per user per %s", l.Count, l.Window)
		}
		fmt.Fprintf(w, "  push: approval API listening on %s://%s, devices answer at %v; a push is open %s, %s; %d answers per minute per address; Web Push: %s\n",
			scheme, p.API.Listen, p.API.URLs, p.Approval.Timeout, limit, p.API.AnswersPerMinute, map[bool]string{false: "off (webhooks only)", true: "on"}[p.Notify.WebPush.VAPIDKeyFile != ""])
	} else {
		fmt.Fprintln(w, "  push: off (no push.listen)")
	}
	if h := c.History; h.Enabled {
		fmt.Fprintf(w, "  history: every answer recorded in the cluster, kept %s, at most %d per user, rejects %s the reference\n",
			h.Retention, h.PerUser, map[bool]string{false: "without", true: "end with"}[h.ReferenceInReply])
	} else {
		fmt.Fprintln(w, "  history: off")
	}
	if sc := c.History.Syslog; sc.Enabled() {
		host := sc.Hostname
		if host == "" {
			host = c.Cluster.NodeName()
		}
		fmt.Fprintf(w, "  syslog: this node's login records, and the cluster's audit trail from the node holding the claim, to %s://%s (RFC 5424, facility %s, app %s, host %s)\n",
			sc.Network, sc.Address, sc.Facility, sc.AppName, host)
	} else {
		fmt.Fprintln(w, "  syslog: off (no history.syslog.address)")
	}
	for _, warning := range d.warnings() {
		fmt.Fprintf(w, "  warning: %s\n", warning)
	}
	return nil
}

// warnings are the settings that weaken security or promise more than
// the daemon does; start-up logs them and -check prints them.
func (d *daemon) warnings() []string {
	var w []string
	for _, name := range d.clients.Weak() {
		w = append(w, fmt.Sprintf("client %s has a shared secret of 12 bytes or fewer; use 16 or more random characters", name))
	}
	if d.cfg.Directory.Backend == directory.BackendLDAP {
		w = append(w, d.cfg.Directory.LDAP.Warnings()...)
	}
	for _, c := range d.cfg.Clients {
		switch c.MessageAuthenticator {
		case radiusd.MAOptional:
			w = append(w, fmt.Sprintf("client %s has require_message_authenticator: false: its requests without Message-Authenticator are open to BlastRADIUS (CVE-2024-3596) forgery, "+
				"and a wrong shared secret shows up as bad_password for every user instead of dropped packets (bad_message_authenticator); use auto, which holds the NAS to the attribute once it sends it", c.Name))
		case radiusd.MAAuto:
			w = append(w, fmt.Sprintf("client %s has require_message_authenticator: auto: until the NAS sends Message-Authenticator once, its requests are open to BlastRADIUS (CVE-2024-3596) forgery, "+
				"and a wrong shared secret shows up as bad_password for every user instead of dropped packets (bad_message_authenticator); set true when every NAS behind it sends it", c.Name))
		}
		if c.Login.FailMode == challenge.Safe {
			w = append(w, fmt.Sprintf("client %s has failmode safe: while the cluster store is down its users log in with the password alone", c.Name))
		}
		if nt := c.Login.NASTimeout; nt > 0 && d.cfg.RADIUS.RejectDelay >= nt {
			w = append(w, fmt.Sprintf("radius.reject_delay %s is not below client %s's nas_timeout %s: the NAS sends every rejected request again before its answer leaves; make reject_delay shorter",
				d.cfg.RADIUS.RejectDelay, c.Name, nt))
		}
	}
	pc := d.cfg.Passcodes
	if pc.Unenrolled.Allow && pc.Unenrolled.Grace == 0 {
		w = append(w, "passcodes.unenrolled: allow without a grace period: users with no device log in with the password alone, for ever")
	}
	if pc.Lockout.Attempts == 0 {
		w = append(w, "passcodes.lockout is off: nothing stops online guessing of passcodes")
	}
	if d.cfg.Portal.TLS.SelfSigned {
		w = append(w, "portal.tls: self-signed certificate: browsers warn, and phones do not install the web authenticator; give cert_file and key_file")
	}
	if sc := d.cfg.History.Syslog; sc.Plaintext() {
		w = append(w, fmt.Sprintf("history.syslog: network %s sends login records and audit events (user names, where they log in from) to %s in clear; use network: tls", sc.Network, sc.Address))
	}
	if d.cfg.Cluster.UsesEmbedded() {
		w = append(w, "cluster: embedded single-member etcd; this node is the whole cluster (see docs/operations.md to run an etcd cluster)")
	}
	return w
}
