package main

import (
	"context"
	"fmt"

	"twostep/cluster"
)

const unlockUsage = `Usage: twostepctl unlock USER

Unlock USER, locked out by too many wrong passcodes or by ` + "`twostepctl lock`" + `,
and clear the count of failed passcodes. It takes effect on every node at
once, and says whether USER was locked.

Example:
  twostepctl unlock alice

Flags:
`

func (c *cli) unlock(ctx context.Context, args []string) error {
	f := c.storeFlags("unlock", unlockUsage)
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	s, user, acct, err := c.openAccount(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	octx, cancel := op(ctx)
	defer cancel()
	cleared, err := s.accounts.Unlock(octx, user)
	if err != nil {
		return fmt.Errorf("nothing changed: %w", s.storeErr(err))
	}
	l, now := acct.Lockout, c.now()
	switch {
	case l.Locked(now):
		fmt.Fprintf(c.stdout, "unlocked %s (%s); logins work again on every node\n", user, lockoutText(l))
	case cleared && l.Failures > 0:
		fmt.Fprintf(c.stdout, "%s was not locked; cleared %s\n", user, count(l.Failures, "failed passcode", "failed passcodes"))
	default:
		fmt.Fprintf(c.stdout, "%s was not locked; nothing changed\n", user)
	}
	return nil
}

const lockUsage = `Usage: twostepctl lock USER

Lock USER until ` + "`twostepctl unlock USER`" + `, on every node at once: every
login that needs a second factor is refused, whatever the password and
passcode. For a login the user reports as not theirs: lock first, then
look into it. The user is told "Your account is locked by the help desk.
Contact them to unlock it." Sessions already open on the VPN stay open
(end them on the NAS), and users the policy exempts from the second
factor are not affected.

Example:
  twostepctl lock alice

Flags:
`

func (c *cli) lock(ctx context.Context, args []string) error {
	f := c.storeFlags("lock", lockUsage)
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	s, err := c.open(ctx, *f.config)
	if err != nil {
		return err
	}
	defer s.Close()
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
	defer cancel()
	if err := s.accounts.Lock(octx, user, cluster.LockAdmin, now); err != nil {
		return fmt.Errorf("nothing changed: %w", s.storeErr(err))
	}
	if acct.Lockout.Locked(now) {
		fmt.Fprintf(c.stdout, "%s was already locked (%s); ", user, lockoutText(acct.Lockout))
	}
	fmt.Fprintf(c.stdout, "locked %s until `%s`, on every node\n", user, s.command("unlock", user))
	return nil
}

// lockoutText describes a lockout in force: why, since and until when.
func lockoutText(l cluster.Lockout) string {
	why := "after too many failed passcodes"
	switch {
	case l.LockedBy() == cluster.LockFraud:
		why = `after the user answered a push "This wasn't me"`
	case l.LockedBy() == cluster.LockAdmin:
		why = "by an admin with `twostepctl lock`"
	case l.Failures > 0:
		why = "after " + count(l.Failures, "failed passcode", "failed passcodes")
	}
	until := "until an admin unlocks"
	if !l.LockedUntil.IsZero() {
		until = "until " + timeText(l.LockedUntil)
	}
	return why + ", since " + timeText(l.LockedAt) + ", " + until
}
