package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/configs"
	"twostep/directory"
)

// opTimeout bounds each etcd and directory operation of a command: an
// admin waiting at a prompt learns of an unreachable store in seconds.
const opTimeout = 5 * time.Second

// userDirectory is what the second-factor commands ask the directory:
// whether a user exists, and under which canonical name.
type userDirectory interface {
	Lookup(ctx context.Context, name string) (directory.User, error)
}

// session is what a second-factor command works with: the configuration,
// the directory, and the cluster's records reached through etcd.
type session struct {
	cfg *configs.Config
	dir userDirectory
	// where names the directory in messages: "the users file X" or
	// "LDAP".
	where string
	// accounts reaches the records; its changes each commit their audit
	// event, by the admin (by), in the change's transaction.
	accounts *cluster.Accounts
	by       cluster.Actor
	// keys is the seed key file.
	keys *cluster.Keyring
	// audit is the help desk's trail in the same etcd.
	audit   *cluster.Audit
	closers []func()
	// command renders a twostepctl command line to suggest, with the
	// -config this session read (cli.command).
	command func(args ...string) string
}

// storeFlags are the flags every second-factor command has.
type storeFlags struct {
	fs     *flag.FlagSet
	config *string
}

func (c *cli) storeFlags(name, usage string) storeFlags {
	fs := c.flagSet("twostepctl "+name, usage)
	return storeFlags{fs: fs, config: fs.String("config", c.config, "the twostep configuration `file`: directory, cluster and seed keys")}
}

// parseArgs parses the flags and exactly the named arguments.
func (c *cli) parseArgs(f storeFlags, args []string, names ...string) ([]string, error) {
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != len(names) {
		return nil, fmt.Errorf("%s: want %s, got %d arguments; see `%s -h`", f.fs.Name(), strings.Join(names, " "), len(pos), f.fs.Name())
	}
	return pos, nil
}

// open reads the configuration at path, the seed keys and the directory,
// and connects to etcd, which must answer. Close releases it all.
func (c *cli) open(ctx context.Context, path string) (*session, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	s := &session{cfg: cfg, command: func(args ...string) string { return c.command(path, args...) }}
	keys, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		return nil, keyringError(err, cfg.Cluster.SeedKeys)
	}
	dir, where, closeDir, err := openDirectory(cfg)
	if err != nil {
		return nil, err
	}
	s.dir, s.where = dir, where
	s.closers = append(s.closers, closeDir)
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	// etcdstore.Open reads once, so a store that does not answer fails here.
	store, err := etcdstore.Open(octx, cfg.Cluster.Etcd)
	if err != nil {
		s.Close()
		return nil, s.storeErr(err)
	}
	s.closers = append(s.closers, func() { store.Close() })
	s.by = c.actor()
	s.accounts = cluster.NewAccounts(store, keys).As(s.by)
	s.keys = keys
	s.audit = cluster.NewAudit(store, 0)
	return s, nil
}

// openDirectory opens the directory cfg names; where names it in
// messages ("LDAP", "the users file X"), and closeDir releases it.
func openDirectory(cfg *configs.Config) (dir userDirectory, where string, closeDir func(), err error) {
	if cfg.Directory.Backend == directory.BackendLDAP {
		l, err := directory.NewLDAP(cfg.Directory.LDAP)
		if err != nil {
			return nil, "", nil, err
		}
		return l, "LDAP", func() { l.Close() }, nil
	}
	f, err := directory.OpenFile(cfg.Directory.File.Path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("the users file (directory.file.path): %w", err)
	}
	return f, "the users file " + f.Path(), func() {}, nil
}

// as returns the session's accounts with note (how the admin acted: "to
// enroll a device", "from FILE") in the detail of their audit events.
func (s *session) as(note string) *cluster.Accounts {
	by := s.by
	if by.Note != "" {
		note += "; " + by.Note
	}
	by.Note = note
	return s.accounts.As(by)
}

// Close closes etcd and directory connections.
func (s *session) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// loadConfig reads the configuration as tools do: the RADIUS clients'
// secrets are left alone, the LDAP and etcd passwords resolved (looking
// users up and reading the cluster need them).
func loadConfig(path string) (*configs.Config, error) {
	cfg, err := configs.LoadForTools(path)
	if err != nil {
		return nil, fmt.Errorf("read the configuration (pass -config FILE; run twostepctl as twostepd's user, with its environment, when the LDAP or etcd password comes from a file or variable): %w", err)
	}
	return cfg, nil
}

// keyringError says what to do about a seed key file that does not load.
func keyringError(err error, path string) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the seed key file %s (cluster.seed_keys) does not exist; create it once with `%s` and give the same file to every node: %w", path, commandLine("keygen", "-out", path), err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("cannot read the seed key file %s (cluster.seed_keys); run twostepctl as root or as the user twostepd runs as: %w", path, err)
	}
	return err
}

