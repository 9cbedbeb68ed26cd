// Command twostepctl manages a twostep installation:
//
//   - the users of the file directory backend: user add, passwd, disable,
//     enable, groups, delete, list;
//   - users' second factor, kept in the cluster's etcd: enroll, devices,
//     device rename, device remove, device simulate (a push device that
//     answers pushes), status, users, lock, unlock;
//   - the help desk's codes and trail, in the same etcd: bypass issue,
//     bypass list, bypass revoke, recovery issue (spent by enroll
//     -recovery), audit, logins (the login history), trace (one user's
//     logins followed live on every node);
//   - the hardware token inventory, in the same etcd: token import (the
//     vendor's CSV or PSKC seed file), token list, token assign, token
//     unassign, token lost, token resync;
//   - the seed key file that seals OTP seeds: keygen, rekey;
//   - the set-up checked end to end: doctor.
//
// main only wires: arguments and the terminal -> run.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "twostepctl:", err)
		os.Exit(1)
	}
}

const usage = `Usage: twostepctl [-version] COMMAND [ARGS]

twostepctl manages twostep. Commands:

The users file (the file directory backend; each change in the audit):
  user add         add a user to the users file
  user passwd      set a user's password
  user disable     disable a user (the password stays)
  user enable      enable a disabled user
  user groups      set a user's groups
  user delete      delete a user
  user list        list users, their groups and status

The second factor (records in the cluster's etcd; each change in the audit):
  enroll           enroll an authenticator app or TOTP token for a user
  devices          list a user's devices
  device rename    rename a device
  device remove    remove a device; it stops working on every node at once
  device simulate  a push device on the command line: enroll one for a
                   user, then serve: answer its pushes (approve, deny...)
  status           a user's directory entry, devices and lockout
  users            every user the cluster knows: devices, lock, last
                   login, and what the directory says
  lock             lock a user's logins until unlock (a reported fraud)
  unlock           unlock a user locked out by wrong passcodes

The help desk (codes shown once, stored as keyed hashes; each in the audit):
  bypass issue     issue a bypass code: logins without the device, a few
                   times or a few days (-profile short, long)
  bypass list      list a user's bypass codes, their uses and expiry
  bypass revoke    revoke one bypass code of a user, or all of them
  recovery issue   issue a recovery passcode for a user who lost every
                   device; it allows enroll -recovery CODE USER
  audit            list every change to devices, lockouts, users, codes
                   and tokens: who made it (admin, portal user, node), when
  logins           the login history: every answer, its id, factor, reason
                   and node, newest first (-user, -id "Ref 3f9a-c21b")
  trace            follow one user's logins live on every node: each
                   request's attributes (secrets masked), directory,
                   policy, second-factor and etcd steps, and the answer

Hardware tokens (an inventory in the cluster's etcd; each change in the audit):
  token import     import the vendor's CSV or PSKC seed file, all or nothing
  token list       list the tokens, their state and user
  token assign     make an unassigned token a device of a user
  token unassign   take a token handed back into the inventory
  token lost       mark a token lost; its device stops working at once
  token resync     resynchronise an HOTP token whose counter ran ahead

Keys:
  keygen           create the seed key file that seals OTP seeds
  rekey            re-seal every seed with the key file's first key (rotation)
  vapid-key        create the cluster's Web Push (VAPID) key for push approval

The set-up:
  doctor           check the configuration, the directory, the cluster
                   store, the key files, push and the clients, one line
                   each: ok, warn or FAIL with what to do; run it after
                   every change

  help             show help: twostepctl help enroll

A running twostepd watches the users file and picks changes up within a few
seconds; nothing needs a restart. Second-factor changes reach every node at
once. With the embedded etcd (the default), those commands talk to the etcd
inside the running twostepd, at cluster.embedded.client_url.

The configuration is -config FILE, given before the command or after it;
without it, the file $TWOSTEP_CONFIG names, else /etc/twostep/twostep.yaml.
The user commands also take the users file itself with -users.

Examples:
  twostepctl user add -groups vpn-users alice
  twostepctl user add -config configs/demo.yaml alice
  twostepctl user add -users /etc/twostep/users.yaml -groups vpn-users alice
  echo 'the-password' | twostepctl user add -users users.yaml bob
  twostepctl user list -users users.yaml -json
  twostepctl -config configs/demo.yaml enroll demo-user
  twostepctl devices alice
  twostepctl users -locked
  twostepctl unlock alice
  twostepctl bypass issue -profile long alice
  twostepctl recovery issue alice
  twostepctl audit -since 24h -user alice
  twostepctl logins -id "Ref 3f9a-c21b"
  twostepctl trace -for 5m alice
  twostepctl token import -psk-file shipment.key shipment.pskcxml
  twostepctl token assign H-0001 alice
  twostepctl keygen -out /etc/twostep/seed.key
  twostepctl doctor -json

Flags:
`

