package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"twostep/cluster"
	"twostep/configs"
	"twostep/directory"
)

// defaultConfig is where twostepd and twostepctl look for the configuration.
const defaultConfig = "/etc/twostep/twostep.yaml"

const userUsage = `Usage: twostepctl user COMMAND [FLAGS] USER

Manage the users of the file directory backend:

  add      add a user (the password is read from the terminal, or stdin)
  passwd   set a user's password
  disable  disable a user; the password stays for when it is enabled
  enable   enable a disabled user
  groups   set a user's groups
  delete   delete a user
  list     list users, their groups and status (with their devices,
           locks and last logins: twostepctl users)

Run ` + "`twostepctl user COMMAND -h`" + ` for a command's flags and examples.
`

// reloadHint follows every change: nothing needs a restart.
const reloadHint = "A running twostepd picks the change up within a few seconds (it watches the users file), or at once on SIGHUP."

func (c *cli) user(ctx context.Context, args []string) error {
	return c.group(ctx, "user", userUsage, args, map[string]subcommand{
		"add":     c.userAdd,
		"passwd":  c.userPasswd,
		"disable": func(ctx context.Context, args []string) error { return c.userDisable(ctx, args, true) },
		"enable":  func(ctx context.Context, args []string) error { return c.userDisable(ctx, args, false) },
		"groups":  c.userGroups,
		"delete":  c.userDelete,
		"list":    func(_ context.Context, args []string) error { return c.userList(args) },
	})
}

// userFlags are the flags every user command has.
type userFlags struct {
	fs     *flag.FlagSet
	users  *string
	config *string
}

func (c *cli) userFlags(name, usage string) userFlags {
	fs := c.flagSet("twostepctl user "+name, usage)
	return userFlags{
		fs:     fs,
		users:  fs.String("users", "", "the users `file`; default: directory.file.path of the -config file"),
		config: fs.String("config", c.config, "the twostep configuration `file`, read for the users file's path"),
	}
}

// parseOne parses the flags and the single USER argument.
func (c *cli) parseOne(f userFlags, args []string) (string, error) {
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%s: want one USER, got %d arguments; see `%s -h`", f.fs.Name(), len(pos), f.fs.Name())
	}
	return pos[0], nil
}

// usersPath says which users file to edit.
func (f userFlags) usersPath() (string, error) {
	if *f.users != "" {
		return *f.users, nil
	}
	cfg, err := configs.LoadForTools(*f.config)
	if err != nil {
		return "", fmt.Errorf("no users file: pass -users FILE, or -config FILE of a twostep configuration with the file backend: %w", err)
	}
	if cfg.Directory.Backend != directory.BackendFile {
		return "", fmt.Errorf("%s uses the %s directory, not a users file; manage its users there", *f.config, cfg.Directory.Backend)
	}
	return cfg.Directory.File.Path, nil
}

// edit opens the users file for a change to an existing user.
func (f userFlags) edit() (*directory.FileEditor, string, error) {
	path, err := f.usersPath()
	if err != nil {
		return nil, "", err
	}
	ed, err := directory.EditFile(path)
	if err != nil {
		return nil, "", err
	}
	return ed, path, nil
}

// explain adds what to do to the errors an admin can fix.
func explain(err error, name, path string) error {
	switch {
	case errors.Is(err, directory.ErrNoSuchUser):
		return fmt.Errorf("user %q does not exist in %s; list users with `%s`", name, path, commandLine("user", "list", "-users", path))
	case errors.Is(err, directory.ErrUserExists):
		return fmt.Errorf("user %q already exists in %s; change its password with `%s`", name, path, commandLine("user", "passwd", "-users", path, name))
	}
	return err
}

// save writes the edit and says what the file still lacks: an edit may
// mend one problem of a file that has several.
func save(ed *directory.FileEditor) error {
	if err := ed.Save(); err != nil {
		var fe *directory.FileError
		if errors.As(err, &fe) {
			return fmt.Errorf("nothing written: the change would add problems to the file:\n%w", err)
		}
		return err
	}
	return nil
}

// stillRefused fails a change that left problems in the file: written, but
// twostepd refuses the file until they are fixed.
func stillRefused(ed *directory.FileEditor) error {
	if err := ed.Check(); err != nil {
		return fmt.Errorf("the change was written, but twostepd refuses the file until these are fixed:\n%w", err)
	}
	return nil
}

