package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"twostep/cluster/etcdstore"
	"twostep/configs"
	"twostep/directory"
)

const doctorUsage = `Usage: twostepctl doctor [-config FILE] [-json] [-timeout 5s] [-user NAME]

Check the set-up end to end, as twostepd will use it, and report one line
per check as it completes: ok, warn or FAIL, the check's name, what was
found, and for warn and FAIL what to do (a command or the configuration
key to change). Run it after every change: of the configuration, the
directory, the etcd cluster, the key files, the certificates.

  config                        the configuration file (every problem, at its line)
  directory                     the users file (backend file), or for each LDAP server:
  directory.connect URL         a TCP connection
  directory.tls URL             TLS and the server's certificate, checked
  directory.bind URL            the bind as the service account
  directory.search URL          the base entry read and a search with user_filter
  directory.groups URL          a group search (the user's groups with -user)
  cluster.connect               etcd answers a linearizable read with the credentials
  cluster.member NAME           each member: reachable, its version, alarms
  cluster.leader                the members agree on a leader
  cluster.clock NAME            this machine's clock beside each member's
  cluster.auth                  etcd authentication on when a username is configured
  cluster.readwrite             a key under the prefix written, read and deleted
  cluster.isolation             a read outside the prefix refused (authentication on)
  seeds.keyfile                 the seed key file loads
  seeds                         every stored device and token seed opens with it
  push                          push approval off, or:
  push.vapid                    the Web Push (VAPID) key parses and matches its public key
  push.url URL                  each node in push.urls answers as the approval API
  client.secret NAME            each client's shared secret: 16 characters or more
  client.message_authenticator NAME   each client's require_message_authenticator

Checks that wait on the network take at most -timeout each (connecting
to etcd at most cluster.dial_timeout, as twostepd's start). -user looks a
user up in the directory, with the groups, as a login would.

-json prints a JSON array of objects, one per check, as they complete:
  check   the check's name, as above
  status  "ok", "warn" or "FAIL"
  detail  what was found
  fix     what to do ("" for ok)

Exit status: 0 when no check FAILs (warnings included), 1 otherwise.

Examples:
  twostepctl doctor
  twostepctl doctor -config /etc/twostep/twostep.yaml -user alice
  twostepctl doctor -json | jq '.[] | select(.status != "ok")'

Flags:
`

// Statuses of a finding.
const (
	statusOK   = "ok"
	statusWarn = "warn"
	statusFail = "FAIL"
)

// finding is one line of the doctor's report; -json prints these.
type finding struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// doctor runs the checks of one `twostepctl doctor` and prints each
// finding as it comes.
type doctor struct {
	c       *cli
	path    string
	timeout time.Duration
	user    string
	json    bool
	// cfg is the configuration the checks read; nil when it could not
	// be read. secretsUnread is set when only the tools' reading worked:
	// the clients' secrets were not all resolved.
	cfg           *configs.Config
	secretsUnread bool
	// store is the etcd cluster when it answered, for the seeds and the
	// clients' records.
	store *etcdstore.Store

	printed, fails, warns int
}

func (c *cli) doctor(ctx context.Context, args []string) error {
	f := c.storeFlags("doctor", doctorUsage)
	asJSON := f.fs.Bool("json", false, "print a JSON array of {check, status, detail, fix}")
	timeout := f.fs.Duration("timeout", opTimeout, "the most each check that waits on the network takes")
	user := f.fs.String("user", "", "look this `user` up in the directory, with the groups")
	if _, err := c.parseArgs(f, args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("twostepctl doctor: -timeout must be positive; got %v", *timeout)
	}
	d := &doctor{c: c, path: *f.config, timeout: *timeout, user: *user, json: *asJSON}
	d.run(ctx)
	d.end()
	if d.fails > 0 {
		return fmt.Errorf("doctor: %s FAILed, %s", count(d.fails, "check", "checks"), count(d.warns, "warning", "warnings"))
	}
	return nil
}

// run runs every check, in the order of the usage.
func (d *doctor) run(ctx context.Context) {
	if !d.config() {
		return
	}
	d.directory(ctx)
	d.cluster(ctx)
	if d.store != nil {
		defer d.store.Close()
	}
	d.seeds(ctx)
	d.push(ctx)
	d.clients(ctx)
}

