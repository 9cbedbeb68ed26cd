package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/etcdstore"
)

// Store ceiling operations: what one login costs the cluster store.
const (
	// etcdOpsAppend is a passcode in the password: the account read
	// (one List of users/<u>/) and the used step recorded (one
	// compare-and-put).
	etcdOpsAppend = "append"
	// etcdOpsChallenge is a password then a passcode: the account read
	// and the challenge stored (a lease and a put) on the first request;
	// the challenge read, the account read again, the step recorded and
	// the challenge removed on the second.
	etcdOpsChallenge = "challenge"
)

// etcdLoadConfig is one "twostep-bench etcd" run.
type etcdLoadConfig struct {
	Etcd        etcdstore.Config
	Keys        *cluster.Keyring
	Ops         string
	Users       []user
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	Timeout     time.Duration
	ServerPID   int
}

// runEtcd is "twostep-bench etcd": the ceiling the cluster store allows
// for second factors. Each worker runs, back to back, the very calls of
// twostep's cluster package that one login makes (the same records, the
// same seed unsealing, the same transactions), one login in flight per
// worker, on one shared client as in twostepd. Point it at a copy of the
// enrolled records (twostep-bench enroll -mirror-prefix): it records
// ever later steps, which would turn the RADIUS load's codes into
// replays.
func runEtcd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, p, asJSON, err := parseEtcdFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := runEtcdLoad(ctx, cfg)
	if err != nil {
		return fmt.Errorf("etcd %s: %w", strings.Join(cfg.Etcd.Endpoints, ","), err)
	}
	return writePeerReport(stdout, asJSON, p, res, func(r *results, c *float64) { r.StoreCores = c })
}

// parseEtcdFlags reads etcd's flags, the users and the seed keys, and
// returns the configuration, the report's settings and whether it is
// wanted as JSON.
func parseEtcdFlags(args []string, stderr io.Writer) (etcdLoadConfig, peerRun, bool, error) {
	fs := flag.NewFlagSet("twostep-bench etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg etcdLoadConfig
	endpoints := fs.String("endpoints", "", "comma-separated etcd client `URLs` on loopback (http://127.0.0.1:PORT; required)")
	fs.StringVar(&cfg.Etcd.Prefix, "prefix", "", "key `prefix` of the records to spend: the enroll -mirror-prefix (required)")
	seedKeys := fs.String("seed-keys", "", "the seed key `file` the records were sealed with (required)")
	usersFile := fs.String("users", "", "user:password `file` of the enrolled users (required)")
	fs.StringVar(&cfg.Ops, "ops", etcdOpsAppend, "`ops` of one login: append (List + compare-and-put) or challenge (the challenge's records too)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "workers, each with one login in flight")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before the measured phase (not counted)")
	fs.DurationVar(&cfg.Duration, "duration", 15*time.Second, "measured phase")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Second, "per login (all its operations)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`pid` of etcd, whose CPU time is measured")
	label := fs.String("label", "", "name of this run in reports and compare tables")
	asJSON := fs.Bool("json", false, "print the report as JSON (for compare)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: twostep-bench etcd -endpoints http://127.0.0.1:PORT -prefix /PREFIX/ -seed-keys FILE -users FILE [-ops append|challenge] [flags]

Drives a loopback etcd with the cluster operations of one second-factor
login, in a closed loop, for the ceiling the store allows twostepd. A
login of -ops append reads the user's records (one List) and records the
device's step (one compare-and-put); -ops challenge adds the challenge:
stored with a lease, read back, and removed. Requests/s are logins/s.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return cfg, peerRun{}, false, err
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments: %q", fs.Args())
	}
	cfg.Etcd.Endpoints = loopbackEndpoints(*endpoints, "-endpoints", bad)
	if cfg.Etcd.Prefix == "" || cfg.Etcd.Prefix == etcdstore.DefaultPrefix {
		bad("-prefix %q: want the copy of the records (enroll -mirror-prefix), not the cluster's own", cfg.Etcd.Prefix)
	} else if err := cfg.Etcd.Validate(); err != nil && len(cfg.Etcd.Endpoints) > 0 {
		bad("%v", err)
	}
	if cfg.Ops != etcdOpsAppend && cfg.Ops != etcdOpsChallenge {
		bad("-ops %q: want %s or %s", cfg.Ops, etcdOpsAppend, etcdOpsChallenge)
	}
	checkRun(bad, cfg.Concurrency, cfg.Duration, cfg.Warmup, cfg.Timeout)
	checkPID(bad, "-server-pid", cfg.ServerPID)
	if *seedKeys == "" {
		bad("-seed-keys is required")
	} else if k, err := cluster.LoadKeyring(*seedKeys); err != nil {
		bad("-seed-keys: %v", err)
	} else {
		cfg.Keys = k
	}
	if *usersFile == "" {
		bad("-users is required")
	} else if users, err := readUsers(*usersFile); err != nil {
		bad("-users: %v", err)
	} else {
		cfg.Users = users
		if len(users) < cfg.Concurrency {
			// Workers take disjoint users: two logins of one user at once
			// would race for its records, which the load does not.
			bad("-concurrency %d: at most the number of users (%d)", cfg.Concurrency, len(users))
		}
	}
	if len(probs) > 0 {
		return cfg, peerRun{}, false, usageError{"etcd: invalid flags:\n  " + strings.Join(probs, "\n  ")}
	}
	return cfg, peerRun{
		label: *label, server: strings.Join(cfg.Etcd.Endpoints, ","), protocol: "etcd " + cfg.Ops,
		concurrency: cfg.Concurrency, users: len(cfg.Users),
		warmup: cfg.Warmup, duration: cfg.Duration, timeout: cfg.Timeout,
	}, *asJSON, nil
}