// cli is what commands read and write: the process's standard streams, or
// buffers in tests, with the sources of randomness and time.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// rand makes seeds and keys: crypto/rand, or a fixed stream in tests.
	rand io.Reader
	now  func() time.Time
	// getenv reads the environment: os.Getenv, or a map in tests.
	getenv func(string) string
	// implicit is the configuration a command without -config reads:
	// $TWOSTEP_CONFIG or /etc/twostep/twostep.yaml. Hints name another
	// one with -config.
	implicit string
	// config is the -config given before the command (else implicit):
	// the default of the commands' own -config.
	config string
}

func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	return &cli{stdin: stdin, stdout: stdout, stderr: stderr, rand: rand.Reader, now: time.Now, getenv: os.Getenv}
}

// errHelp is returned by a command that printed its help: success.
var errHelp = flag.ErrHelp

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return newCLI(stdin, stdout, stderr).exec(ctx, args)
}

// exec runs one command line; a printed help is success.
func (c *cli) exec(ctx context.Context, args []string) error {
	err := c.run(ctx, args)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func (c *cli) run(ctx context.Context, args []string) error {
	c.implicit = implicitConfig(c.getenv)
	fs, showVersion, config := c.topFlags()
	// Top-level flags come before the command: the command's own flags follow it.
	if err := fs.Parse(args); err != nil {
		return c.flagError(fs, err)
	}
	c.config = *config
	if *showVersion {
		fmt.Fprintln(c.stdout, "twostepctl", version)
		return nil
	}
	args = fs.Args()
	if len(args) == 0 {
		c.printUsage(fs, c.stderr)
		return errors.New("no command given; see `twostepctl help`")
	}
	switch args[0] {
	case "help":
		return c.help(ctx, args[1:])
	case "version":
		fmt.Fprintln(c.stdout, "twostepctl", version)
		return nil
	case "user":
		return c.user(ctx, args[1:])
	case "enroll":
		return c.enroll(ctx, args[1:])
	case "devices":
		return c.devices(ctx, args[1:])
	case "device":
		return c.device(ctx, args[1:])
	case "status":
		return c.status(ctx, args[1:])
	case "users":
		return c.users(ctx, args[1:])
	case "lock":
		return c.lock(ctx, args[1:])
	case "unlock":
		return c.unlock(ctx, args[1:])
	case "bypass":
		return c.bypass(ctx, args[1:])
	case "recovery":
		return c.recovery(ctx, args[1:])
	case "audit":
		return c.audit(ctx, args[1:])
	case "logins":
		return c.logins(ctx, args[1:])
	case "trace":
		return c.trace(ctx, args[1:])
	case "token":
		return c.token(ctx, args[1:])
	case "keygen":
		return c.keygen(args[1:])
	case "vapid-key":
		return c.vapidKey(args[1:])
	case "rekey":
		return c.rekey(ctx, args[1:])
	case "doctor":
		return c.doctor(ctx, args[1:])
	}
	return fmt.Errorf("unknown command %q; see `twostepctl help`", args[0])
}

func (c *cli) topFlags() (*flag.FlagSet, *bool, *string) {
	fs := c.flagSet("twostepctl", usage)
	return fs, fs.Bool("version", false, "print the version and exit"),
		fs.String("config", c.implicit, "the twostep configuration `file`, for every command; $"+configEnv+" when set")
}

// help prints the help of a command: `twostepctl help user add` is
// `twostepctl user add -h`.
func (c *cli) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fs, _, _ := c.topFlags()
		c.printUsage(fs, c.stdout)
		return nil
	}
	return c.run(ctx, append(args, "-h"))
}

// subcommand runs one command of a group (the "issue" of "twostepctl
// bypass issue") with the arguments after its name.
type subcommand func(ctx context.Context, args []string) error

// group runs the command args[0] of the group named name ("bypass",
// "device simulate"), printing usage for -h or no command at all.
func (c *cli) group(ctx context.Context, name, usage string, args []string, cmds map[string]subcommand) error {
	word := name[strings.LastIndexByte(name, ' ')+1:]
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(c.stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("no %s command given; see `twostepctl %s -h`", word, name)
		}
		return errHelp
	}
	run, ok := cmds[args[0]]
	if !ok {
		names := slices.Sorted(maps.Keys(cmds))
		want := names[len(names)-1]
		if len(names) > 1 {
			want = strings.Join(names[:len(names)-1], ", ") + " or " + want
		}
		return fmt.Errorf("unknown %s command %q: want %s; see `twostepctl %s -h`", word, args[0], want, name)
	}
	return run(ctx, args[1:])
}
