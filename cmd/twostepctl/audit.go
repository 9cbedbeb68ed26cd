package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"twostep/cluster"
)

const auditUsage = `Usage: twostepctl audit [-since DURATION|TIME] [-user USER] [-action PREFIX] [-json]

List the cluster's audit trail, oldest first: every change an admin, the
help desk, a user in the portal or a node made, when, by whom and for
whom. Devices (device.enroll, device.rename, device.remove,
device.default), lockouts (user.lock, user.unlock), the users file
(user.add, user.passwd, user.disable, user.enable, user.groups,
user.delete), bypass codes and recovery passcodes (bypass.issue,
bypass.use, bypass.revoke, recovery.issue, recovery.use), hardware tokens
(token.import, token.assign, token.unassign, token.lost, token.resync),
key rotations (keys.rekey) and devices' answers to pushes (push.deny,
push.number_mismatch, push.fraud).

The actor is "twostepctl OSUSER@HOST" for an admin, "portal USER" for a
user changing their own account in the portal, "node NAME" for a twostepd
node acting by itself (a bypass code used at a login, a lock after too
many wrong codes). A change to the cluster's records and its event are
written in one transaction; an event never holds a code, seed or
password. Events are kept in the cluster's etcd for 90 days; ship
twostepd's log for longer keeping.

-since takes a duration back from now (36h, 7d) or a time in UTC
(2026-11-24, 2026-11-24 10:00, or RFC 3339 with a zone). -user shows one
user's events (compared without case). -action shows the events whose
action starts with PREFIX (user.lock, or user. for every user event).
-json prints a JSON array of {time, action, actor, user, detail}.

Examples:
  twostepctl audit
  twostepctl audit -since 24h -user alice
  twostepctl audit -action device. -since 30d
  twostepctl audit -since 2026-11-01 -json | jq -r '.[] | select(.action == "bypass.issue") | .user'

Flags:
`

// auditJSON is an event as `audit -json` prints it: every field, empty
// ones too.
type auditJSON struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	User   string    `json:"user"`
	Detail string    `json:"detail"`
}

func (c *cli) audit(ctx context.Context, args []string) error {
	f := c.storeFlags("audit", auditUsage)
	sinceFlag := f.fs.String("since", "7d", "show events since this `duration` ago (36h, 7d) or time (2026-11-24, 2026-11-24 10:00 UTC, RFC 3339)")
	userFlag := f.fs.String("user", "", "show only this `user`'s events")
	actionFlag := f.fs.String("action", "", "show only the events whose action starts with `prefix` (user.lock, device.)")
	asJSON := f.fs.Bool("json", false, "print a JSON array: time, action, actor, user, detail")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl audit: takes no arguments, got %q; for one user's events: -user USER", pos)
	}
	now := c.now()
	since, err := parseSince(*sinceFlag, now)
	if err != nil {
		return err
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	octx, cancel := op(ctx)
	defer cancel()
	all, err := s.audit.List(octx, since, *userFlag)
	if err != nil {
		return s.storeErr(err)
	}
	events := all[:0]
	for _, e := range all {
		if strings.HasPrefix(e.Action, *actionFlag) {
			events = append(events, e)
		}
	}
	if *asJSON {
		out := make([]auditJSON, 0, len(events))
		for _, e := range events {
			out = append(out, auditJSON{Time: e.Time.UTC(), Action: e.Action, Actor: e.Actor, User: e.User, Detail: e.Detail})
		}
		return writeJSON(c.stdout, out)
	}
	if len(events) == 0 {
		which := ""
		if *actionFlag != "" {
			which = " " + *actionFlag + "*"
		}
		if *userFlag != "" {
			which += " of " + *userFlag
		}
		fmt.Fprintf(c.stdout, "no audit events%s since %s\n", which, timeText(since))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tUSER\tACTOR\tDETAIL")
	for _, e := range events {
		user := e.User
		if user == "" {
			user = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05 UTC"), e.Action, user, e.Actor, e.Detail)
	}
	return tw.Flush()
}

// sinceLayouts are the times -since reads, in UTC unless they name a zone.
var sinceLayouts = []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02 15:04 UTC", "2006-01-02"}

// parseSince reads -since: a duration back from now, with d for days, or
// a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	for _, layout := range sinceLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("twostepctl audit: -since %q: want a duration (36h, 7d) or a time (2026-11-24, 2026-11-24 10:00, RFC 3339)", s)
}

// record writes the audit event of a change the admin made that is not
// one transaction (rekey, token resync): right after it. The callers say
// around the error that the change is made.
func (c *cli) record(ctx context.Context, s *session, action, user, detail string) error {
	octx, cancel := op(ctx)
	defer cancel()
	if s.by.Note != "" {
		detail += "; " + s.by.Note
	}
	err := s.audit.Record(octx, cluster.Event{Time: c.now(), Action: action, Actor: s.by.Name, User: user, Detail: detail})
	if err != nil {
		return fmt.Errorf("the audit event %s (%s) was not recorded: %w", action, detail, s.storeErr(err))
	}
	return nil
}

// actor is the admin running twostepctl, as audit events name them:
// "twostepctl root@vpn1" (cluster.AdminActor), with the account that ran
// sudo, when there was one, in the detail ("sudo from alice").
func (c *cli) actor() cluster.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	a := cluster.Actor{Name: cluster.AdminActor(name, host), Now: c.now}
	if by := c.getenv("SUDO_USER"); by != "" && by != name {
		a.Note = "sudo from " + by
	}
	return a
}

// issuedBy names the admin in a code's record (bypass list shows it):
// the actor, and who ran sudo.
func (c *cli) issuedBy() string {
	a := c.actor()
	if a.Note != "" {
		return a.Name + " (" + a.Note + ")"
	}
	return a.Name
}
