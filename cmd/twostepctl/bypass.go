package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/configs"
)

const bypassUsage = `Usage: twostepctl bypass COMMAND [FLAGS] USER ...

Bypass codes let a user log in without the device, for a few logins or a
few days: a forgotten phone (profile short: 5 logins in 24 hours) or a
lost only device (profile long: any number of logins for 7 days, while a
new one is enrolled). A code is accepted wherever a passcode is, on every
node; it is shown once when issued and stored only as a keyed hash. Every
issue, use and revoke goes to the audit trail (` + "`twostepctl audit`" + `).

  issue   issue a bypass code and show it, once
  list    list a user's bypass codes, their uses and expiry (never the codes)
  revoke  revoke one bypass code of a user, or all of them

Run ` + "`twostepctl bypass COMMAND -h`" + ` for a command's flags and examples.
`

func (c *cli) bypass(ctx context.Context, args []string) error {
	return c.group(ctx, "bypass", bypassUsage, args, map[string]subcommand{
		"issue":  c.bypassIssue,
		"list":   c.bypassList,
		"revoke": c.bypassRevoke,
	})
}

const bypassIssueUsage = `Usage: twostepctl bypass issue [-profile short|long|NAME] [-uses N -ttl DURATION] [-json] USER

Issue a bypass code for USER, who must exist in the directory, and show it
once, in groups of three digits to read over the phone, with what it
allows and how the user types it: appended to the password
(password,123456789) or, when asked for a passcode, alone. Codes are
stored only as keyed hashes: a code that is lost cannot be shown again;
issue another and revoke the first.

The code follows a profile of the configuration (section bypass): short
(5 logins in 24 hours: a forgotten device; the default) or long (any
number of logins for 7 days: a lost only device), or another the
configuration names. Or it follows -uses and -ttl, given together instead
of -profile (recorded as profile custom): -uses 0 allows any number of
logins until the code expires.

A code works alongside the user's devices and other codes; a locked user
stays locked (` + "`twostepctl unlock`" + `). -json prints one JSON object,
{user, code, bypass: {id, profile, uses, max_uses, created, expires,
last_used, state, issued_by}}, which holds the code: keep that output
secret.

Examples:
  twostepctl bypass issue alice
  twostepctl bypass issue -profile long alice
  twostepctl bypass issue -uses 1 -ttl 2h alice
  twostepctl bypass issue -json alice | jq -r .code

Flags:
`

// customProfile is the profile recorded for a code of -uses and -ttl.
const customProfile = "custom"

