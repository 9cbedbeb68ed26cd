package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"twostep/cluster"
)

// deviceJSON is a device as -json shows it: never its secret.
type deviceJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Algorithm     string    `json:"algorithm,omitempty"`
	Digits        int       `json:"digits,omitempty"`
	PeriodSeconds int       `json:"period_seconds,omitempty"`
	Created       time.Time `json:"created"`
	// LastUsed is when the device last logged in (omitted: never).
	LastUsed time.Time `json:"last_used,omitzero"`
	// DefaultPush marks the push device automatic pushes go to.
	DefaultPush bool `json:"default_push,omitempty"`
}

// defaultPush is the id of the push device automatic pushes go to: the
// one the user chose in the portal, else the oldest.
func defaultPush(acct *cluster.Account) string {
	first := ""
	for _, d := range acct.Devices {
		if d.Type != cluster.PushApp {
			continue
		}
		if d.ID == acct.Profile.DefaultPush {
			return d.ID
		}
		if first == "" {
			first = d.ID
		}
	}
	return first
}

func deviceInfo(d cluster.Device, used cluster.UsedStep) deviceJSON {
	return deviceJSON{
		ID: d.ID, Name: d.Name, Type: string(d.Type),
		Algorithm: d.Algorithm, Digits: d.Digits, PeriodSeconds: int(d.Period / time.Second),
		Created: d.Created.UTC(), LastUsed: used.At.UTC(),
	}
}

// params shows a device's settings: SHA1/6/30s for TOTP, SHA1/6 for HOTP,
// with a hardware token's serial.
func params(d cluster.Device) string {
	var p string
	switch d.Type {
	case cluster.TOTP:
		p = fmt.Sprintf("%s/%d/%s", d.Algorithm, d.Digits, d.Period)
	case cluster.HOTP:
		p = fmt.Sprintf("%s/%d", d.Algorithm, d.Digits)
	case cluster.PushApp:
		if pd, err := d.PushDevice(); err == nil {
			return pd.Kind
		}
		return "-"
	default:
		return "-"
	}
	if d.Serial != "" {
		p += " (token " + d.Serial + ")"
	}
	return p
}

const devicesUsage = `Usage: twostepctl devices [-json] USER

List USER's second-factor devices: id, name, type, settings
(algorithm/digits/period; for a push device how it is notified, and
which one gets automatic pushes, as the user chose in the portal), when
it was added and when a code of it was last accepted (the code typed to
confirm the enrollment counts). Secrets
are never shown. A device is named by its id or its name in
` + "`device rename`" + ` and ` + "`device remove`" + `.

Examples:
  twostepctl devices alice
  twostepctl devices -json alice | jq -r '.[].id'

Flags:
`