// runEtcdLoad connects once and runs the workers.
func runEtcdLoad(ctx context.Context, cfg etcdLoadConfig) (loadResult, error) {
	store, err := etcdstore.Open(ctx, cfg.Etcd)
	if err != nil {
		return loadResult{}, err
	}
	defer store.Close()
	sl := storeLogin{
		ops:        cfg.Ops,
		accounts:   cluster.NewAccounts(store, cfg.Keys),
		challenges: cluster.NewChallenges(store, cfg.Keys),
	}
	ph := phase{Concurrency: cfg.Concurrency, Warmup: cfg.Warmup, Duration: cfg.Duration, ServerPID: cfg.ServerPID}
	return ph.run(ctx, func(i int, measureStart, end time.Time) (tally, error) {
		return etcdWorker(ctx, cfg, sl, i, measureStart, end)
	})
}

// etcdWorker runs logins back to back until end. A login whose operations
// ran out of time is a timeout; any other failure ends the run.
func etcdWorker(ctx context.Context, cfg etcdLoadConfig, sl storeLogin, i int, measureStart, end time.Time) (tally, error) {
	var t tally
	n := len(cfg.Users)
	next := i
	for round := 0; ctx.Err() == nil; round++ {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		measuring := !now.Before(measureStart)
		u := cfg.Users[next]
		// Worker i takes users i, i+C, i+2C, ...: no two workers share
		// one (there are at least C users).
		if next += cfg.Concurrency; next >= n {
			next = i
		}
		lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		err := sl.login(lctx, u.Name, round, now)
		cancel()
		rtt := time.Since(now)
		if ctx.Err() != nil {
			break
		}
		timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.Is(err, cluster.ErrUnavailable) && rtt >= cfg.Timeout)
		if err != nil && !timedOut {
			return t, fmt.Errorf("user %s: %w", u.Name, err)
		}
		if !measuring {
			continue
		}
		t.Requests++
		t.Logins++
		if timedOut {
			t.Timeouts++
			continue
		}
		t.Accepts++
		t.latency.record(rtt)
	}
	return t, nil
}

// storeLogin makes the cluster calls of one login, as challenge.Engine
// does for a user whose code is right.
type storeLogin struct {
	ops        string
	accounts   *cluster.Accounts
	challenges *cluster.Challenges
}

// login runs one login of user at now; round picks which device matched.
func (sl storeLogin) login(ctx context.Context, user string, round int, now time.Time) error {
	acct, err := sl.accounts.Load(ctx, user)
	if err != nil {
		return err
	}
	if sl.ops == etcdOpsAppend {
		return sl.useCode(ctx, acct, round, now)
	}
	// The first request: a challenge remembers the login.
	state, err := sl.challenges.Create(ctx, cluster.Pending{
		User: user, Account: acct.Name, Client: "bench", NAS: "127.0.0.1",
		Created: now, Expires: now.Add(challenge.DefaultChallengeTTL),
		AttemptsLeft: challenge.DefaultChallengeAttempts, Data: json.RawMessage(`{}`),
	})
	if err != nil {
		return err
	}
	// The second: the State and the account read again, the code used,
	// the challenge finished.
	p, err := sl.challenges.Get(ctx, state)
	if err != nil {
		return err
	}
	if acct, err = sl.accounts.Load(ctx, p.Account); err != nil {
		return err
	}
	// The answer spends an attempt first, as twostepd does.
	if err := sl.challenges.Retry(ctx, p); err != nil {
		return err
	}
	if err := sl.useCode(ctx, acct, round, now); err != nil {
		return err
	}
	return sl.challenges.Finish(ctx, p)
}

// useCode records a step of one of acct's devices as accepted, with the
// failure count cleared in the same transaction (Accounts.Accept). The step is the
// device's last plus one, at least now's: the copy's steps run ahead of
// the clock, which only this ceiling reads.
func (sl storeLogin) useCode(ctx context.Context, acct *cluster.Account, round int, now time.Time) error {
	if len(acct.Devices) == 0 {
		return fmt.Errorf("%q has no device under this prefix (twostep-bench enroll -mirror-prefix)", acct.Name)
	}
	dev := acct.Devices[round%len(acct.Devices)]
	step := otp.TOTP{Period: dev.Period}.Step(now)
	if u, ok := acct.Used[dev.ID]; ok && u.Step >= step {
		step = u.Step + 1
	}
	return sl.accounts.Accept(ctx, acct, dev, step, now)
}
