package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// suiteConfig is "twostep-bench run": which scenarios, and the settings
// of each. Every flag also reads the BENCH_* environment variable that
// scripts/bench.sh has always taken (suiteEnv); a flag given on the
// command line wins.
type suiteConfig struct {
	Scenarios   []string
	Users       int
	Concurrency []int
	Duration    time.Duration
	Warmup      time.Duration
	Rounds      int // runs per target and concurrency, interleaved
	Retries     int // reruns of a run during which other work took more than busyOther cores
	FRThreads   int
	TSWorkers   int
	Servers     []string // the file scenario's: freeradius, twostepd
	Ceiling     bool     // the file scenario loads twostep-bench serve too
	Out         string   // the Markdown file whose sections are rewritten; "-" for none
	Keep        bool     // keep the temp dir (configs, logs, JSON)
	Force       bool     // write sections even when other work disturbed the runs

	LDAPConcurrency int
	FRLDAPThreads   int
	FRLDAPPool      int
	TSLDAPPool      int
	TSLDAPCache     string // as given ("5m"), for the settings line

	TwoFAUsers   int
	TwoFADevices int

	PushPending int
	PushRate    int

	PortalUsers int

	Bin     string // where twostepd is
	Missing bool   // only print the Debian packages the scenarios need and lack
}

// The scenarios, in the order they run.
var allScenarios = []string{"file", "ldap", "2fa", "history", "push", "portal"}

// suiteEnv maps each flag of "twostep-bench run" to its environment
// variable.
var suiteEnv = map[string]string{
	"scenarios":        "BENCH_SCENARIOS",
	"users":            "BENCH_USERS",
	"concurrency":      "BENCH_CONCURRENCY",
	"duration":         "BENCH_DURATION",
	"warmup":           "BENCH_WARMUP",
	"rounds":           "BENCH_ROUNDS",
	"retries":          "BENCH_RETRIES",
	"fr-threads":       "BENCH_FR_THREADS",
	"ts-workers":       "BENCH_TS_WORKERS",
	"servers":          "BENCH_SERVERS",
	"ceiling":          "BENCH_CEILING",
	"out":              "BENCH_OUT",
	"keep":             "BENCH_KEEP",
	"force":            "BENCH_FORCE",
	"ldap-concurrency": "BENCH_LDAP_CONCURRENCY",
	"fr-ldap-threads":  "BENCH_FR_LDAP_THREADS",
	"fr-ldap-pool":     "BENCH_FR_LDAP_POOL",
	"ts-ldap-pool":     "BENCH_TS_LDAP_POOL",
	"ts-ldap-cache":    "BENCH_TS_LDAP_CACHE",
	"2fa-users":        "BENCH_2FA_USERS",
	"2fa-devices":      "BENCH_2FA_DEVICES",
	"push-pending":     "BENCH_PUSH_PENDING",
	"push-rate":        "BENCH_PUSH_RATE",
	"portal-users":     "BENCH_PORTAL_USERS",
}

// wordsFlag is a list of words, separated by spaces or commas.
type wordsFlag []string

func (w *wordsFlag) String() string { return strings.Join(*w, " ") }
func (w *wordsFlag) Set(v string) error {
	*w = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	return nil
}

// intsFlag is a list of positive numbers, separated by spaces or commas.
type intsFlag []int

func (l *intsFlag) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

func (l *intsFlag) Set(v string) error {
	*l = nil
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: want positive numbers", v)
		}
		*l = append(*l, n)
	}
	return nil
}

