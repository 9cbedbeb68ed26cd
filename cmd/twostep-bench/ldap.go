package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAP ceiling modes.
const (
	ldapModeSearchBind = "search+bind" // search as the service account, then bind as the user
	ldapModeBind       = "bind"        // bind as the user, DN known in advance
)

// ldapLoadConfig is one "twostep-bench ldap" run.
type ldapLoadConfig struct {
	URL          string
	BindDN       string
	BindPassword string
	BaseDN       string
	Filter       string // %s: the escaped user name
	Mode         string
	Users        []user
	DNs          []string // per user (bind mode), resolved before the run
	Concurrency  int
	Warmup       time.Duration
	Duration     time.Duration
	Timeout      time.Duration
	ServerPID    int
}

// runLDAP is "twostep-bench ldap": the ceiling a directory allows for
// password checks, driven with the same closed loop as the RADIUS load.
// Each worker holds its own connections and one operation chain in flight:
// in search+bind mode a search for the user on a connection bound as the
// service account, then a bind as the DN found on a second connection (as
// twostepd and FreeRADIUS do); in bind mode only the bind, the DNs having
// been looked up before the run (as a warm DN cache does).
func runLDAP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench ldap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg ldapLoadConfig
	fs.StringVar(&cfg.URL, "url", "", "`ldap://127.0.0.1:port` of the directory (loopback only; required)")
	fs.StringVar(&cfg.BindDN, "bind-dn", "", "service account `DN` that searches (empty: anonymous)")
	pwFile := fs.String("bind-password-file", "", "`file` holding the service account's password (one line)")
	fs.StringVar(&cfg.BaseDN, "base-dn", "", "where users are searched, subtree (required)")
	fs.StringVar(&cfg.Filter, "filter", "(&(objectClass=inetOrgPerson)(uid=%s))", "user `filter`; %s is the escaped user name")
	fs.StringVar(&cfg.Mode, "mode", ldapModeSearchBind, "`mode`: search+bind (search as the service, bind as the user) or bind (bind only, DNs known)")
	usersFile := fs.String("users", "", "user:password `file`, as for the RADIUS load (required)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "workers, each with its own connections and one check in flight")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "warm-up before the measured phase (not counted)")
	fs.DurationVar(&cfg.Duration, "duration", 15*time.Second, "measured phase")
	fs.DurationVar(&cfg.Timeout, "timeout", 2*time.Second, "per LDAP operation")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "`pid` of the directory server, whose CPU time is measured")
	label := fs.String("label", "", "name of this run in reports and compare tables")
	asJSON := fs.Bool("json", false, "print the report as JSON (for compare)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostep-bench ldap -url ldap://127.0.0.1:PORT -base-dn DN -users FILE [-mode search+bind|bind] [flags]")
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.check(*usersFile, *pwFile); err != nil {
		return err
	}
	if cfg.Mode == ldapModeBind {
		dns, err := resolveDNs(ctx, cfg)
		if err != nil {
			return fmt.Errorf("ldap: %w", err)
		}
		cfg.DNs = dns
	}
	res, err := runLDAPLoad(ctx, cfg)
	if err != nil {
		return fmt.Errorf("ldap %s: %w", cfg.URL, err)
	}
	// The settings the RADIUS runs of the same table share (timeout 2 s,
	// no retries) are those of the ldap run too, except that there is no
	// Message-Authenticator: compare ignores it for ldap reports.
	return writePeerReport(stdout, *asJSON, peerRun{
		label: *label, server: cfg.URL, protocol: "ldap " + cfg.Mode,
		concurrency: cfg.Concurrency, users: len(cfg.Users),
		warmup: cfg.Warmup, duration: cfg.Duration, timeout: cfg.Timeout,
	}, res, func(r *results, c *float64) { r.DirectoryCores = c })
}

// check validates the flags and reads the users and the password.
func (cfg *ldapLoadConfig) check(usersFile, pwFile string) error {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if u, err := url.Parse(cfg.URL); err != nil || u.Scheme != "ldap" || u.Hostname() == "" {
		bad("-url %q: want ldap://host:port", cfg.URL)
	} else if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		// Thousands of binds a second lock accounts out on a real
		// directory: loopback only.
		bad("-url %q: only loopback IP addresses", cfg.URL)
	}
	if cfg.BaseDN == "" {
		bad("-base-dn is required")
	}
	if strings.Count(cfg.Filter, "%s") != 1 {
		bad("-filter %q: want exactly one %%s", cfg.Filter)
	}
	if cfg.Mode != ldapModeSearchBind && cfg.Mode != ldapModeBind {
		bad("-mode %q: want %s or %s", cfg.Mode, ldapModeSearchBind, ldapModeBind)
	}
	checkRun(bad, cfg.Concurrency, cfg.Duration, cfg.Warmup, cfg.Timeout)
	checkPID(bad, "-server-pid", cfg.ServerPID)
	if (cfg.BindDN == "") != (pwFile == "") {
		bad("-bind-dn and -bind-password-file go together")
	} else if pwFile != "" {
		b, err := os.ReadFile(pwFile)
		if err != nil {
			bad("-bind-password-file: %v", err)
		}
		cfg.BindPassword = strings.TrimRight(string(b), "\r\n")
	}
	if usersFile == "" {
		bad("-users is required")
	} else {
		users, err := readUsers(usersFile)
		if err != nil {
			bad("-users: %v", err)
		}
		cfg.Users = users
	}
	if len(probs) > 0 {
		return usageError{"ldap: invalid flags:\n  " + strings.Join(probs, "\n  ")}
	}
	return nil
}

