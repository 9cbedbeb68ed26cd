package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster/etcdstore"
	"twostep/confcheck"
)

// cluster checks the etcd cluster: that it answers, its members and
// leader, their clocks beside this one, and what the credentials may do.
func (d *doctor) cluster(ctx context.Context) {
	cc := d.cfg.Cluster
	store, err := etcdstore.Open(ctx, cc.Etcd)
	if err != nil {
		fix := "check cluster.endpoints, ca_file, cert_file and key_file, username and password, and that the etcd cluster runs"
		if cc.UsesEmbedded() {
			fix = "start twostepd: the embedded etcd runs inside it, at cluster.embedded.client_url " + cc.Embedded.ClientURL
		}
		d.fail("cluster.connect", err.Error(), fix)
		return
	}
	d.store = store
	d.ok("cluster.connect", fmt.Sprintf("etcd at %s answers, keys under %s", strings.Join(cc.Etcd.Endpoints, ", "), cc.Etcd.Prefix))
	members := d.members(ctx)
	d.clocks(ctx, members)
	d.access(ctx)
}

// memberName names m in a check: its name, or its id before it has one.
func memberName(m etcdstore.Member) string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("%x", m.ID)
}

// members reports each member and the leader, and returns the members
// that answered.
func (d *doctor) members(ctx context.Context) []etcdstore.Member {
	ms, err := d.store.Members(ctx, d.timeout)
	if err != nil {
		d.fail("cluster.member", err.Error(), "etcd must list its members: check that a majority of them runs")
		return nil
	}
	configured := map[string]bool{}
	for _, ep := range d.cfg.Cluster.Etcd.Endpoints {
		configured[endpointHost(ep)] = true
	}
	names := map[uint64]string{}
	var answered []etcdstore.Member
	for _, m := range ms {
		names[m.ID] = memberName(m)
		check := "cluster.member " + memberName(m)
		where := "no client URL"
		if len(m.ClientURLs) > 0 {
			where = m.ClientURLs[0]
		}
		if m.Err != nil {
			d.fail(check, fmt.Sprintf("%s (id %x) does not answer: %v", where, m.ID, m.Err),
				fmt.Sprintf("start etcd on that member's host; a member gone for good leaves the cluster with `etcdctl member remove %x`", m.ID))
			continue
		}
		answered = append(answered, m)
		role := "follower"
		switch {
		case m.Learner:
			role = "learner (does not vote yet)"
		case m.Leader == m.ID:
			role = "leader"
		}
		detail := fmt.Sprintf("%s, etcd %s, %s, database %s", where, m.Version, role, byteSize(m.DBSize))
		known := false
		for _, u := range m.ClientURLs {
			known = known || configured[endpointHost(u)]
		}
		switch {
		case len(m.Alarms) > 0:
			d.fail(check, detail+"; alarm: "+strings.Join(m.Alarms, "; "),
				"NOSPACE: compact and defragment (`etcdctl compact`, `etcdctl defrag`) or raise --quota-backend-bytes, then `etcdctl alarm disarm`; CORRUPT: replace the member from a snapshot")
		case !known:
			d.warn(check, detail+"; not in cluster.endpoints",
				"add "+where+" to cluster.endpoints on every node: nodes fail over only to the endpoints they are given")
		default:
			d.ok(check, detail)
		}
	}
	d.leader(ms, answered, names)
	return answered
}

// byteSize shows a size in kB or MB.
func byteSize(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d kB", (n+1023)/1024)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// endpointHost is the host:port of an endpoint, with or without a
// scheme, for comparing configured endpoints with members' URLs.
func endpointHost(ep string) string {
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		return strings.ToLower(u.Host)
	}
	return strings.ToLower(strings.TrimSuffix(ep, "/"))
}

// leader reports whether the members that answered follow one leader.
func (d *doctor) leader(all, answered []etcdstore.Member, names map[uint64]string) {
	const check = "cluster.leader"
	const fix = "a majority of the members must run and reach each other on their peer URLs (firewalls, peer TLS)"
	if len(answered) == 0 {
		d.fail(check, "no member answered", fix)
		return
	}
	leaders := map[uint64]bool{}
	var none []string
	for _, m := range answered {
		if m.Leader == 0 {
			none = append(none, memberName(m))
			continue
		}
		leaders[m.Leader] = true
	}
	switch {
	case len(none) > 0:
		d.fail(check, fmt.Sprintf("no leader: %s see none", strings.Join(none, ", ")), fix)
	case len(leaders) > 1:
		var ls []string
		for _, m := range answered {
			ls = append(ls, fmt.Sprintf("%s follows %x", memberName(m), m.Leader))
		}
		d.fail(check, "the members follow different leaders: "+strings.Join(ls, ", "), fix)
	default:
		var id uint64
		for l := range leaders {
			id = l
		}
		name, ok := names[id]
		if !ok {
			d.fail(check, fmt.Sprintf("the leader %x is not a member", id), fix)
			return
		}
		d.ok(check, fmt.Sprintf("%s (id %x), raft term %d; %d of %d members answer", name, id, answered[0].RaftTerm, len(answered), len(all)))
	}
}

// clockWarn is how far this machine's clock may be from a member's
// before the doctor warns.
const clockWarn = time.Second

// totpStep is the TOTP period of authenticator apps.
const totpStep = 30 * time.Second