const suiteUsage = `Usage: twostep-bench run [flags]     (make bench; scripts/bench.sh)

Runs the benchmark scenarios and rewrites their sections of -out
(docs/BENCHMARKS.md explains every figure):

  file    twostepd (users file) beside FreeRADIUS (files + pap) and the
          generator's ceiling (twostep-bench serve)
  ldap    the same users in a private slapd: FreeRADIUS with rlm_ldap,
          twostepd without and with its DN cache, and slapd's ceilings
  2fa     TOTP passcodes (append and challenge) against the password
          alone, on slapd and an external etcd, beside their ceilings
  history the same logins (the password alone, and append) with the
          login history off and on: its cost
  push    thousands of logins waiting for a push on one twostepd
  portal  the self-service portal's sign-ins and page views over HTTPS

It starts every server on 127.0.0.1 from a temp dir, with configurations
it writes, loads one target at a time with the others paused (SIGSTOP),
and stops everything it started, also on Ctrl-C. It installs nothing:
-missing lists the Debian packages the scenarios need and lack, which
scripts/bench.sh installs first. Every flag reads its BENCH_* variable
(in brackets) when not given.

Flags:
`

// parseSuiteFlags reads the flags, then the environment for those not
// given, and checks the whole.
func parseSuiteFlags(args []string, getenv func(string) (string, bool), stderr io.Writer) (suiteConfig, error) {
	c := suiteConfig{
		Scenarios:   slices.Clone(allScenarios),
		Concurrency: []int{32, 64},
		Servers:     []string{"freeradius", "twostepd"},
	}
	fs := flag.NewFlagSet("twostep-bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defineSuiteFlags(fs, &c)
	fs.Usage = func() {
		fmt.Fprint(stderr, suiteUsage)
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Sprintf("run: unexpected arguments: %q", fs.Args())}
	}
	if err := suiteFromEnv(fs, getenv); err != nil {
		return c, err
	}
	return c, c.check()
}

func defineSuiteFlags(fs *flag.FlagSet, c *suiteConfig) {
	exe, _ := os.Executable()
	env := func(name, usage string) string { return usage + " [" + suiteEnv[name] + "]" }
	fs.Var((*wordsFlag)(&c.Scenarios), "scenarios", env("scenarios", "`scenarios` to run, of "+strings.Join(allScenarios, " ")))
	fs.IntVar(&c.Users, "users", 1000, env("users", "users generated and rotated through (file and ldap)"))
	fs.Var((*intsFlag)(&c.Concurrency), "concurrency", env("concurrency", "simulated NASes of the file scenario, one request in flight each: a `list`"))
	fs.DurationVar(&c.Duration, "duration", 15*time.Second, env("duration", "measured phase per run"))
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, env("warmup", "warm-up before each measured phase"))
	fs.IntVar(&c.Rounds, "rounds", 1, env("rounds", "runs per server and concurrency, interleaved"))
	fs.IntVar(&c.Retries, "retries", 1, env("retries", fmt.Sprintf("reruns of a run during which other work took over %.2f cores", busyOther)))
	fs.IntVar(&c.FRThreads, "fr-threads", runtime.NumCPU(), env("fr-threads", "FreeRADIUS worker threads (a fixed pool)"))
	fs.IntVar(&c.TSWorkers, "ts-workers", 256, env("ts-workers", "twostepd radius.workers"))
	fs.Var((*wordsFlag)(&c.Servers), "servers", env("servers", "`servers` of the file scenario: freeradius, twostepd"))
	fs.BoolVar(&c.Ceiling, "ceiling", true, env("ceiling", "the file scenario also loads twostep-bench serve (the generator's ceiling)"))
	fs.StringVar(&c.Out, "out", "docs/BENCHMARKS.md", env("out", "Markdown `file` whose sections the results replace (\"-\": none)"))
	fs.BoolVar(&c.Keep, "keep", false, env("keep", "keep the temp dir (configs, logs, JSON)"))
	fs.BoolVar(&c.Force, "force", false, env("force", "write the results even when other work disturbed the runs"))
	fs.IntVar(&c.LDAPConcurrency, "ldap-concurrency", 32, env("ldap-concurrency", "simulated NASes of the ldap and 2fa scenarios, and workers of their ceilings"))
	fs.IntVar(&c.FRLDAPThreads, "fr-ldap-threads", 16, env("fr-ldap-threads", "FreeRADIUS worker threads with rlm_ldap (each blocks on LDAP)"))
	fs.IntVar(&c.FRLDAPPool, "fr-ldap-pool", 16, env("fr-ldap-pool", "rlm_ldap connections (start = min = max)"))
	fs.IntVar(&c.TSLDAPPool, "ts-ldap-pool", 16, env("ts-ldap-pool", "twostepd search_pool_size and bind_pool_size"))
	fs.StringVar(&c.TSLDAPCache, "ts-ldap-cache", "5m", env("ts-ldap-cache", "twostepd cache_ttl of the DN-cache runs"))
	fs.IntVar(&c.TwoFAUsers, "2fa-users", 15000, env("2fa-users", "the 2fa scenario's users"))
	fs.IntVar(&c.TwoFADevices, "2fa-devices", 3, env("2fa-devices", "TOTP devices per 2fa user; a 30 s step allows users x devices passcode logins"))
	fs.IntVar(&c.PushPending, "push-pending", 5000, env("push-pending", "logins waiting for a push at once"))
	fs.IntVar(&c.PushRate, "push-rate", 250, env("push-rate", "approvals per second"))
	fs.IntVar(&c.PortalUsers, "portal-users", 2000, env("portal-users", "users signing in to the portal"))
	fs.StringVar(&c.Bin, "bin", filepath.Dir(exe), "`directory` holding twostepd (make build's bin/)")
	fs.BoolVar(&c.Missing, "missing", false, "print the Debian packages the scenarios need and lack, one a line, and exit")
}

