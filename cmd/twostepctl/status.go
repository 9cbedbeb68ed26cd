package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"twostep/cluster"
	"twostep/directory"
)

const statusUsage = `Usage: twostepctl status [-json] USER

Show what twostep knows of USER: whether the directory has the user (and
the groups, which the policy reads) and what it says of the account
(disabled, locked, expired: the users file and Active Directory tell it;
OpenLDAP only at a login), how many second-factor devices the user has,
the lockout (failed passcodes; locked since and until when, and why: too
many wrong passcodes, a push answered "This wasn't me", or
` + "`twostepctl lock`" + `), and when the cluster first saw a login of the user
without a device (the grace period of passcodes.unenrolled counts from
it).

Examples:
  twostepctl status alice
  twostepctl status -json alice | jq .lockout.locked

Flags:
`

// statusJSON is what `status -json` prints.
type statusJSON struct {
	User      string        `json:"user"`
	Directory directoryJSON `json:"directory"`
	Devices   int           `json:"devices"`
	Lockout   lockoutJSON   `json:"lockout"`
	// FirstSeen is omitted when no first login was recorded.
	FirstSeen time.Time `json:"first_seen,omitzero"`
}

type directoryJSON struct {
	Found  bool     `json:"found"`
	Groups []string `json:"groups"`
	// State is what the directory says of a found account: ok,
	// disabled, locked, account_expired, password_expired, or unknown
	// where it tells only at a login (OpenLDAP).
	State string `json:"state,omitempty"`
	// Error is set when the directory could not answer.
	Error string `json:"error,omitempty"`
}

type lockoutJSON struct {
	Locked   bool `json:"locked"`
	Failures int  `json:"failures"`
	// Attempts is the configured number of failures that locks (0: off).
	Attempts    int       `json:"attempts"`
	LockedAt    time.Time `json:"locked_at,omitzero"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	UntilUnlock bool      `json:"until_unlock,omitempty"`
	// Cause is why a lock in force was set: failures, fraud or admin.
	Cause cluster.LockCause `json:"cause,omitempty"`
}

func (c *cli) status(ctx context.Context, args []string) error {
	f := c.storeFlags("status", statusUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON object: user, directory, devices, lockout, first_seen")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()

	user := pos[0]
	st := statusJSON{Directory: directoryJSON{Groups: []string{}}}
	dirText := ""
	u, err := s.lookup(ctx, user)
	switch {
	case errors.Is(err, directory.ErrUnknownUser):
		dirText = "not found in " + s.where + "; logins are refused"
	case err != nil:
		st.Directory.Error = err.Error()
		dirText = "no answer: " + err.Error()
	default:
		user = u.Name
		st.Directory.Found = true
		st.Directory.Groups = append(st.Directory.Groups, u.Groups...)
		st.Directory.State = "unknown"
		if u.StateKnown {
			st.Directory.State = u.State.String()
		}
		dirText = fmt.Sprintf("found in %s, groups: %s%s", s.where, groupList(u.Groups), s.accountText(u))
	}
	st.User = user

	acct, err := s.load(ctx, user)
	if err != nil {
		return err
	}
	now := c.now()
	l := acct.Lockout
	st.Devices = len(acct.Devices)
	st.FirstSeen = acct.Profile.FirstSeen.UTC()
	st.Lockout = lockoutJSON{
		Locked: l.Locked(now), Failures: l.Failures, Attempts: s.cfg.Passcodes.Lockout.Attempts,
	}
	if st.Lockout.Locked {
		st.Lockout.LockedAt = l.LockedAt.UTC()
		st.Lockout.LockedUntil = l.LockedUntil.UTC()
		st.Lockout.UntilUnlock = l.LockedUntil.IsZero()
		st.Lockout.Cause = l.LockedBy()
	}
	if *asJSON {
		return writeJSON(c.stdout, st)
	}

	devText := fmt.Sprintf("%d; list them with `%s`", st.Devices, s.command("devices", user))
	switch {
	case st.Devices == 0 && !st.Directory.Found:
		devText = "none"
	case st.Devices == 0:
		devText = fmt.Sprintf("none; enroll one with `%s`", s.command("enroll", user))
	}
	var lockText string
	switch {
	case st.Lockout.Locked:
		lockText = fmt.Sprintf("LOCKED %s; unlock with `%s`", lockoutText(l), s.command("unlock", user))
	case st.Lockout.Attempts == 0:
		lockText = "not locked (lockout is off: passcodes.lockout.attempts is 0)"
	case l.Failures > 0 && l.LockedAt.IsZero():
		lockText = fmt.Sprintf("not locked; %d of %d failed passcodes since the last good one", l.Failures, st.Lockout.Attempts)
	default:
		lockText = "not locked"
	}
	firstSeen := "not recorded"
	if !st.FirstSeen.IsZero() {
		firstSeen = timeText(st.FirstSeen)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "user:\t%s\n", user)
	fmt.Fprintf(tw, "directory:\t%s\n", dirText)
	fmt.Fprintf(tw, "devices:\t%s\n", devText)
	fmt.Fprintf(tw, "lockout:\t%s\n", lockText)
	fmt.Fprintf(tw, "first seen:\t%s\n", firstSeen)
	return tw.Flush()
}

// accountText says what the directory says of u's account, when it
// refuses logins or cannot tell: the lockout line below is twostep's own.
func (s *session) accountText(u directory.User) string {
	if !u.StateKnown {
		return "; it tells whether the account is locked or expired only at a login"
	}
	switch u.State {
	case directory.Disabled:
		if _, ok := s.dir.(*directory.File); ok {
			return fmt.Sprintf("; DISABLED: logins are refused (enable with `twostepctl user enable %s`)", u.Name)
		}
		return "; DISABLED there: logins are refused"
	case directory.Locked:
		return "; LOCKED there: logins are refused until the directory unlocks it"
	case directory.AccountExpired:
		return "; ACCOUNT EXPIRED there: logins are refused"
	case directory.PasswordExpired:
		return "; PASSWORD EXPIRED there: the user must change it to log in"
	}
	return ""
}
