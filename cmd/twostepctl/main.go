// Command twostepctl manages a twostep installation: for now the users of
// the file directory backend (add, change passwords, disable, delete, list).
//
// main only wires: arguments and the terminal -> run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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

  user add      add a user to the users file
  user passwd   set a user's password
  user disable  disable a user (the password stays)
  user enable   enable a disabled user
  user groups   set a user's groups
  user delete   delete a user
  user list     list users, their groups and status
  help          show help: twostepctl help user add

A running twostepd watches the users file and picks changes up within a few
seconds; nothing needs a restart.

The users file is the config's directory.file.path (-config, default
/etc/twostep/twostep.yaml), or the file given with -users.

Examples:
  twostepctl user add -groups vpn-users alice
  twostepctl user add -config configs/demo.yaml alice
  twostepctl user add -users /etc/twostep/users.yaml -groups vpn-users alice
  echo 'the-password' | twostepctl user add -users users.yaml bob
  twostepctl user list -users users.yaml -json

Flags:
`

// cli is what commands read and write: the process's standard streams, or
// buffers in tests.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// errHelp is returned by a command that printed its help: success.
var errHelp = flag.ErrHelp

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.run(ctx, args)
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

func (c *cli) run(ctx context.Context, args []string) error {
	fs, showVersion := c.topFlags()
	// Top-level flags come before the command: the command's own flags follow it.
	if err := fs.Parse(args); err != nil {
		return c.flagError(fs, err)
	}
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
	}
	return fmt.Errorf("unknown command %q; see `twostepctl help`", args[0])
}

func (c *cli) topFlags() (*flag.FlagSet, *bool) {
	fs := c.flagSet("twostepctl", usage)
	return fs, fs.Bool("version", false, "print the version and exit")
}

// help prints the help of a command: `twostepctl help user add` is
// `twostepctl user add -h`.
func (c *cli) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fs, _ := c.topFlags()
		c.printUsage(fs, c.stdout)
		return nil
	}
	return c.run(ctx, append(args, "-h"))
}