// report prints one finding, at once: a run that waits on a dead server
// shows what it has found so far.
func (d *doctor) report(f finding) {
	f.Detail = oneLine(f.Detail)
	f.Fix = oneLine(f.Fix)
	switch f.Status {
	case statusFail:
		d.fails++
	case statusWarn:
		d.warns++
	}
	w := d.c.stdout
	if d.json {
		b, err := json.Marshal(f)
		if err != nil { // strings only: cannot fail
			panic(err)
		}
		sep := ",\n"
		if d.printed == 0 {
			sep = "[\n"
		}
		fmt.Fprintf(w, "%s  %s", sep, b)
	} else {
		line := fmt.Sprintf("%-4s  %s: %s", f.Status, f.Check, f.Detail)
		if f.Fix != "" {
			line += "; fix: " + f.Fix
		}
		fmt.Fprintln(w, line)
	}
	d.printed++
}

// end closes the JSON array.
func (d *doctor) end() {
	if !d.json {
		return
	}
	if d.printed == 0 {
		fmt.Fprint(d.c.stdout, "[")
	}
	fmt.Fprint(d.c.stdout, "\n]\n")
}

func (d *doctor) ok(check, detail string) {
	d.report(finding{Check: check, Status: statusOK, Detail: detail})
}

func (d *doctor) warn(check, detail, fix string) {
	d.report(finding{Check: check, Status: statusWarn, Detail: detail, Fix: fix})
}

func (d *doctor) fail(check, detail, fix string) {
	d.report(finding{Check: check, Status: statusFail, Detail: detail, Fix: fix})
}

// oneLine keeps a finding on its line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// command renders a twostepctl command line with this run's -config.
func (d *doctor) command(args ...string) string {
	return d.c.command(d.path, args...)
}

// config reads the configuration as twostepd does, the clients' secrets
// included, and reports whether the other checks can run: when only the
// secrets fail, they run on the tools' reading.
func (d *doctor) config() bool {
	const check = "config"
	checkCmd := fmt.Sprintf("correct the file; `twostepd -config %s -check` lists every problem", shellQuote(d.path))
	cfg, err := configs.Load(d.path)
	if err != nil {
		var ce *configs.Error
		if !errors.As(err, &ce) {
			d.fail(check, err.Error(), "pass -config FILE, the file twostepd reads; run twostepctl as twostepd's user")
			return false
		}
		for _, p := range ce.Problems {
			where := ce.File
			if p.Line > 0 {
				where = fmt.Sprintf("%s:%d", where, p.Line)
			}
			if p.Field != "" {
				where += ": " + p.Field
			}
			d.fail(check, where+": "+p.Message, checkCmd)
		}
		// Secrets a shell lacks (secret_env) fail Load but not the tools'
		// reading; the other checks still tell something.
		if cfg, err = configs.LoadForTools(d.path); err != nil {
			return false
		}
		d.secretsUnread = true
	}
	d.cfg = cfg
	if !d.secretsUnread {
		d.ok(check, fmt.Sprintf("%s: %s", d.path, describeConfig(cfg)))
	}
	return true
}

// describeConfig sums up what cfg runs, for the config line.
func describeConfig(cfg *configs.Config) string {
	parts := []string{count(len(cfg.Clients), "client", "clients")}
	switch cfg.Directory.Backend {
	case directory.BackendLDAP:
		parts = append(parts, fmt.Sprintf("directory ldap (%s)", count(len(cfg.Directory.LDAP.URLs), "server", "servers")))
	default:
		parts = append(parts, "directory file")
	}
	if cfg.Cluster.UsesEmbedded() {
		parts = append(parts, "embedded etcd at "+cfg.Cluster.Embedded.ClientURL)
	} else {
		parts = append(parts, fmt.Sprintf("etcd cluster (%s)", count(len(cfg.Cluster.Etcd.Endpoints), "endpoint", "endpoints")))
	}
	if cfg.Push.Enabled() {
		parts = append(parts, "push on")
	} else {
		parts = append(parts, "push off")
	}
	if cfg.Portal.Enabled() {
		parts = append(parts, "portal on")
	}
	return strings.Join(parts, ", ")
}

// within returns the context of one check that waits on the network.
func (d *doctor) within(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}