const addUsage = `Usage: twostepctl user add [-users FILE] [-groups a,b] [-scheme SCHEME] USER

Add USER to the users file (created, mode 0600, if it does not exist). The
password is read twice, without echo, from the terminal; when stdin is not a
terminal, its first line is the password (for scripts). Empty passwords are
refused.

Schemes: argon2id (default), bcrypt, and ssha256/ssha512 (the salted SHA-2
that OpenLDAP and FreeRADIUS read: fast hashes, for migration and
benchmarks, not for real passwords).

Examples:
  twostepctl user add -users /etc/twostep/users.yaml -groups vpn-users alice
  echo 'the-password' | twostepctl user add -users users.yaml bob

Flags:
`

func (c *cli) userAdd(ctx context.Context, args []string) error {
	f := c.userFlags("add", addUsage)
	groups := f.fs.String("groups", "", "comma-separated `groups`, e.g. vpn-users,admins")
	scheme := f.fs.String("scheme", string(directory.DefaultScheme), "password hash `scheme`: argon2id, bcrypt, ssha256 or ssha512")
	name, err := c.parseOne(f, args)
	if err != nil {
		return err
	}
	sc, err := directory.ParseScheme(*scheme)
	if err != nil {
		return err
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	// Refuse a duplicate before asking for a password.
	if ed.Has(name) {
		return explain(directory.ErrUserExists, name, path)
	}
	hash, err := c.newPasswordHash(ctx, sc, name)
	if err != nil {
		return err
	}
	g := splitGroups(*groups)
	if err := ed.Add(name, hash, g); err != nil {
		return explain(err, name, path)
	}
	if err := save(ed); err != nil {
		return err
	}
	return c.fileChanged(ctx, f, ed, cluster.ActionUserAdd, name, fmt.Sprintf("in %s, scheme %s, groups %s", fileText(path), sc, groupList(g)),
		"added user %q (%s, groups: %s) to %s", name, sc, groupList(g), path)
}

const passwdUsage = `Usage: twostepctl user passwd [-users FILE] [-scheme SCHEME] USER

Set USER's password, read as by ` + "`user add`" + `: twice without echo from the
terminal, or the first line of stdin. The new hash uses -scheme, so this also
moves a user from an old scheme to argon2id.

Examples:
  twostepctl user passwd -users /etc/twostep/users.yaml alice
  echo 'new-password' | twostepctl user passwd -users users.yaml alice

Flags:
`

func (c *cli) userPasswd(ctx context.Context, args []string) error {
	f := c.userFlags("passwd", passwdUsage)
	scheme := f.fs.String("scheme", string(directory.DefaultScheme), "password hash `scheme`: argon2id, bcrypt, ssha256 or ssha512")
	name, err := c.parseOne(f, args)
	if err != nil {
		return err
	}
	sc, err := directory.ParseScheme(*scheme)
	if err != nil {
		return err
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	if !ed.Has(name) {
		return explain(directory.ErrNoSuchUser, name, path)
	}
	hash, err := c.newPasswordHash(ctx, sc, name)
	if err != nil {
		return err
	}
	if err := ed.SetPassword(name, hash); err != nil {
		return explain(err, name, path)
	}
	if err := save(ed); err != nil {
		return err
	}
	return c.fileChanged(ctx, f, ed, cluster.ActionUserPasswd, name, fmt.Sprintf("in %s, scheme %s", fileText(path), sc),
		"set the password of %q (%s) in %s", name, sc, path)
}

const disableUsage = `Usage: twostepctl user disable|enable [-users FILE] USER

Disable USER: logins are refused, the password and groups stay. Enable
undoes it.

Examples:
  twostepctl user disable -users /etc/twostep/users.yaml alice
  twostepctl user enable -users /etc/twostep/users.yaml alice

Flags:
`

func (c *cli) userDisable(ctx context.Context, args []string, disable bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	f := c.userFlags(verb, disableUsage)
	name, err := c.parseOne(f, args)
	if err != nil {
		return err
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	for _, u := range ed.Users() {
		if u.Name == name && u.Disabled == disable {
			fmt.Fprintf(c.stdout, "user %q is already %sd in %s; nothing changed\n", name, verb, path)
			return nil
		}
	}
	if err := ed.SetDisabled(name, disable); err != nil {
		return explain(err, name, path)
	}
	if err := save(ed); err != nil {
		return err
	}
	action := cluster.ActionUserEnable
	if disable {
		action = cluster.ActionUserDisable
	}
	return c.fileChanged(ctx, f, ed, action, name, "in "+fileText(path), "%sd user %q in %s", verb, name, path)
}

const groupsUsage = `Usage: twostepctl user groups [-users FILE] -groups a,b USER

Set USER's groups to exactly the ones given; -groups "" removes them all.

Examples:
  twostepctl user groups -users /etc/twostep/users.yaml -groups vpn-users,admins alice
  twostepctl user groups -users /etc/twostep/users.yaml -groups "" alice

Flags:
`

func (c *cli) userGroups(ctx context.Context, args []string) error {
	f := c.userFlags("groups", groupsUsage)
	groups := f.fs.String("groups", "", "comma-separated `groups` (required; \"\" for none)")
	name, err := c.parseOne(f, args)
	if err != nil {
		return err
	}
	given := false
	f.fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "groups" })
	if !given {
		return fmt.Errorf("%s: -groups is required (-groups \"\" removes all groups); see `%s -h`", f.fs.Name(), f.fs.Name())
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	g := splitGroups(*groups)
	if err := ed.SetGroups(name, g); err != nil {
		return explain(err, name, path)
	}
	if err := save(ed); err != nil {
		return err
	}
	return c.fileChanged(ctx, f, ed, cluster.ActionUserGroups, name, fmt.Sprintf("in %s, groups %s", fileText(path), groupList(g)),
		"set the groups of %q to %s in %s", name, groupList(g), path)
}

const deleteUsage = `Usage: twostepctl user delete [-users FILE] USER

Delete USER and the comments written above it. To keep the account for
later, use ` + "`twostepctl user disable`" + ` instead.

Example:
  twostepctl user delete -users /etc/twostep/users.yaml alice

Flags:
`

func (c *cli) userDelete(ctx context.Context, args []string) error {
	f := c.userFlags("delete", deleteUsage)
	name, err := c.parseOne(f, args)
	if err != nil {
		return err
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	if err := ed.Delete(name); err != nil {
		return explain(err, name, path)
	}
	if err := save(ed); err != nil {
		return err
	}
	return c.fileChanged(ctx, f, ed, cluster.ActionUserDelete, name, "from "+fileText(path), "deleted user %q from %s", name, path)
}

const listUsage = `Usage: twostepctl user list [-users FILE] [-json]

List the users in file order with their status, password scheme and
groups. Hashes are never shown. For every user the cluster knows, with
devices, lock and last login (any directory backend): twostepctl users.

Examples:
  twostepctl user list -users /etc/twostep/users.yaml
  twostepctl user list -users /etc/twostep/users.yaml -json | jq -r '.[].name'

Flags:
`

// listedUser is one element of `user list -json`.
type listedUser struct {
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	Disabled bool     `json:"disabled"`
	Scheme   string   `json:"scheme"`
}

func (c *cli) userList(args []string) error {
	f := c.userFlags("list", listUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON array: name, groups, disabled, scheme")
	pos, err := c.parseInterspersed(f.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%s: takes no arguments, got %q; see `%s -h`", f.fs.Name(), pos, f.fs.Name())
	}
	ed, path, err := f.edit()
	if err != nil {
		return err
	}
	if !ed.Exists() {
		return fmt.Errorf("users file %s does not exist; create it with `%s`", path, commandLine("user", "add", "-users", path, "USER"))
	}
	users := ed.Users()
	if *asJSON {
		out := make([]listedUser, 0, len(users))
		for _, u := range users {
			out = append(out, listedUser{Name: u.Name, Groups: append([]string{}, u.Groups...), Disabled: u.Disabled, Scheme: string(u.Scheme)})
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
		return listProblems(ed)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATUS\tSCHEME\tGROUPS")
	for _, u := range users {
		status := "enabled"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, status, u.Scheme, groupList(u.Groups))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return listProblems(ed)
}

// listProblems fails a listing of a file twostepd would refuse: the users
// with problems are not listed, and scripts should notice.
func listProblems(ed *directory.FileEditor) error {
	if err := ed.Check(); err != nil {
		return fmt.Errorf("users with problems are not listed, and twostepd refuses the file:\n%w", err)
	}
	return nil
}

func groupList(groups []string) string {
	if len(groups) == 0 {
		return "none"
	}
	return strings.Join(groups, ",")
}
