package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/directory"
)

const usersUsage = `Usage: twostepctl users [-config FILE] [-json] [-locked] [-prefix P]

List every user the cluster knows, sorted by name: each user with a
record in etcd (a device, a lockout, a bypass or recovery code, a
profile, a login in the history), and with the file directory backend
every user of the users file as well (a user without records shows
"none" for devices). With the ldap backend the directory itself is not
listed (it may hold 100,000 entries): the users the cluster knows are
listed, each looked up in the directory; a directory user who has no
record and no login kept in the history is not shown (twostepctl status
USER shows any one user).

Columns: the user; the devices (how many, and their types: "2: push,
totp"); the lock ("none", "locked until T" after too many wrong
passcodes, "locked: failures|fraud|admin" until an admin unlocks: wrong
passcodes, a push answered "This wasn't me", twostepctl lock); the last
login, the newest record of the login history (time, decision, factor;
twostepctl logins -user USER shows them all); and what the directory
says: found, disabled (the users file, Active Directory), not found
(logins are refused), unknown (the directory did not answer).

Only etcd and the directory are needed, not the seed key file: devices
are listed from their records without opening a seed. With the key file
the login records are checked (one written or edited without it is
skipped for the one before it, and named; the exit status is then 1);
without it they are shown unchecked, with a note. Each user's last login
costs two small reads of etcd; progress goes to stderr when the listing
takes long.

-json prints a JSON array of objects with exactly the fields user,
devices (an array of {id, name, type}), locked, lock_cause ("failures",
"fraud", "admin"; "" when not locked), locked_until (RFC 3339; null when
not locked or locked until an admin unlocks), last_login ({time,
decision, factor, id} or null) and directory ("found", "disabled", "not
found", "unknown").

Examples:
  twostepctl users
  twostepctl users -locked
  twostepctl users -prefix al
  twostepctl users -json | jq -r '.[] | select(.devices == []) | .user'

Flags:
`

// userRow is one user of the listing.
type userRow struct {
	name string
	// key is the user's cluster.UserKey: rows and records meet on it.
	key     string
	devices []cluster.DeviceInfo
	lockout cluster.Lockout
	last    *cluster.LoginRecord
	// dir is what the directory says: found, disabled, not found,
	// unknown.
	dir string
}

// Values of the directory column and field.
const (
	dirFound    = "found"
	dirDisabled = "disabled"
	dirNotFound = "not found"
	dirUnknown  = "unknown"
)

// userJSON is one object of `users -json`.
type userJSON struct {
	User        string           `json:"user"`
	Devices     []userDeviceJSON `json:"devices"`
	Locked      bool             `json:"locked"`
	LockCause   string           `json:"lock_cause"`
	LockedUntil *time.Time       `json:"locked_until"`
	LastLogin   *lastLoginJSON   `json:"last_login"`
	Directory   string           `json:"directory"`
}

type userDeviceJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type lastLoginJSON struct {
	Time     time.Time `json:"time"`
	Decision string    `json:"decision"`
	Factor   string    `json:"factor"`
	ID       string    `json:"id"`
}

