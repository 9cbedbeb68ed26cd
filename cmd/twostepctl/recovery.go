package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"twostep/cluster"
)

const recoveryUsage = `Usage: twostepctl recovery COMMAND [FLAGS] USER

Recovery passcodes are for a user who lost every device: once the help
desk knows who is calling, it issues a single-use passcode, and with it the
user enrolls a new device (` + "`twostepctl enroll -recovery CODE USER`" + `).
A recovery passcode never logs in by itself.

  issue  issue a recovery passcode and show it, once

Run ` + "`twostepctl recovery COMMAND -h`" + ` for a command's flags and examples.
`

func (c *cli) recovery(ctx context.Context, args []string) error {
	return c.group(ctx, "recovery", recoveryUsage, args, map[string]subcommand{
		"issue": c.recoveryIssue,
	})
}

const recoveryIssueUsage = `Usage: twostepctl recovery issue [-ttl DURATION] [-json] USER

Issue a recovery passcode for USER, who must exist in the directory and
has lost every device, and show it once, in groups of three digits to
read over the phone. It works once, until -ttl is over (default: the
configuration's recovery.ttl, 1h), and replaces any earlier recovery
passcode of USER. It is stored only as a keyed hash, and it never logs in
by itself: the user enrolls a new device with it, with
the portal (sign in with the password, then "Use a recovery passcode"), or
` + "`twostepctl enroll -recovery CODE USER`" + `. For logins until then, issue a
bypass code.

When the portal is configured, a one-time activation link is printed too:
the portal's sign-in page with the passcode in the link's fragment, which
browsers never send to a server; the page fills the passcode in after the
password. Mail systems that rewrite links (Safe Links, URL defence) may
keep the whole link, fragment included: send it by a channel that does
not, or read the passcode out instead. The passcode alone, without the
password, opens nothing.

-json prints one JSON object, {user, code, recovery: {id, created,
expires, issued_by}}, which holds the passcode: keep that output secret.

Examples:
  twostepctl recovery issue alice
  twostepctl recovery issue -ttl 24h alice

Flags:
`

// recoveryJSON is a recovery passcode as -json shows it.
type recoveryJSON struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	IssuedBy string    `json:"issued_by"`
}

// recoveryIssued is what `recovery issue -json` prints.
type recoveryIssued struct {
	User     string       `json:"user"`
	Code     string       `json:"code"`
	Link     string       `json:"link,omitempty"`
	Recovery recoveryJSON `json:"recovery"`
}

func (c *cli) recoveryIssue(ctx context.Context, args []string) error {
	f := c.storeFlags("recovery issue", recoveryIssueUsage)
	ttl := f.fs.Duration("ttl", 0, "how long the passcode works (`duration`, 1m to 168h); default recovery.ttl of the configuration (1h)")
	asJSON := f.fs.Bool("json", false, "print a JSON object with the passcode; it holds the passcode")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	if setFlags(f.fs)["ttl"] && (*ttl < cluster.MinRecoveryTTL || *ttl > cluster.MaxRecoveryTTL) {
		return fmt.Errorf("twostepctl recovery issue: -ttl %s: want 1m to 168h (7 days)", *ttl)
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
	if *ttl == 0 {
		*ttl = s.cfg.Recovery.TTL
	}
	user, err := s.mustExist(ctx, pos[0])
	if err != nil {
		return err
	}
	now := c.now()
	octx, cancel := op(ctx)
	code, r, err := s.accounts.IssueRecovery(octx, user, *ttl, s.cfg.Recovery.Digits, c.issuedBy(), now)
	cancel()
	if err != nil {
		if errors.Is(err, cluster.ErrConflict) {
			return fmt.Errorf("%s's recovery passcode changed meanwhile (another admin?); nothing issued: run the command again", user)
		}
		return fmt.Errorf("no passcode issued: %w", s.storeErr(err))
	}
	link := ""
	if s.cfg.Portal.Enabled() {
		// The code rides in the fragment, which browsers never send: no
		// server or proxy log sees it; the sign-in page's script carries
		// it to the recovery form.
		link = strings.TrimSuffix(s.cfg.Portal.URL, "/") + "/signin#recovery=" + code
	}
	if *asJSON {
		err = writeJSON(c.stdout, recoveryIssued{User: user, Code: code, Link: link, Recovery: recoveryJSON{
			ID: r.ID, Created: r.Created.UTC(), Expires: r.Expires.UTC(), IssuedBy: r.IssuedBy,
		}})
	} else {
		w := c.stdout
		fmt.Fprintf(w, "recovery passcode for %s (id %s), single use, until %s:\n\n    %s\n\n", user, r.ID, timeText(r.Expires), groupCode(code))
		if link != "" {
			fmt.Fprintf(w, "%s signs in to the portal with the password, then this passcode, and adds a new device.\n", user)
			fmt.Fprintf(w, "Or send this one-time activation link (it holds the passcode):\n\n    %s\n\n", link)
		}
		fmt.Fprintf(w, "An admin can also enroll a device with it: %s\n", s.command("enroll", "-recovery", "CODE", user))
		fmt.Fprintf(w, "It never logs in by itself; any earlier recovery passcode of %s no longer works.\n", user)
		fmt.Fprintf(w, "It is shown only this once: give it to %s alone.\n", user)
	}
	return err
}

// useRecovery spends user's recovery passcode code for an enrollment,
// with its audit event. The error says why the passcode was refused; it
// never holds the code.
func (c *cli) useRecovery(ctx context.Context, s *session, user, code string) error {
	octx, cancel := op(ctx)
	defer cancel()
	accounts := s.as("to enroll a device")
	var r cluster.Recovery
	err := cluster.Retry(octx, "use a recovery passcode of "+user, func(ctx context.Context) error {
		acct, err := accounts.Load(ctx, user)
		if err != nil {
			return err
		}
		r, err = accounts.UseRecovery(ctx, acct, code, c.now())
		return err
	})
	switch {
	case errors.Is(err, cluster.ErrNoCode):
		return fmt.Errorf("that recovery passcode is wrong or was already used; nothing stored (a new one: `%s`)", s.command("recovery", "issue", user))
	case errors.Is(err, cluster.ErrCodeExpired):
		return fmt.Errorf("that recovery passcode expired at %s; nothing stored: issue a new one with `%s`", timeText(r.Expires), s.command("recovery", "issue", user))
	case err != nil:
		return fmt.Errorf("nothing stored: %w", s.storeErr(err))
	}
	return nil
}