// clockLimit is how far this machine's clock may be off, offset being a
// member's clock minus this one's, before most fresh TOTP codes are
// refused here: a code is accepted window.Ahead steps after this clock's
// step and window.Back before it, so a clock behind by more than half a
// step beyond Ahead steps (ahead by half a step beyond Back steps) takes
// the phone's current code less than half the time, and counts the rest
// toward the lockout.
func clockLimit(offset time.Duration, window otp.Window) time.Duration {
	steps := window.Back
	if offset > 0 {
		steps = window.Ahead
	}
	return time.Duration(steps)*totpStep + totpStep/2
}

// clocks compares this machine's clock with each member's.
func (d *doctor) clocks(ctx context.Context, members []etcdstore.Member) {
	const ntp = "run NTP (chrony, systemd-timesyncd) on this host, every etcd member and every twostepd node"
	window := d.cfg.Passcodes.Window
	for _, m := range members {
		check := "cluster.clock " + memberName(m)
		c, err := d.store.ReadClock(ctx, m.ClientURLs[0], d.c.now, d.timeout)
		if err != nil {
			d.warn(check, err.Error(), "the member's /version must answer at its client URL, with its Date header")
			continue
		}
		off, within := c.Offset()
		abs, dir := off, "behind"
		if off < 0 {
			abs, dir = -off, "ahead of"
		}
		detail := fmt.Sprintf("this machine's clock is %s %s %s's (± %s, from its Date header)", abs.Round(100*time.Millisecond), dir, memberName(m), within.Round(100*time.Millisecond))
		switch limit := clockLimit(off, window); {
		case abs > limit:
			d.fail(check, fmt.Sprintf("%s: beyond %s most fresh TOTP codes are refused here (passcodes.window_back %d, window_ahead %d) and count toward the lockout",
				detail, limit, window.Back, window.Ahead), ntp)
		case abs > clockWarn:
			d.warn(check, detail+": codes typed early in a step are refused by a node behind the phones", ntp)
		default:
			d.ok(check, detail)
		}
	}
}

// access reports etcd's authentication and what the credentials may do.
func (d *doctor) access(ctx context.Context) {
	cc := d.cfg.Cluster
	prefix, user := cc.Etcd.Prefix, cc.Etcd.Username
	a, err := d.store.CheckAccess(ctx, d.timeout)
	if err != nil {
		d.fail("cluster.auth", err.Error(), "etcd must tell its authentication status: check that it answers")
		return
	}
	const enable = "docs/operations.md (The cluster store): add root, a role with readwrite on the prefix and twostep's user, then `etcdctl auth enable`"
	switch {
	case a.AuthEnabled && user != "":
		d.ok("cluster.auth", fmt.Sprintf("on; twostep logs in as %q (roles: %s)", user, strings.Join(a.Roles, ", ")))
	case a.AuthEnabled:
		d.ok("cluster.auth", "on; etcd knows twostep by its client certificate (cluster.cert_file)")
	case user != "":
		d.fail("cluster.auth", fmt.Sprintf("off in etcd, though cluster.username is %q: the user and its password protect nothing, and whoever reaches the endpoints reads and changes every record", user),
			"turn etcd's authentication on: "+enable)
	case cc.UsesEmbedded() && cc.Embedded.ClientCAFile != "":
		d.ok("cluster.auth", "off; the embedded etcd demands client certificates (cluster.embedded.client_ca_file)")
	case cc.UsesEmbedded() && loopbackURL(cc.Embedded.ClientURL):
		d.ok("cluster.auth", "off; the embedded etcd listens on loopback only (every user of this host reaches it)")
	case cc.Etcd.CertFile != "":
		d.ok("cluster.auth", "off; twostep presents a client certificate (cluster.cert_file), which etcd must demand (--client-cert-auth)")
	default:
		d.warn("cluster.auth", "off, and twostep presents neither a user nor a client certificate: whoever reaches the endpoints reads and changes every record",
			"set cluster.username and password_file and turn etcd's authentication on ("+enable+"), or client certificates (etcd --client-cert-auth, cluster.cert_file and key_file)")
	}

	if a.ReadWrite != nil {
		d.fail("cluster.readwrite", a.ReadWrite.Error(),
			fmt.Sprintf("twostep's role needs readwrite on the prefix: `etcdctl role grant-permission ROLE --prefix=true readwrite %s`", prefix))
	} else {
		d.ok("cluster.readwrite", fmt.Sprintf("wrote, read and deleted a key under %sdoctor/", prefix))
	}

	if !a.AuthEnabled {
		return
	}
	who := "twostep's user"
	if user != "" {
		who = fmt.Sprintf("%q", user)
	}
	const own = "give twostep a user of its own whose only role grants readwrite on the prefix (docs/operations.md), never root"
	switch {
	case a.Outside != nil:
		d.warn("cluster.isolation", fmt.Sprintf("a read outside %s got no answer: %v", prefix, a.Outside), "run the doctor again")
	case !a.OutsideRefused:
		d.warn("cluster.isolation", fmt.Sprintf("%s may read every key, not only %s: %s", who, prefix, strings.Join(a.Beyond, "; ")), own)
	case len(a.Beyond) > 0:
		d.warn("cluster.isolation", fmt.Sprintf("a read of every key is refused, but %s reaches beyond %s: %s", who, prefix, strings.Join(a.Beyond, "; ")),
			"revoke what twostep does not need: `etcdctl role revoke-permission ROLE KEY RANGE_END`; "+own)
	default:
		d.ok("cluster.isolation", fmt.Sprintf("a read outside %s is refused: %s reaches the prefix only", prefix, who))
	}
}

// loopbackURL reports whether u's host is a loopback address.
func loopbackURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && confcheck.Loopback(p.Host)
}