func (c *cli) users(ctx context.Context, args []string) error {
	f := c.storeFlags("users", usersUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON array: user, devices, locked, lock_cause, locked_until, last_login, directory")
	lockedOnly := f.fs.Bool("locked", false, "show only the users locked now")
	prefixFlag := f.fs.String("prefix", "", "show only the users whose name starts with `P` (without case)")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl users: takes no arguments, got %q; for one user: %s, or -prefix P", pos, commandLine("status", "USER"))
	}
	prefix := cluster.UserKey(strings.TrimSpace(*prefixFlag))

	cfg, err := loadConfig(*f.config)
	if err != nil {
		return err
	}
	keys, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		fmt.Fprintf(c.stderr, "note: login records are not checked against the seed key file: %v\n", err)
		keys = nil
	}
	octx, cancel := op(ctx)
	store, err := etcdstore.Open(octx, cfg.Cluster.Etcd)
	cancel()
	s := &session{cfg: cfg}
	if err != nil {
		return s.storeErr(err)
	}
	defer store.Close()

	// Each read below is bounded by cluster.request_timeout; the listing
	// as a whole takes as long as the users it has.
	l := &userListing{byKey: map[string][]*userRow{}}
	recs, err := cluster.NewAccounts(store, nil).Users(ctx, prefix)
	if err != nil {
		return s.storeErr(err)
	}
	p := c.newProgress()
	latest, err := cluster.NewHistory(store, keys, 0).Latest(ctx, prefix, func(n int) {
		p.say("users: read the last login of %d users…", n)
	})
	if err != nil && !errors.Is(err, cluster.ErrTampered) && !errors.Is(err, cluster.ErrUnknownKey) {
		return s.storeErr(err)
	}
	if err != nil {
		l.problems = append(l.problems, fmt.Errorf("login records that fail their integrity check (written or edited in etcd without the seed key file) are skipped for the one before; look at who can write to etcd: %w", err))
	}

	var ldap *directory.LDAP
	switch cfg.Directory.Backend {
	case directory.BackendLDAP:
		if ldap, err = directory.NewLDAP(cfg.Directory.LDAP); err != nil {
			return err
		}
		defer ldap.Close()
		// Until looked up.
		l.unknown = dirUnknown
	default:
		if err := l.addFileUsers(c.stderr, cfg.Directory.File.Path, prefix); err != nil {
			return err
		}
		l.unknown = dirNotFound
	}
	for _, rec := range recs {
		for _, r := range l.known(rec.Key, latest) {
			r.devices, r.lockout = rec.Devices, rec.Lockout
		}
		l.problems = append(l.problems, rec.Problems...)
	}
	for key, last := range latest {
		for _, r := range l.known(key, latest) {
			r.last = &last
		}
	}
	rows := l.rows

	now := c.now()
	if *lockedOnly {
		rows = slices.DeleteFunc(rows, func(r *userRow) bool { return !r.lockout.Locked(now) })
	}
	if ldap != nil {
		if err := c.lookUpUsers(ctx, ldap, rows); err != nil {
			l.problems = append(l.problems, err)
		}
	}
	slices.SortFunc(rows, func(a, b *userRow) int {
		if c := strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})

	if *asJSON {
		err = writeJSON(c.stdout, usersJSON(rows, now))
	} else {
		err = c.printUsers(rows, now, *lockedOnly, *prefixFlag)
	}
	if err != nil {
		return err
	}
	return errors.Join(l.problems...)
}

// userListing gathers the rows of a listing: the users file's users and
// the users the cluster knows, which meet on their UserKey.
type userListing struct {
	rows  []*userRow
	byKey map[string][]*userRow
	// unknown is the directory column of a user the users file lacks:
	// not found (the file backend), or unknown until looked up (LDAP).
	unknown string
	// problems are reported after the listing: it exits 1.
	problems []error
}

func (l *userListing) add(r *userRow) {
	l.rows = append(l.rows, r)
	l.byKey[r.key] = append(l.byKey[r.key], r)
}

// known returns the rows of the user whose records are kept under key,
// adding one for a user the users file did not bring; it is named as the
// user's newest login record has it (the directory's case), else by its
// key.
func (l *userListing) known(key string, latest map[string]cluster.LoginRecord) []*userRow {
	if rs := l.byKey[key]; len(rs) > 0 {
		return rs
	}
	name := cluster.UserName(key)
	if last, ok := latest[key]; ok && cluster.UserKey(last.User) == key {
		name = last.User
	}
	l.add(&userRow{name: name, key: key, dir: l.unknown})
	return l.byKey[key]
}

// addFileUsers adds a row for each user of the users file at path whose
// key starts with prefix. A file with problems adds one to the listing's
// (its users with problems are not listed, and twostepd refuses it).
func (l *userListing) addFileUsers(stderr io.Writer, path, prefix string) error {
	ed, err := directory.EditFile(path)
	if err != nil {
		return fmt.Errorf("the users file (directory.file.path): %w", err)
	}
	if !ed.Exists() {
		fmt.Fprintf(stderr, "note: the users file %s does not exist; listing the users the cluster knows\n", path)
		return nil
	}
	for _, u := range ed.Users() {
		key := cluster.UserKey(u.Name)
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		dir := dirFound
		if u.Disabled {
			dir = dirDisabled
		}
		l.add(&userRow{name: u.Name, key: key, dir: dir})
	}
	if err := ed.Check(); err != nil {
		l.problems = append(l.problems, fmt.Errorf("users with problems in the users file are not listed as its users, and twostepd refuses the file:\n%w", err))
	}
	return nil
}