// unreachable adds where etcd was looked for, and why it may not answer,
// to a failure to reach it.
func (s *session) unreachable(err error) error {
	ends := strings.Join(s.cfg.Cluster.Etcd.Endpoints, ", ")
	if s.cfg.Cluster.UsesEmbedded() {
		return fmt.Errorf("cannot reach the embedded etcd at %s: is twostepd running? (the embedded etcd lives inside it): %w", ends, err)
	}
	return fmt.Errorf("cannot reach etcd at %s: check cluster.endpoints, its TLS and credentials, and that the cluster is up: %w", ends, err)
}

// storeErr explains an error of an etcd operation when etcd did not
// answer; other errors pass unchanged.
func (s *session) storeErr(err error) error {
	if errors.Is(err, cluster.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return s.unreachable(err)
	}
	return err
}

// op returns the context of one etcd or directory operation.
func op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// lookup asks the directory for name: its canonical form and groups.
func (s *session) lookup(ctx context.Context, name string) (directory.User, error) {
	octx, cancel := op(ctx)
	defer cancel()
	u, err := s.dir.Lookup(octx, name)
	if err != nil && !errors.Is(err, directory.ErrUnknownUser) {
		return u, fmt.Errorf("cannot look %q up in %s: %w", name, s.where, err)
	}
	return u, err
}

// mustExist returns the account name of a user the directory knows: its
// canonical name, under which twostepd keeps the user's records.
func (s *session) mustExist(ctx context.Context, name string) (string, error) {
	u, err := s.lookup(ctx, name)
	if errors.Is(err, directory.ErrUnknownUser) {
		return "", fmt.Errorf("user %q does not exist in %s; nothing changed (check the spelling, or add the user to the directory first)", name, s.where)
	}
	if err != nil {
		return "", err
	}
	return u.Name, nil
}

// accountName returns the account name of a user who may have left the
// directory: records outlive directory entries, and removing them must
// stay possible. An unknown user, or a directory that does not answer,
// is noted on stderr and the name is taken as given.
func (c *cli) accountName(ctx context.Context, s *session, name string) string {
	u, err := s.lookup(ctx, name)
	switch {
	case errors.Is(err, directory.ErrUnknownUser):
		fmt.Fprintf(c.stderr, "note: %q is not in %s; using the name as given\n", name, s.where)
		return name
	case err != nil:
		fmt.Fprintf(c.stderr, "note: %v; using the name as given\n", err)
		return name
	}
	return u.Name
}

// openAccount opens the session of config and reads the records of the
// user named name (resolved as accountName does). The caller closes the
// session.
func (c *cli) openAccount(ctx context.Context, config, name string) (*session, string, *cluster.Account, error) {
	s, err := c.open(ctx, config)
	if err != nil {
		return nil, "", nil, err
	}
	user := c.accountName(ctx, s, name)
	acct, err := s.load(ctx, user)
	if err != nil {
		s.Close()
		return nil, "", nil, err
	}
	return s, user, acct, nil
}

// openEnrollable is openAccount for commands that add a device: the user
// must exist in the directory (a device for a typo would never log in).
func (c *cli) openEnrollable(ctx context.Context, config, name string) (*session, string, *cluster.Account, error) {
	s, err := c.open(ctx, config)
	if err != nil {
		return nil, "", nil, err
	}
	user, err := s.mustExist(ctx, name)
	if err == nil {
		var acct *cluster.Account
		if acct, err = s.load(ctx, user); err == nil {
			return s, user, acct, nil
		}
	}
	s.Close()
	return nil, "", nil, err
}

// load reads the records of the account.
func (s *session) load(ctx context.Context, user string) (*cluster.Account, error) {
	octx, cancel := op(ctx)
	defer cancel()
	acct, err := s.accounts.Load(octx, user)
	if err != nil {
		return nil, s.storeErr(err)
	}
	return acct, nil
}

// findDevice resolves ref, an id or a name compared without case, among
// acct's devices.
func findDevice(acct *cluster.Account, ref string) (cluster.Device, bool) {
	if d, ok := acct.Device(ref); ok {
		return d, true
	}
	for _, d := range acct.Devices {
		if strings.EqualFold(d.Name, ref) {
			return d, true
		}
	}
	return cluster.Device{}, false
}

// noDevice is the error for a device ref that user lacks.
func (s *session) noDevice(user, ref string) error {
	return fmt.Errorf("%s has no device %q; list them with `%s`", user, ref, s.command("devices", user))
}

// timeText shows a time to an admin, in UTC as etcdctl shows records.
func timeText(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// count writes n with the singular or plural noun: "1 try", "2 tries".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