// dialService connects and binds as the service account.
func dialService(cfg ldapLoadConfig) (*ldap.Conn, error) {
	c, err := ldap.DialURL(cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: cfg.Timeout}))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(cfg.Timeout)
	if cfg.BindDN != "" {
		if err := c.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
			c.Close()
			return nil, fmt.Errorf("bind as %s: %w", cfg.BindDN, err)
		}
	}
	return c, nil
}

// findDN searches for the one entry of name.
func findDN(c *ldap.Conn, cfg ldapLoadConfig, name string) (string, error) {
	filter := strings.Replace(cfg.Filter, "%s", ldap.EscapeFilter(name), 1)
	res, err := c.Search(ldap.NewSearchRequest(cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, filter, []string{"uid", "memberOf"}, nil))
	if err != nil {
		return "", err
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("user %q: %d entries", name, len(res.Entries))
	}
	return res.Entries[0].DN, nil
}

// resolveDNs looks every user up once, before a bind-only run.
func resolveDNs(ctx context.Context, cfg ldapLoadConfig) ([]string, error) {
	c, err := dialService(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dns := make([]string, len(cfg.Users))
	for i, u := range cfg.Users {
		if ctx.Err() != nil {
			return nil, errInterrupted
		}
		if dns[i], err = findDN(c, cfg, u.Name); err != nil {
			return nil, err
		}
	}
	return dns, nil
}

// runLDAPLoad runs the workers through warm-up and the measured phase and
// measures CPU as runLoad does.
func runLDAPLoad(ctx context.Context, cfg ldapLoadConfig) (loadResult, error) {
	type conns struct{ search, bind *ldap.Conn }
	all := make([]conns, cfg.Concurrency)
	defer func() {
		for _, c := range all {
			for _, x := range []*ldap.Conn{c.search, c.bind} {
				if x != nil {
					x.Close()
				}
			}
		}
	}()
	for i := range all {
		var err error
		if cfg.Mode == ldapModeSearchBind {
			if all[i].search, err = dialService(cfg); err != nil {
				return loadResult{}, err
			}
		}
		if all[i].bind, err = ldap.DialURL(cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: cfg.Timeout})); err != nil {
			return loadResult{}, err
		}
		all[i].bind.SetTimeout(cfg.Timeout)
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range all {
			for _, x := range []*ldap.Conn{c.search, c.bind} {
				if x != nil {
					x.Close()
				}
			}
		}
	})
	defer stop()

	ph := phase{Concurrency: cfg.Concurrency, Warmup: cfg.Warmup, Duration: cfg.Duration, ServerPID: cfg.ServerPID}
	return ph.run(ctx, func(i int, measureStart, end time.Time) (tally, error) {
		return ldapWorker(ctx, cfg, i, all[i].search, all[i].bind, measureStart, end)
	})
}

// ldapWorker checks passwords back to back until end. A bind that succeeds
// is an accept, invalid credentials a reject; a timeout is counted, and any
// other failure (a lost connection) ends the run with an error, since the
// figures would no longer mean anything.
func ldapWorker(ctx context.Context, cfg ldapLoadConfig, i int, search, bind *ldap.Conn, measureStart, end time.Time) (tally, error) {
	var t tally
	n := len(cfg.Users)
	next := i % n
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		measuring := !now.Before(measureStart)
		u := cfg.Users[next]
		var dn string
		if cfg.DNs != nil {
			dn = cfg.DNs[next]
		}
		// Step by the worker count so that workers take disjoint users.
		next = (next + cfg.Concurrency) % n
		var err error
		if search != nil {
			dn, err = findDN(search, cfg, u.Name)
		}
		if err == nil {
			err = bind.Bind(dn, u.Password)
		}
		rtt := time.Since(now)
		if ctx.Err() != nil {
			break
		}
		if !measuring {
			if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return t, err
			}
			continue
		}
		t.Requests++
		t.Logins++
		switch {
		case err == nil:
			t.Accepts++
			t.latency.record(rtt)
		case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
			t.Rejects++
			t.latency.record(rtt)
		case ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && rtt >= cfg.Timeout:
			t.Timeouts++
		default:
			return t, fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	return t, nil
}