func (c *cli) devices(ctx context.Context, args []string) error {
	f := c.storeFlags("devices", devicesUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON array: id, name, type, algorithm, digits, period_seconds, created, last_used, default_push")
	pos, err := c.parseArgs(f, args, "USER")
	if err != nil {
		return err
	}
	s, user, acct, err := c.openAccount(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	if *asJSON {
		out := make([]deviceJSON, 0, len(acct.Devices))
		for _, d := range acct.Devices {
			j := deviceInfo(d, acct.Used[d.ID])
			j.DefaultPush = d.ID == defaultPush(acct)
			out = append(out, j)
		}
		return writeJSON(c.stdout, out)
	}
	if len(acct.Devices) == 0 {
		fmt.Fprintf(c.stdout, "%s has no device; enroll one with: %s\n", user, s.command("enroll", user))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tPARAMS\tADDED\tLAST USED")
	for _, d := range acct.Devices {
		last := "never"
		if u, ok := acct.Used[d.ID]; ok && !u.At.IsZero() {
			last = timeText(u.At)
		}
		p := params(d)
		if d.ID == defaultPush(acct) {
			p += " (automatic pushes)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Type, p, timeText(d.Created), last)
	}
	return tw.Flush()
}

const deviceUsage = `Usage: twostepctl device COMMAND [FLAGS] USER DEVICE ...

Change one of a user's second-factor devices, named by its id or its name
(see ` + "`twostepctl devices USER`" + `):

  rename    give a device a new name
  remove    remove a device; it stops working on every node at once
  simulate  a push device on the command line: simulate enroll USER
            registers one, simulate serve answers its pushes

Run ` + "`twostepctl device COMMAND -h`" + ` for a command's flags and examples.
`

func (c *cli) device(ctx context.Context, args []string) error {
	return c.group(ctx, "device", deviceUsage, args, map[string]subcommand{
		"rename":   c.deviceRename,
		"remove":   c.deviceRemove,
		"simulate": c.simulate,
	})
}

const renameUsage = `Usage: twostepctl device rename USER DEVICE NEWNAME

Give USER's device DEVICE (its id or its name) the name NEWNAME: 1 to 32
printable characters, not the name of another of USER's devices (compared
without case). The name shows in ` + "`twostepctl devices`" + ` and, when
users choose a device at login, in the menu.

Examples:
  twostepctl device rename alice authenticator "iPhone 15"
  twostepctl device rename alice 3f9a0c1de2b47a65 "backup token"

Flags:
`

func (c *cli) deviceRename(ctx context.Context, args []string) error {
	f := c.storeFlags("device rename", renameUsage)
	pos, err := c.parseArgs(f, args, "USER", "DEVICE", "NEWNAME")
	if err != nil {
		return err
	}
	ref, newName := pos[1], pos[2]
	if err := checkDeviceName(newName); err != nil {
		return err
	}
	s, user, acct, err := c.openAccount(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	d, ok := findDevice(acct, ref)
	if !ok {
		return s.noDevice(user, ref)
	}
	if d.Name == newName {
		fmt.Fprintf(c.stdout, "device %s of %s is already named %q; nothing changed\n", d.ID, user, newName)
		return nil
	}
	for _, o := range acct.Devices {
		if o.ID != d.ID && strings.EqualFold(o.Name, newName) {
			return fmt.Errorf("%s already has a device named %q (id %s); choose another name", user, o.Name, o.ID)
		}
	}
	octx, cancel := op(ctx)
	defer cancel()
	if err := s.accounts.RenameDevice(octx, user, d.ID, newName); err != nil {
		return s.deviceErr(err, user, ref)
	}
	fmt.Fprintf(c.stdout, "renamed device %q (id %s) of %s to %q\n", d.Name, d.ID, user, newName)
	return nil
}

const removeUsage = `Usage: twostepctl device remove [-yes] USER DEVICE

Remove USER's device DEVICE (its id or its name). It stops working on every
node at once; the secret is gone for good, so the app's entry must be
deleted and, to use the app again, enrolled anew. The question asked
first is answered on stdin; -yes skips it. Any answer but yes, or none
(stdin closed or empty, as in a script), removes nothing and fails.

A user left without a device logs in as passcodes.unenrolled says (by
default: refused until a new enrollment).

Examples:
  twostepctl device remove alice "old phone"
  twostepctl device remove -yes alice 3f9a0c1de2b47a65

Flags:
`

func (c *cli) deviceRemove(ctx context.Context, args []string) error {
	f := c.storeFlags("device remove", removeUsage)
	yes := f.fs.Bool("yes", false, "remove without asking")
	pos, err := c.parseArgs(f, args, "USER", "DEVICE")
	if err != nil {
		return err
	}
	ref := pos[1]
	s, user, acct, err := c.openAccount(ctx, *f.config, pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	d, ok := findDevice(acct, ref)
	if !ok {
		return s.noDevice(user, ref)
	}
	if !*yes {
		// Anything but a yes fails the command: a script that forgot -yes
		// must not carry on as if the device were gone.
		ok, err := c.confirm(ctx, c.lines(), fmt.Sprintf("Remove device %q of %s? It stops working on every node at once.", d.Name, user))
		switch {
		case errors.Is(err, errNoAnswer):
			return fmt.Errorf("nothing removed: no answer on stdin to the question; to remove without asking: `%s`", s.command("device", "remove", "-yes", user, d.ID))
		case err != nil:
			return fmt.Errorf("nothing removed: %w", err)
		case !ok:
			return errors.New("nothing removed: the answer was not yes")
		}
	}
	octx, cancel := op(ctx)
	defer cancel()
	if _, err := s.accounts.RemoveDevice(octx, user, d.ID); err != nil {
		return s.deviceErr(err, user, ref)
	}
	fmt.Fprintf(c.stdout, "removed device %q (id %s) of %s; it no longer logs in on any node\n", d.Name, d.ID, user)
	if len(acct.Devices) == 1 {
		fmt.Fprintf(c.stdout, "%s has no device left: logins follow passcodes.unenrolled (default: refused); enroll one with: %s\n", user, s.command("enroll", user))
	}
	return nil
}

// deviceErr explains an error of a device change.
func (s *session) deviceErr(err error, user, ref string) error {
	switch {
	case errors.Is(err, cluster.ErrNoDevice):
		// Removed meanwhile, by another admin.
		return s.noDevice(user, ref)
	case errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("%s's devices changed meanwhile (another admin?); nothing changed: look with `%s` and run the command again", user, s.command("devices", user))
	}
	return fmt.Errorf("nothing changed: %w", s.storeErr(err))
}
