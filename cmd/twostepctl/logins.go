package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
)

const loginsUsage = `Usage: twostepctl logins [-user USER] [-since DURATION|TIME] [-decision accept|reject|challenge] [-id REF] [-limit N] [-json]

List the login history, newest first: every answer a twostepd node sent
(an Access-Accept, an Access-Reject, each Access-Challenge: a round that
asks for a passcode, a push sent and waiting), with the login's
correlation id, the directory's name of the user (and the name as typed
when it differs), the RADIUS client, the NAS (NAS-Identifier and
NAS-IP-Address, else the address it sent from), the user's end
(Calling-Station-Id), the factor the answer rested on (password, exempt,
totp, hotp, push, bypass, recovery) and its device, the decision and its
reason (docs/operations.md lists them), and the node that answered.

Every request, retransmission, challenge round and push of one login
shares one id, whichever node answered it; the log lines of twostepd
carry the same. A user refused at a login sees the reference of its id at
the end of the message ("Ref 3f9a-c21b"): -id takes it as shown, or a
whole id, and lists that login (a reference may name more than one
login in the retention; the user and time tell them apart).

Only etcd is needed (and the seed key file, to check that no record was
written or edited without it; without the file, records are listed
unchecked, with a note). Records are kept for history.retention (30
days), at most history.per_user (200) per user.

-user matches the directory's name or the name as typed, without case.
-since takes a duration back from now (2h, 7d) or a time in UTC
(2026-11-24, 2026-11-24 10:00, or RFC 3339); default 24h, or everything
kept with -id. -limit shows the newest N (default 100; 0: all). -json
prints a JSON array of objects with exactly the fields time, id, user,
typed_user, client, nas_id, nas_addr, from, factor, device, decision,
reason, node: every one always there, "" when empty (typed_user when the
name as typed is the directory's, user when no directory user was
named), device {id, name} or null.

Examples:
  twostepctl logins -user alice
  twostepctl logins -id "Ref 3f9a-c21b"
  twostepctl logins -since 1h -decision reject
  twostepctl logins -since 2026-11-24 -limit 0 -json | jq -r '.[] | select(.factor == "bypass") | .user'

Flags:
`

// defaultLoginsLimit is -limit's default.
const defaultLoginsLimit = 100

func (c *cli) logins(ctx context.Context, args []string) error {
	f := c.storeFlags("logins", loginsUsage)
	userFlag := f.fs.String("user", "", "show only this `user`'s logins (the directory's name or as typed, without case)")
	sinceFlag := f.fs.String("since", "24h", "show logins since this `duration` ago (2h, 7d) or time (2026-11-24, 2026-11-24 10:00 UTC, RFC 3339); with -id, everything kept")
	decision := f.fs.String("decision", "", "show only answers of this `decision`: accept, reject or challenge")
	idFlag := f.fs.String("id", "", "show the login of this `reference` (Ref 3f9a-c21b, as a refused user sees it) or id")
	limit := f.fs.Int("limit", defaultLoginsLimit, "show the newest `N` records; 0: all")
	asJSON := f.fs.Bool("json", false, "print a JSON array of the records")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl logins: takes no arguments, got %q; for one user's logins: -user USER", pos)
	}
	filter := cluster.LoginFilter{User: strings.TrimSpace(*userFlag), Decision: *decision}
	switch *decision {
	case "", "accept", "reject", "challenge":
	default:
		return fmt.Errorf("twostepctl logins: -decision %q: want accept, reject or challenge", *decision)
	}
	if *limit < 0 {
		return fmt.Errorf("twostepctl logins: -limit %d: want 0 (all) or more", *limit)
	}
	if *idFlag != "" {
		if filter.ID, err = cluster.ParseLoginReference(*idFlag); err != nil {
			return fmt.Errorf("twostepctl logins: -id: %w", err)
		}
	}
	if *idFlag == "" || flagSet(f.fs, "since") {
		if filter.Since, err = parseSince(*sinceFlag, c.now()); err != nil {
			return fmt.Errorf("twostepctl logins: -since %q: want a duration (2h, 7d) or a time (2026-11-24, 2026-11-24 10:00, RFC 3339)", *sinceFlag)
		}
	}

	h, closeStore, err := c.openHistory(ctx, *f.config)
	if err != nil {
		return err
	}
	defer closeStore()
	octx, cancel := op(ctx)
	defer cancel()
	recs, err := h.List(octx, filter)
	var tampered error
	if errors.Is(err, cluster.ErrTampered) {
		tampered, err = err, nil
	}
	if err != nil {
		return err
	}
	total := len(recs)
	if *limit > 0 && total > *limit {
		recs = recs[:*limit]
		fmt.Fprintf(c.stderr, "note: the newest %d of %d records; -limit 0 shows all\n", *limit, total)
	}
	if *asJSON {
		out := make([]cluster.LoginRecord, 0, len(recs))
		for _, r := range recs {
			r.Time = r.Time.UTC()
			out = append(out, r)
		}
		err = writeJSON(c.stdout, out)
	} else {
		err = c.printLogins(recs, filter)
	}
	if err != nil {
		return err
	}
	if tampered != nil {
		return fmt.Errorf("login records that fail their integrity check (written or edited in etcd without the seed key file) are not shown; look at who can write to etcd: %w", tampered)
	}
	return nil
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// printLogins writes recs as a table.
func (c *cli) printLogins(recs []cluster.LoginRecord, f cluster.LoginFilter) error {
	if len(recs) == 0 {
		what := "no login records"
		if f.User != "" {
			what += " of " + f.User
		}
		if f.ID != "" {
			what += " with id " + f.ID
		}
		if !f.Since.IsZero() {
			what += " since " + timeText(f.Since)
		}
		fmt.Fprintln(c.stdout, what)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tUSER\tCLIENT\tNAS\tFROM\tFACTOR\tDEVICE\tDECISION\tREASON\tNODE")
	for _, r := range recs {
		// The typed name, NAS-Identifier and Calling-Station-Id are what
		// a NAS passed on from anybody: shown quoted when they hold what
		// a terminal would act on (escapes) or a table would break on.
		user := shown(r.User)
		switch {
		case user == "":
			user = "(typed " + shown(r.TypedUser) + ")"
		case r.TypedUser != "":
			user += " (typed " + shown(r.TypedUser) + ")"
		}
		nas := shown(r.NASAddr)
		if r.NASID != "" {
			nas = shown(r.NASID) + " " + nas
		}
		device := "-"
		if r.Device != nil {
			device = r.Device.Name
			if device == "" {
				device = r.Device.ID
			}
			device = shown(device)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format("2006-01-02 15:04:05 UTC"), r.ID, user,
			shown(r.Client), nas, orDash(shown(r.From)), orDash(r.Factor), device, r.Decision, r.Reason, orDash(shown(r.Node)))
	}
	return tw.Flush()
}

// openHistory reads the configuration at path and connects to etcd,
// which must answer: the login history is all logins needs, so it runs
// on any machine that reaches etcd, without the directory. The seed key
// file checks the records when it can be read; without it they are
// listed unchecked, and stderr says so. closeStore releases etcd.
func (c *cli) openHistory(ctx context.Context, path string) (*cluster.History, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	keys, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		fmt.Fprintf(c.stderr, "note: records are not checked against the seed key file: %v\n", err)
		keys = nil
	}
	octx, cancel := op(ctx)
	defer cancel()
	store, err := etcdstore.Open(octx, cfg.Cluster.Etcd)
	if err != nil {
		return nil, nil, (&session{cfg: cfg}).storeErr(err)
	}
	return cluster.NewHistory(store, keys, 0), func() { store.Close() }, nil
}