// lookUpUsers asks the directory about each row, one user at a time. The
// first failure to answer ends the lookups: the rows left say unknown,
// and a directory that is down costs one timeout, not one per user.
func (c *cli) lookUpUsers(ctx context.Context, dir userDirectory, rows []*userRow) error {
	p := c.newProgress()
	for i, r := range rows {
		octx, cancel := op(ctx)
		u, err := dir.Lookup(octx, r.name)
		cancel()
		switch {
		case errors.Is(err, directory.ErrUnknownUser):
			r.dir = dirNotFound
		case err != nil:
			return fmt.Errorf("the directory did not answer; %d users were not looked up (directory unknown): %w", len(rows)-i, err)
		default:
			r.name, r.dir = u.Name, dirFound
			if u.StateKnown && u.State == directory.Disabled {
				r.dir = dirDisabled
			}
		}
		p.say("users: looked %d of %d users up in the directory…", i+1, len(rows))
	}
	return nil
}

// usersJSON is rows as `users -json` prints them.
func usersJSON(rows []*userRow, now time.Time) []userJSON {
	out := make([]userJSON, 0, len(rows))
	for _, r := range rows {
		u := userJSON{User: r.name, Devices: make([]userDeviceJSON, 0, len(r.devices)), Directory: r.dir}
		for _, d := range r.devices {
			u.Devices = append(u.Devices, userDeviceJSON{ID: d.ID, Name: d.Name, Type: string(d.Type)})
		}
		if r.lockout.Locked(now) {
			u.Locked, u.LockCause = true, string(r.lockout.LockedBy())
			if !r.lockout.LockedUntil.IsZero() {
				until := r.lockout.LockedUntil.UTC()
				u.LockedUntil = &until
			}
		}
		if r.last != nil {
			u.LastLogin = &lastLoginJSON{Time: r.last.Time.UTC(), Decision: r.last.Decision, Factor: r.last.Factor, ID: r.last.ID}
		}
		out = append(out, u)
	}
	return out
}

// printUsers writes rows as a table.
func (c *cli) printUsers(rows []*userRow, now time.Time, lockedOnly bool, prefix string) error {
	if len(rows) == 0 {
		what := "no users"
		if lockedOnly {
			what = "no locked users"
		}
		if prefix != "" {
			what += fmt.Sprintf(" whose name starts with %q", prefix)
		}
		fmt.Fprintln(c.stdout, what)
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tDEVICES\tLOCK\tLAST LOGIN\tDIRECTORY")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.name, devicesText(r.devices), lockText(r.lockout, now), lastLoginText(r.last), r.dir)
	}
	return tw.Flush()
}

// devicesText is the devices column: "none", "2: push, totp".
func devicesText(ds []cluster.DeviceInfo) string {
	if len(ds) == 0 {
		return "none"
	}
	var types []string
	for _, d := range ds {
		types = append(types, string(d.Type))
	}
	slices.Sort(types)
	return fmt.Sprintf("%d: %s", len(ds), strings.Join(slices.Compact(types), ", "))
}

// lockText is the lock column: "none", "locked until T", "locked: CAUSE".
func lockText(l cluster.Lockout, now time.Time) string {
	switch {
	case !l.Locked(now):
		return "none"
	case !l.LockedUntil.IsZero():
		return "locked until " + timeText(l.LockedUntil)
	}
	return "locked: " + string(l.LockedBy())
}

// lastLoginText is the last login column: "2026-12-01 10:02 UTC accept
// totp", or "-" when the history keeps none.
func lastLoginText(r *cluster.LoginRecord) string {
	if r == nil {
		return "-"
	}
	s := timeText(r.Time) + " " + r.Decision
	if r.Factor != "" {
		s += " " + r.Factor
	}
	return s
}

// progress tells, on stderr, how far a long listing got: not before it
// has run progressEvery, then at most that often, so that a quick
// listing says nothing.
type progress struct {
	w    io.Writer
	now  func() time.Time
	next time.Time
}

func (c *cli) newProgress() *progress {
	return &progress{w: c.stderr, now: c.now, next: c.now().Add(progressEvery)}
}

// say writes the line when it is time to.
func (p *progress) say(format string, args ...any) {
	if now := p.now(); !now.Before(p.next) {
		fmt.Fprintf(p.w, format+"\n", args...)
		p.next = now.Add(progressEvery)
	}
}
