package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"time"
)

// Limits that keep a typo from turning into a runaway load.
const (
	maxConcurrency     = 4096
	maxDuration        = time.Hour
	maxWarmup          = 10 * time.Minute
	maxTimeout         = 30 * time.Second
	maxRetries         = 10
	maxUsers           = 1_000_000
	requestsCapDefault = 10 * time.Minute // -duration when -requests is given alone
)

// usageError is a bad command line; main exits 2 for it.
type usageError struct{ msg string }

// checkRun checks the settings every closed-loop run shares, telling bad
// of each one out of bounds.
func checkRun(bad func(string, ...any), concurrency int, duration, warmup, timeout time.Duration) {
	if concurrency < 1 || concurrency > maxConcurrency {
		bad("-concurrency %d: want 1 to %d", concurrency, maxConcurrency)
	}
	if duration <= 0 || duration > maxDuration {
		bad("-duration %s: want more than 0 and at most %s", duration, maxDuration)
	}
	if warmup < 0 || warmup > maxWarmup {
		bad("-warmup %s: want 0 to %s", warmup, maxWarmup)
	}
	if timeout <= 0 || timeout > maxTimeout {
		bad("-timeout %s: want more than 0 and at most %s", timeout, maxTimeout)
	}
}

// checkPID checks a -server-pid or -store-pid flag: 0 (none) or a
// process whose CPU time can be read.
func checkPID(bad func(string, ...any), flag string, pid int) {
	if pid < 0 {
		bad("%s %d: want a process id", flag, pid)
	} else if pid > 0 {
		if _, err := processCPUTime(pid); err != nil {
			bad("%s %d: %v", flag, pid, err)
		}
	}
}

// parseSubFlags parses a (sub)command's flags: -h gives flag.ErrHelp,
// any other problem a usageError.
func parseSubFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}

func (e usageError) Error() string { return e.msg }

// options are the parsed flags, before validation.
type options struct {
	server      string
	secret      string
	usersFile   string
	user        string
	password    string
	concurrency int
	duration    time.Duration
	durationSet bool
	requests    uint64
	warmup      time.Duration
	timeout     time.Duration
	retries     int
	withMA      bool
	json        bool
	allowRemote bool
	expect      string
	label       string
	serverPID   int
	dirPID      int
	storePID    int
	login       string
	devices     string
	separator   string
	pairState   string
	source      string
}