// bypassJSON is a bypass code as -json shows it: never the code.
type bypassJSON struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	Uses    int    `json:"uses"`
	// MaxUses is 0 for any number of logins.
	MaxUses int       `json:"max_uses"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// LastUsed is when the code last logged in (omitted: never).
	LastUsed time.Time `json:"last_used,omitzero"`
	// State is usable, expired or used up.
	State    string `json:"state"`
	IssuedBy string `json:"issued_by"`
}

func bypassInfo(b cluster.Bypass, now time.Time) bypassJSON {
	return bypassJSON{
		ID: b.ID, Profile: b.Profile, Uses: b.Used, MaxUses: b.MaxUses,
		Created: b.Created.UTC(), Expires: b.Expires.UTC(), LastUsed: b.LastUsed.UTC(),
		State: bypassState(b, now), IssuedBy: b.IssuedBy,
	}
}

// bypassIssued is what `bypass issue -json` prints.
type bypassIssued struct {
	User   string     `json:"user"`
	Code   string     `json:"code"`
	Bypass bypassJSON `json:"bypass"`
}

func (c *cli) bypassIssue(ctx context.Context, args []string) error {
	f := c.storeFlags("bypass issue", bypassIssueUsage)
	profile := f.fs.String("profile", "", "the `profile` of the configuration: short (default), long, or another it names")
	uses := f.fs.Int("uses", 0, "with -ttl instead of -profile: the `number` of logins, 0 for any number")
	ttl := f.fs.Duration("ttl", 0, "with -uses instead of -profile: how long the code works (`duration`, 1m to 2160h)")
	asJSON := f.fs.Bool("json", false, "print a JSON object with the code and its settings; it holds the code")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	set := setFlags(f.fs)
	if set["profile"] && (set["uses"] || set["ttl"]) {
		return errors.New("twostepctl bypass issue: give -profile or -uses with -ttl, not both")
	}
	if set["uses"] != set["ttl"] {
		return errors.New("twostepctl bypass issue: -uses and -ttl go together (-uses 0 for any number of logins)")
	}
	custom := set["uses"]
	if custom {
		switch {
		case *uses < 0 || *uses > cluster.MaxBypassUses:
			return fmt.Errorf("twostepctl bypass issue: -uses %d: want 0 (any number) to %d", *uses, cluster.MaxBypassUses)
		case *ttl < cluster.MinBypassTTL || *ttl > cluster.MaxBypassTTL:
			return fmt.Errorf("twostepctl bypass issue: -ttl %s: want 1m to 2160h (90 days)", *ttl)
		}
	}

	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	spec := cluster.BypassSpec{Profile: customProfile, MaxUses: *uses, TTL: *ttl, Digits: s.cfg.Bypass.Digits, IssuedBy: c.issuedBy()}
	if !custom {
		name := *profile
		if name == "" {
			name = "short"
		}
		p, ok := s.cfg.Bypass.Profiles[name]
		if !ok {
			return fmt.Errorf("twostepctl bypass issue: unknown profile %q; the configuration has %s (or give -uses and -ttl)",
				name, strings.Join(slices.Sorted(maps.Keys(s.cfg.Bypass.Profiles)), ", "))
		}
		spec.Profile, spec.MaxUses, spec.TTL = name, p.Uses, p.TTL
	}
	user, err := s.mustExist(ctx, pos[0])
	if err != nil {
		return err
	}
	acct, err := s.load(ctx, user)
	if err != nil {
		return err
	}

	now := c.now()
	octx, cancel := op(ctx)
	code, b, err := s.accounts.IssueBypass(octx, user, spec, now)
	cancel()
	if err != nil {
		return fmt.Errorf("no code issued: %w", s.storeErr(err))
	}
	if *asJSON {
		err = writeJSON(c.stdout, bypassIssued{User: user, Code: code, Bypass: bypassInfo(b, now)})
	} else {
		c.showBypass(s, user, code, b)
	}
	if acct.Lockout.Locked(now) {
		fmt.Fprintf(c.stderr, "note: %s is locked (%s): the code logs in only after `%s`\n", user, lockoutText(acct.Lockout), s.command("unlock", user))
	}
	return err
}

// showBypass prints a new code, the only time it is seen, with what it
// allows and how the user types it.
func (c *cli) showBypass(s *session, user, code string, b cluster.Bypass) {
	w := c.stdout
	fmt.Fprintf(w, "bypass code for %s (id %s, profile %s):\n\n    %s\n\n", user, b.ID, b.Profile, groupCode(code))
	fmt.Fprintf(w, "It allows %s until %s, on every node.\n", allowsText(b.MaxUses), timeText(b.Expires))
	fmt.Fprintf(w, "%s appends it to the password, digits only: password%s%s, or types it when asked for a passcode.\n", user, appendSeparator(s.cfg), code)
	fmt.Fprintf(w, "It is shown only this once: give it to %s alone. Revoke it with `%s`.\n", user, s.command("bypass", "revoke", user, b.ID))
}

// allowsText says how many logins a code allows: "5 logins", "any
// number of logins".
func allowsText(maxUses int) string {
	if maxUses == 0 {
		return "any number of logins"
	}
	return count(maxUses, "login", "logins")
}

// appendSeparator is what users type between password and passcode: the
// clients' separator when they agree on one, the default "," otherwise.
func appendSeparator(cfg *configs.Config) string {
	seps := map[string]bool{}
	for _, cl := range cfg.Clients {
		if cl.Login.Mode == challenge.ModeChallenge || cl.Login.CodeLength > 0 {
			continue
		}
		sep := cl.Login.Separator
		if sep == "" {
			sep = ","
		}
		seps[sep] = true
	}
	if len(seps) == 1 {
		for sep := range seps {
			return sep
		}
	}
	return ","
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

const bypassListUsage = `Usage: twostepctl bypass list [-json] USER

List USER's bypass codes: id, profile, uses (2 of 5, 3 of unlimited),
expiry, last use, state (usable, expired, used up) and who issued it. The
codes themselves are never shown: they are not stored. Expired and used
up codes stay listed for a day after they expire.