// suiteFromEnv sets every flag not given on the command line from its
// environment variable, when that is set and not empty.
func suiteFromEnv(fs *flag.FlagSet, getenv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range slices.Sorted(maps.Keys(suiteEnv)) {
		v, ok := getenv(suiteEnv[name])
		if given[name] || !ok || v == "" {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return usageError{fmt.Sprintf("run: %s=%q: %v", suiteEnv[name], v, err)}
		}
	}
	return nil
}

// check reports every problem of c in one usageError.
func (c suiteConfig) check() error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, s := range c.Scenarios {
		if !slices.Contains(allScenarios, s) {
			bad("-scenarios: unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	for _, s := range c.Servers {
		if s != "freeradius" && s != "twostepd" {
			bad("-servers: unknown server %q (want freeradius, twostepd)", s)
		}
	}
	if len(c.Concurrency) == 0 {
		bad("-concurrency: want at least one")
	}
	positive := map[string]int{"-users": c.Users, "-rounds": c.Rounds, "-fr-threads": c.FRThreads, "-ts-workers": c.TSWorkers,
		"-ldap-concurrency": c.LDAPConcurrency, "-fr-ldap-threads": c.FRLDAPThreads, "-fr-ldap-pool": c.FRLDAPPool,
		"-ts-ldap-pool": c.TSLDAPPool, "-2fa-users": c.TwoFAUsers, "-2fa-devices": c.TwoFADevices,
		"-push-pending": c.PushPending, "-push-rate": c.PushRate, "-portal-users": c.PortalUsers}
	for _, name := range slices.Sorted(maps.Keys(positive)) {
		if positive[name] < 1 {
			bad("%s %d: want 1 or more", name, positive[name])
		}
	}
	if c.Retries < 0 {
		bad("-retries %d: want 0 or more", c.Retries)
	}
	if d, err := time.ParseDuration(c.TSLDAPCache); err != nil || d < 0 {
		bad("-ts-ldap-cache %q: want a duration", c.TSLDAPCache)
	}
	if len(probs) > 0 {
		return usageError{"run: invalid settings:\n  " + strings.Join(probs, "\n  ")}
	}
	return nil
}

// wants reports whether scenario s is to run.
func (c suiteConfig) wants(s string) bool { return slices.Contains(c.Scenarios, s) }