const usageHead = `Usage: twostep-bench -secret S (-users FILE | -user U -password P) [flags]
       twostep-bench serve -secret S [-listen 127.0.0.1:18199] [-for 10m]
       twostep-bench users -dir DIR [-n 1000]
       twostep-bench compare [-ratio a/b]... [-setting text]... REPORT.json...
       twostep-bench ldap -url ldap://127.0.0.1:PORT -base-dn DN -users FILE [-mode search+bind|bind]
       twostep-bench enroll -endpoints http://127.0.0.1:PORT -seed-keys FILE -users FILE -devices N -out FILE
       twostep-bench etcd -endpoints http://127.0.0.1:PORT -prefix /COPY/ -seed-keys FILE -users FILE [-ops append|challenge]
       twostep-bench push [-twostepd bin/twostepd] [-pending 5000] [-approve-rate 250]
       twostep-bench portal [-twostepd bin/twostepd] [-users 2000] [-concurrency 32]
       twostep-bench run [-scenarios "file ldap 2fa push portal"] [flags]   (make bench)

Loads a RADIUS server with PAP Access-Requests from -concurrency simulated
NASes, each with its own UDP socket and one request in flight, and prints
requests/s, outcomes and latency percentiles beside the settings.

The users file has one "user:password" per line (blank lines and lines
starting with # are skipped); the generator rotates through them.

With -login append or challenge each login also carries a TOTP passcode
of one of the user's devices (-devices, written by "twostep-bench
enroll"): appended to the password ("password,123456"), or typed in
answer to the server's Access-Challenge (two requests per login, counted
as one login). A device accepts a step's code once, so every
(user, device) pair is used at most once per 30 s step; when a step's
pairs run out the workers wait for the next step, and the wait is
reported, never hidden by sending a replay.

Only loopback targets are allowed unless -allow-remote is given: the
generator sends thousands of passwords a second and, pointed at a
production server by mistake, would flood it, fill its logs and lock
accounts out. Use -allow-remote only against a server you own and run for
the test.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("twostep-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.server, "server", "127.0.0.1:1812", "RADIUS server `host:port` (loopback unless -allow-remote)")
	fs.StringVar(&o.secret, "secret", "", "shared `secret` of the client entry on the server (required)")
	fs.StringVar(&o.usersFile, "users", "", "`file` of user:password lines to rotate through")
	fs.StringVar(&o.user, "user", "", "single user `name` (instead of -users)")
	fs.StringVar(&o.password, "password", "", "`password` of -user")
	fs.IntVar(&o.concurrency, "concurrency", 16, fmt.Sprintf("simulated NASes, each with its own socket and one request in flight (1-%d)", maxConcurrency))
	fs.DurationVar(&o.duration, "duration", 10*time.Second, fmt.Sprintf("length of the measured phase, at most %s; with -requests its upper bound (then %s by default)", maxDuration, requestsCapDefault))
	fs.Uint64Var(&o.requests, "requests", 0, "stop after this many measured logins, each one request, or two with -login challenge (0: run for -duration)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, fmt.Sprintf("load sent before measuring, not counted (at most %s)", maxWarmup))
	fs.DurationVar(&o.timeout, "timeout", 2*time.Second, fmt.Sprintf("wait for an answer per attempt (at most %s)", maxTimeout))
	fs.IntVar(&o.retries, "retries", 0, fmt.Sprintf("retransmissions of the same packet after a timeout (0-%d)", maxRetries))
	fs.BoolVar(&o.withMA, "message-authenticator", true, "send Message-Authenticator and require it in answers (RFC 3579, BlastRADIUS)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback -server (see above)")
	fs.StringVar(&o.expect, "expect", "any", "exit 1 unless every measured request got this answer: any, accept, reject or challenge")
	fs.IntVar(&o.serverPID, "server-pid", 0, "`pid` of the server process, to report its CPU use per request (Linux)")
	fs.IntVar(&o.dirPID, "directory-pid", 0, "`pid` of the directory server behind the server (slapd), whose CPU is reported apart from other work (Linux)")
	fs.IntVar(&o.storePID, "store-pid", 0, "`pid` of the cluster store behind the server (etcd), whose CPU is reported apart from other work (Linux)")
	fs.StringVar(&o.label, "label", "", "free `text` naming the target in the output, e.g. freeradius")
	fs.StringVar(&o.login, "login", "pap", "`kind` of login: pap (the password alone), append (\"password,CODE\") or challenge (the password, then CODE in answer to the Access-Challenge)")
	fs.StringVar(&o.devices, "devices", "", "`file` of the users' TOTP devices (\"USER otpauth://totp/...\" lines, from twostep-bench enroll); required by -login append and challenge")
	fs.StringVar(&o.separator, "separator", ",", "what parts password and passcode with -login append (the server client's separator)")
	fs.StringVar(&o.pairState, "pair-state", "", "`file` remembering which (user, device) pairs the current TOTP step has used, so that runs one after the other never send a code twice")
	fs.StringVar(&o.source, "source", "", "loopback `address` to send from, to be another NAS to the server (e.g. 127.0.0.2; default: the kernel's choice)")
	if err := parseSubFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected arguments: %q", fs.Args())}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			o.durationSet = true
		}
	})
	return o, nil
}

// loadConfig validates the options as a whole, reading the users file,
// and reports every problem in one error.
func (o *options) loadConfig() (loadConfig, settings, error) {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	cfg := o.checkFlags(bad)
	users := o.readUsers(bad)
	if o.devices != "" && users != nil {
		cfg.Pairs = o.readPairs(users, bad)
	}
	cfg.Templates = o.templates(users, cfg.Login, cfg.Pairs, bad)
	if len(probs) > 0 {
		return loadConfig{}, settings{}, usageError{"invalid flags:\n  " + strings.Join(probs, "\n  ")}
	}
	s := settings{
		Label:                o.label,
		Server:               cfg.Server.String(),
		Concurrency:          o.concurrency,
		WarmupSeconds:        o.warmup.Seconds(),
		DurationSeconds:      cfg.Duration.Seconds(),
		RequestsLimit:        o.requests,
		TimeoutSeconds:       o.timeout.Seconds(),
		Retries:              o.retries,
		Users:                len(users),
		MessageAuthenticator: o.withMA,
		GOMAXPROCS:           runtime.GOMAXPROCS(0),
		CPUs:                 runtime.NumCPU(),
		Generator:            version,
	}
	if prs := cfg.Pairs; prs != nil {
		s.Login, s.DevicesPerUser, s.PairsPerStep = cfg.Login.String(), prs.nDev, prs.size()
	}
	return cfg, s, nil
}

// checkFlags checks the flags that need no file, telling bad of each
// problem, and returns the load's settings but its users.
func (o *options) checkFlags(bad func(string, ...any)) loadConfig {
	cfg := loadConfig{
		Secret: []byte(o.secret), Concurrency: o.concurrency, Warmup: o.warmup, Duration: o.duration,
		Requests: o.requests, Timeout: o.timeout, Retries: o.retries, RequireMA: o.withMA,
		ServerPID: o.serverPID, DirectoryPID: o.dirPID, StorePID: o.storePID,
	}
	addr, err := net.ResolveUDPAddr("udp", o.server)
	switch {
	case err != nil:
		bad("-server %q: %v", o.server, err)
	case addr.Port == 0:
		bad("-server %q: port 0", o.server)
	case !addr.IP.IsLoopback() && !o.allowRemote:
		bad("-server %q is not a loopback address; pass -allow-remote to load a server you own (see -h)", o.server)
	}
	cfg.Server = addr
	if o.secret == "" {
		bad("-secret is required")
	}
	if o.requests > 0 && !o.durationSet {
		cfg.Duration = requestsCapDefault
	}
	checkRun(bad, o.concurrency, cfg.Duration, o.warmup, o.timeout)
	if o.retries < 0 || o.retries > maxRetries {
		bad("-retries %d: want 0 to %d", o.retries, maxRetries)
	}
	checkPID(bad, "-server-pid", o.serverPID)
	checkPID(bad, "-store-pid", o.storePID)
	checkPID(bad, "-directory-pid", o.dirPID)
	if o.source != "" {
		ip := net.ParseIP(o.source)
		if ip == nil || !ip.IsLoopback() {
			bad("-source %q: want a loopback IP address", o.source)
		} else {
			cfg.Source = &net.UDPAddr{IP: ip}
		}
	}
	kind, ok := parseLoginKind(o.login)
	if !ok {
		bad("-login %q: want pap, append or challenge", o.login)
	}
	cfg.Login = kind
	if (kind == loginPAP) != (o.devices == "") {
		bad("-devices goes with -login append or challenge, and they need it")
	}
	if o.pairState != "" && o.devices == "" {
		bad("-pair-state needs -devices")
	}
	switch o.expect {
	case "any", "accept", "reject", "challenge":
	default:
		bad("-expect %q: want any, accept, reject or challenge", o.expect)
	}
	return cfg
}

// readUsers reads -users, or makes the one -user.
func (o *options) readUsers(bad func(string, ...any)) []user {
	switch {
	case o.usersFile != "" && (o.user != "" || o.password != ""):
		bad("-users and -user/-password are exclusive")
	case o.usersFile != "":
		users, err := readUsers(o.usersFile)
		if err != nil {
			bad("-users: %v", err)
		}
		return users
	case o.user != "":
		return []user{{Name: o.user, Password: o.password}}
	default:
		bad("one of -users FILE or -user U -password P is required")
	}
	return nil
}

// readPairs reads the users' devices and where the last run's TOTP step
// left off.
func (o *options) readPairs(users []user, bad func(string, ...any)) *pairs {
	devs, err := readDevices(o.devices, users)
	var prs *pairs
	if err == nil {
		prs, err = newPairs(devs)
	}
	if err != nil {
		bad("-devices: %v", err)
		return nil
	}
	if o.pairState != "" {
		step, next, err := readPairState(o.pairState)
		if err != nil {
			bad("-pair-state: %v", err)
		}
		prs.resume(step, next)
	}
	return prs
}

// templates lays out every user's request in advance.
func (o *options) templates(users []user, kind loginKind, prs *pairs, bad func(string, ...any)) []*template {
	var tpls []*template
	for _, u := range users {
		var t *template
		var err error
		if kind == loginAppend && prs != nil {
			t, err = newCodeTemplate(u, o.separator, prs.digits(), o.withMA)
		} else {
			t, err = newTemplate(u, o.withMA)
		}
		if err != nil {
			bad("%v", err)
			break
		}
		tpls = append(tpls, t)
	}
	return tpls
}

// readUsers reads user:password lines. The password is everything after
// the first colon, spaces included. Errors name the line, never its text:
// it holds a password.
func readUsers(path string) ([]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var users []user
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: want user:password", path, n)
		}
		if len(users) == maxUsers {
			return nil, fmt.Errorf("%s: more than %d users", path, maxUsers)
		}
		users = append(users, user{Name: name, Password: pw})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}