Examples:
  twostepctl bypass list alice
  twostepctl bypass list -json alice | jq -r '.[] | select(.state == "usable") | .id'

Flags:
`

func (c *cli) bypassList(ctx context.Context, args []string) error {
	f := c.storeFlags("bypass list", bypassListUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON array: id, profile, uses, max_uses, created, expires, last_used, state, issued_by")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	s, user, acct, err := c.openAccount(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	codes := slices.SortedFunc(slices.Values(acct.Bypass), func(a, b cluster.Bypass) int {
		return a.Created.Compare(b.Created)
	})
	now := c.now()
	if *asJSON {
		out := make([]bypassJSON, 0, len(codes))
		for _, b := range codes {
			out = append(out, bypassInfo(b, now))
		}
		return writeJSON(c.stdout, out)
	}
	if len(codes) == 0 {
		fmt.Fprintf(c.stdout, "%s has no bypass code; issue one with: %s\n", user, s.command("bypass", "issue", user))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROFILE\tUSES\tEXPIRES\tLAST USED\tSTATE\tISSUED BY")
	for _, b := range codes {
		last := "never"
		if !b.LastUsed.IsZero() {
			last = timeText(b.LastUsed)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Profile, usesText(b), timeText(b.Expires), last, bypassState(b, now), b.IssuedBy)
	}
	return tw.Flush()
}

// bypassState names what a login with the code would meet at now, in the
// order twostepd checks: usable, expired, used up.
func bypassState(b cluster.Bypass, now time.Time) string {
	switch {
	case !now.Before(b.Expires):
		return "expired"
	case b.MaxUses > 0 && b.Used >= b.MaxUses:
		return "used up"
	}
	return "usable"
}

const bypassRevokeUsage = `Usage: twostepctl bypass revoke USER ID
       twostepctl bypass revoke -all USER

Revoke USER's bypass code ID (see ` + "`twostepctl bypass list USER`" + `), or with
-all every bypass code of USER. A revoked code stops working on every node
at once. Each revoked code goes to the audit trail.

Examples:
  twostepctl bypass revoke alice 3f9a0c1de2b47a65
  twostepctl bypass revoke -all alice

Flags:
`

func (c *cli) bypassRevoke(ctx context.Context, args []string) error {
	f := c.storeFlags("bypass revoke", bypassRevokeUsage)
	all := f.fs.Bool("all", false, "revoke every bypass code of USER")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	switch {
	case *all && len(pos) != 1:
		return fmt.Errorf("twostepctl bypass revoke: with -all, want USER, got %d arguments; see `twostepctl bypass revoke -h`", len(pos))
	case !*all && len(pos) != 2:
		return fmt.Errorf("twostepctl bypass revoke: want USER ID (or -all USER), got %d arguments; see `twostepctl bypass revoke -h`", len(pos))
	}
	id := ""
	if !*all {
		id = pos[1]
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	user := c.accountName(ctx, s, pos[0])
	octx, cancel := op(ctx)
	gone, err := s.accounts.RevokeBypass(octx, user, id)
	cancel()
	switch {
	case errors.Is(err, cluster.ErrNoCode):
		return fmt.Errorf("%s has no bypass code %q; list them with `%s`", user, id, s.command("bypass", "list", user))
	case errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("%s's bypass codes changed meanwhile (a login, or another admin); nothing revoked: run the command again", user)
	case err != nil:
		return fmt.Errorf("nothing revoked: %w", s.storeErr(err))
	}
	if len(gone) == 0 {
		fmt.Fprintf(c.stdout, "%s has no bypass code; nothing changed\n", user)
		return nil
	}
	now := c.now()
	for _, b := range gone {
		fmt.Fprintf(c.stdout, "revoked bypass code %s (profile %s, used %s, %s) of %s\n", b.ID, b.Profile, usesText(b), bypassState(b, now), user)
	}
	if len(gone) == 1 {
		fmt.Fprintln(c.stdout, "it no longer logs in on any node")
	} else {
		fmt.Fprintln(c.stdout, "they no longer log in on any node")
	}
	return nil
}

// usesText shows a code's uses: "2 of 5", "3 of unlimited".
func usesText(b cluster.Bypass) string {
	if b.MaxUses == 0 {
		return fmt.Sprintf("%d of unlimited", b.Used)
	}
	return fmt.Sprintf("%d of %d", b.Used, b.MaxUses)
}
