// Command twostepd is the twostep RADIUS daemon: it answers Access-Requests
// from the configured NASes, checks the password against the directory and
// decides the login, and serves the portal, the push approval API and its
// metrics.
//
// main.go reads the flags and signals and runs; daemon.go loads the
// configuration and builds each package from its section; serve runs the
// servers and loops as one group of actors (group.go), started and stopped
// together; backend.go, store.go, push.go, portal.go and ops.go wire one
// dependency each; metrics.go builds every package's Prometheus
// collectors on the one private registry /metrics serves, and says the
// idiom they all follow. No package below cmd reads the file or the
// flags.
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
	"time"
)

// version is set at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		var logged loggedError
		if !errors.As(err, &logged) {
			fmt.Fprintln(os.Stderr, "twostepd:", err)
		}
		os.Exit(1)
	}
}

const usage = `Usage: twostepd [-config FILE] [-check] [-version]

twostepd answers RADIUS Access-Requests (UDP) from the NASes named in the
configuration, checks passwords against the directory and decides logins.
Without -config it reads the file $TWOSTEP_CONFIG names, else
/etc/twostep/twostep.yaml.

Signals: SIGTERM or SIGINT drains requests in flight and stops; SIGHUP
reloads clients, secrets and the users file without dropping packets, and
names in a warning each other section that changed (it needs a restart).

Examples:
  twostepd -config configs/demo.yaml            start the demo
  twostepd -config /etc/twostep/twostep.yaml -check   validate a file

Flags:
`

// configEnv names the environment variable that, when set, is the
// configuration file read without -config (twostepctl reads it too).
const configEnv = "TWOSTEP_CONFIG"

// implicitConfig is the configuration read without -config.
func implicitConfig(getenv func(string) string) string {
	if p := getenv(configEnv); p != "" {
		return p
	}
	return "/etc/twostep/twostep.yaml"
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostepd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", implicitConfig(os.Getenv), "configuration `file`; $"+configEnv+" when set")
	check := fs.Bool("check", false, "validate the configuration and the users file, print a summary and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	// Help asked for is no failure: on stdout, exit 0. A mistake prints
	// the usage on stderr and fails.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		}
		fs.SetOutput(stderr)
		fs.Usage()
		return err
	}
	fs.SetOutput(stderr)
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "twostepd", version)
		return nil
	}
	// SIGHUP's default action ends the process: catch it before anything
	// else, so a reload sent during start-up cannot kill the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	d, err := assemble(*configPath, stderr)
	if err != nil {
		return err
	}
	if *check {
		return d.summary(stdout)
	}
	// From here every line is the daemon's log, libraries' lines too.
	restore := redirectLibraryLogs(d.log, d.lines)
	defer restore()
	// serve ends within the grace period of a signal; should a library
	// hang it, run returns anyway, a little later, and the process ends
	// with the goroutine.
	served := make(chan error, 1)
	go func() { served <- d.serve(ctx, hup) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		select {
		case err = <-served:
		case <-time.After(shutdownGrace + stuckMargin):
			err = fmt.Errorf("still stopping %v after the signal; exiting all the same", shutdownGrace+stuckMargin)
		}
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// A signal during the start: a stop, not a failure.
		d.log.Info().Err(err).Msg("twostepd stopped before it was ready")
		return nil
	}
	d.log.Error().Err(err).Msg("twostepd failed")
	return loggedError{err}
}

// stuckMargin is how long past the grace period run waits for serve
// before it gives up on it.
const stuckMargin = 5 * time.Second

// loggedError is an error the daemon's log has reported already: main
// exits 1 without writing it again, outside the log's format.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }
