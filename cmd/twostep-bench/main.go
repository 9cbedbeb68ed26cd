// Command twostep-bench is a RADIUS load generator. It sends PAP
// Access-Requests, each signed with a Message-Authenticator, to any RADIUS
// server, verifies every answer (Response Authenticator and
// Message-Authenticator), and prints throughput, outcomes and latency
// percentiles beside the settings that produced them.
//
// Each of the -concurrency workers is a simulated NAS with its own UDP
// socket and source port and exactly one request in flight (a closed
// loop), so concurrency N means N requests outstanding. Requests are laid
// out in advance per user; a send costs a few MD5 blocks, so that the
// generator outruns the servers it compares (radclient does not).
//
// The run is bounded in time (-warmup plus -duration) and optionally in
// count (-requests), and only ever sends to the one -server address, which
// must be loopback unless -allow-remote is given.
//
// "twostep-bench serve" is a minimal responder that accepts every request
// at once: loading it shows the generator's own ceiling on the machine.
// "twostep-bench users" writes N users with {SSHA512} password hashes for
// the generator, FreeRADIUS's files module and twostepd's users file, so
// that both servers check the same hashes. "twostep-bench compare" prints
// -json reports side by side as a Markdown table with the ratio of two
// servers. "twostep-bench ldap" drives a directory server directly (search
// as a service account and bind as the user, or bind only) with the same
// closed loop, for the ceiling the directory allows a RADIUS server.
//
// The second factor: "twostep-bench enroll" gives every user N TOTP
// devices through twostep's cluster API on a loopback etcd and writes their
// otpauth URIs for -devices; -login append or challenge then sends a
// passcode with each login, never the same (user, device, step) twice.
// "twostep-bench etcd" drives the etcd directly with the cluster
// operations one login costs, for the ceiling the store allows.
// "twostep-bench push" starts a twostepd of its own and holds thousands of
// logins waiting for a push at once, for the memory they cost and the
// time from an approval to its Access-Accept. "twostep-bench portal" starts
// a twostepd of its own with the self-service portal and measures sign-ins
// and page views over HTTPS beside the same cluster operations sent to etcd
// directly.
//
// "twostep-bench run" is the whole benchmark (make bench): it writes the
// servers' configurations, starts FreeRADIUS, twostepd, slapd and etcd on
// loopback (internal/peer), runs every scenario with the helpers above as
// child processes of its own binary, one target at a time with the others
// paused, judges the runs, and rewrites the sections of
// docs/BENCHMARKS.md. scripts/bench.sh only installs the Debian packages
// that "run -missing" lists, then calls it.
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

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "twostep-bench:", err)
		}
		stop()
		os.Exit(exitCode(err))
	}
}

// errInterrupted: the run was stopped by a signal before its end.
var errInterrupted = errors.New("interrupted")

// exitCode is 0 after the help was asked for (-h), 2 for usage errors,
// as the flag package does, 130 after Ctrl-C (as a shell reports it, so
// that a calling script stops too) and 1 otherwise.
func exitCode(err error) int {
	var u usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		return 2
	case errors.Is(err, errInterrupted):
		return 130
	}
	return 1
}

// run parses args and runs the load generator or, with "serve", "users",
// "compare", "ldap", "enroll", "etcd", "push" or "portal", one of the
// helpers, or with "run" the benchmark suite.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return runServe(ctx, args[1:], stdout, stderr)
		case "users":
			return runUsers(args[1:], stdout, stderr)
		case "compare":
			return runCompare(args[1:], stdout, stderr)
		case "ldap":
			return runLDAP(ctx, args[1:], stdout, stderr)
		case "enroll":
			return runEnroll(ctx, args[1:], stdout, stderr)
		case "etcd":
			return runEtcd(ctx, args[1:], stdout, stderr)
		case "push":
			return runPush(ctx, args[1:], stdout, stderr)
		case "portal":
			return runPortal(ctx, args[1:], stdout, stderr)
		case "run":
			return runSuite(ctx, args[1:], os.LookupEnv, stdout, stderr)
		}
	}
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, settings, err := opts.loadConfig()
	if err != nil {
		return err
	}
	res, err := runLoad(ctx, cfg)
	if err != nil {
		return fmt.Errorf("load %s: %w", cfg.Server, err)
	}
	if cfg.Pairs != nil && opts.pairState != "" {
		step, next := cfg.Pairs.state()
		if err := writePairState(opts.pairState, step, next); err != nil {
			return fmt.Errorf("-pair-state: %w", err)
		}
	}
	rep := newReport(settings, res)
	if w := rep.Results.PairWait; w > 0 && opts.json {
		fmt.Fprintf(stderr, "twostep-bench: warning: all %d (user, device) pairs of a TOTP step were used; workers waited %.1fs each on average for the next step\n", settings.PairsPerStep, w)
	}
	if opts.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		return err
	}
	return rep.verdict(opts.expect)
}
