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

const auditUsage = `Usage: twostepctl audit [-since DURATION|TIME] [-user USER] [-json]

List the help desk's audit trail, oldest first: who issued, used and
revoked bypass codes and recovery passcodes, who imported, assigned,
unassigned, resynchronised or lost hardware tokens, and key rotations
(keys.rekey), when, and for whom. Events come from twostepctl (the admin, as "twostepctl USER@HOST") and from every
twostepd node (each use of a bypass code at a login). They are kept in the
cluster's etcd for 90 days; ship twostepd's log for longer keeping. An
event never holds a code.

-since takes a duration back from now (36h, 7d) or a time in UTC
(2026-11-24, 2026-11-24 10:00, or RFC 3339 with a zone). -user shows one
user's events (compared without case). -json prints a JSON array of
{time, action, actor, user, detail}.

Examples:
  twostepctl audit
  twostepctl audit -since 24h -user alice
  twostepctl audit -since 2026-11-01 -json | jq -r '.[] | select(.action == "bypass.issue") | .user'

Flags:
`

// auditJSON is an event as `audit -json` prints it.
type auditJSON struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	User   string    `json:"user,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func (c *cli) audit(ctx context.Context, args []string) error {
	f := c.storeFlags("audit", auditUsage)
	sinceFlag := f.fs.String("since", "7d", "show events since this `duration` ago (36h, 7d) or time (2026-11-24, 2026-11-24 10:00 UTC, RFC 3339)")
	userFlag := f.fs.String("user", "", "show only this `user`'s events")
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
	events, err := s.audit.List(octx, since, *userFlag)
	if err != nil {
		return s.storeErr(err)
	}
	if *asJSON {
		out := make([]auditJSON, 0, len(events))
		for _, e := range events {
			out = append(out, auditJSON{Time: e.Time.UTC(), Action: e.Action, Actor: e.Actor, User: e.User, Detail: e.Detail})
		}
		return writeJSON(c.stdout, out)
	}
	if len(events) == 0 {
		whose := ""
		if *userFlag != "" {
			whose = " of " + *userFlag
		}
		fmt.Fprintf(c.stdout, "no audit events%s since %s\n", whose, timeText(since))
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

// record writes an audit event of the admin running twostepctl. The
// callers have made their change already: they say so around the error.
func (c *cli) record(ctx context.Context, s *session, action, user, detail string) error {
	octx, cancel := op(ctx)
	defer cancel()
	err := s.audit.Record(octx, cluster.Event{Time: c.now(), Action: action, Actor: actor(), User: user, Detail: detail})
	if err != nil {
		return fmt.Errorf("the audit event %s (%s) was not recorded: %w", action, detail, s.storeErr(err))
	}
	return nil
}

// actor names the admin in audit events: "twostepctl root@vpn1", and the
// account that ran sudo when there was one.
func actor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	a := "twostepctl " + name + "@" + host
	if by := os.Getenv("SUDO_USER"); by != "" && by != name {
		a += " (sudo from " + by + ")"
	}
	return a
}
