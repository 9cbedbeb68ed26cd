package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/cmd/twostep-bench/internal/peer"
)

// runSuite is "twostep-bench run" (make bench): every scenario, from the
// servers' configurations to the Markdown sections of docs/BENCHMARKS.md.
// scripts/bench.sh only installs what -missing lists, then calls it.
func runSuite(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) error {
	cfg, err := parseSuiteFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	missing := peer.Missing(cfg.needs()...)
	if cfg.Missing {
		for _, p := range missing {
			fmt.Fprintln(stdout, p)
		}
		return nil
	}
	if len(missing) > 0 {
		return fmt.Errorf("run: missing %s; install as root with: apt-get install -y --no-install-recommends %[1]s (make bench does)", strings.Join(missing, " "))
	}
	s, err := newSuite(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	err = s.run(ctx)
	s.close(err)
	return err
}

// needs are the Debian packages the chosen scenarios use.
func (c suiteConfig) needs() []peer.Need {
	var n []peer.Need
	if c.wants("file") || c.wants("ldap") {
		n = append(n, peer.NeedFreeRADIUS, peer.NeedRadclient)
	}
	if c.wants("ldap") {
		n = append(n, peer.NeedFreeRADIUSLDAP)
	}
	if c.wants("ldap") || c.wants("2fa") || c.wants("history") {
		n = append(n, peer.NeedSlapd)
	}
	if c.wants("2fa") || c.wants("history") || c.wants("push") || c.wants("portal") {
		n = append(n, peer.NeedEtcd)
	}
	return n
}

// suite is one run of the scenarios: its temp dir, the servers it
// started, and what every table's settings lines say.
type suite struct {
	cfg            suiteConfig
	stdout, stderr io.Writer
	dir            string // the temp dir: configs, users, logs, results
	benchBin       string // copies of the binaries, so that a build
	twostepdBin    string // elsewhere cannot mix two versions in one table
	frBin          string
	ports          peer.Ports
	secret         string // every RADIUS client's
	keys           *cluster.Keyring

	procs []*peer.Proc // every process started, stopped at close
	slapd *peer.Slapd  // started by the first scenario that needs it
	etcd  *peer.Etcd
	// enrolled: the 2fa users have their devices (the 2fa and history
	// scenarios share them).
	enrolled bool

	versions  versions
	idleBusy  float64 // cores busy with other work before the runs
	unwritten bool    // a section was not written (failures, disturbance)
}

// versions are what the settings lines name.
type versions struct {
	freeRADIUS, twostepd, goVersion, slapd, etcd string
}

// Users generated for the scenarios, under dir (bench-users.txt etc.).
const (
	twoFADir      = "2fa"
	ceilingPrefix = "/twostep-ceiling/"
	ldapFilter    = "(&(objectClass=inetOrgPerson)(uid=%s))"
)

// newSuite makes the temp dir, copies the binaries into it, and writes
// the users, the secret and the seed key every scenario shares.
func newSuite(ctx context.Context, cfg suiteConfig, stdout, stderr io.Writer) (_ *suite, err error) {
	s := &suite{cfg: cfg, stdout: stdout, stderr: stderr}
	if cfg.Out != "-" {
		// Found missing at the end, it would cost the runs.
		if _, err := os.Stat(filepath.Dir(cfg.Out)); err != nil {
			return nil, fmt.Errorf("run: -out %s: %w", cfg.Out, err)
		}
	}
	if s.dir, err = os.MkdirTemp("", "twostep-bench."); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close(err)
		}
	}()
	if err := os.Mkdir(s.path("results"), 0o700); err != nil {
		return nil, err
	}
	if err := s.copyBinaries(); err != nil {
		return nil, err
	}
	if err := s.findVersions(); err != nil {
		return nil, err
	}
	if err := s.writeSecrets(); err != nil {
		return nil, err
	}
	if err := s.writeUsers(); err != nil {
		return nil, err
	}
	s.sampleIdle(ctx)
	return s, nil
}

// copyBinaries copies this program and twostepd into dir/bin.
func (s *suite) copyBinaries() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bin := filepath.Join(s.dir, "bin")
	if err := os.Mkdir(bin, 0o700); err != nil {
		return err
	}
	for _, c := range []struct{ from, to string }{
		{self, "twostep-bench"},
		{filepath.Join(s.cfg.Bin, "twostepd"), "twostepd"},
	} {
		b, err := os.ReadFile(c.from)
		if err != nil {
			return fmt.Errorf("run: %w (make build)", err)
		}
		if err := os.WriteFile(filepath.Join(bin, c.to), b, 0o700); err != nil {
			return err
		}
	}
	s.benchBin, s.twostepdBin = filepath.Join(bin, "twostep-bench"), filepath.Join(bin, "twostepd")
	return nil
}

func (s *suite) findVersions() error {
	s.versions.twostepd = peer.TwostepdVersion(s.twostepdBin)
	s.versions.goVersion = goVersionOf(s.twostepdBin)
	if s.cfg.wants("file") || s.cfg.wants("ldap") {
		var err error
		if s.frBin, err = peer.Find("freeradius"); err != nil {
			return err
		}
		if s.versions.freeRADIUS, err = peer.FreeRADIUSVersion(s.frBin); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	if s.cfg.wants("ldap") || s.cfg.wants("2fa") || s.cfg.wants("history") {
		s.versions.slapd = peer.SlapdVersion()
	}
	if s.cfg.wants("2fa") || s.cfg.wants("history") || s.cfg.wants("push") || s.cfg.wants("portal") {
		s.versions.etcd = peer.EtcdVersion()
	}
	return nil
}

// writeSecrets makes the RADIUS secret and the seed key file every
// twostepd reads (cluster.seed_keys), even when nobody has a device.
func (s *suite) writeSecrets() error {
	b := make([]byte, 12)
	rand.Read(b)
	s.secret = "bench-" + hex.EncodeToString(b) // 30 characters
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		return err
	}
	if s.keys, err = cluster.ParseKeyring(key); err != nil {
		return err
	}
	return os.WriteFile(s.path("seed.key"), key, 0o600)
}

// writeUsers writes the users of the file and ldap scenarios into dir and
// the 2fa and history scenarios' (mfa...) into dir/2fa.
func (s *suite) writeUsers() error {
	base := "ou=people," + peer.SlapdBase
	if err := writeUserFiles(userSet{Dir: s.dir, N: s.cfg.Users, Prefix: "user", Group: "vpn-users", LDAPBase: base}); err != nil {
		return err
	}
	if !s.cfg.wants("2fa") && !s.cfg.wants("history") {
		return nil
	}
	if err := os.Mkdir(s.path(twoFADir), 0o700); err != nil {
		return err
	}
	return writeUserFiles(userSet{Dir: s.path(twoFADir), N: s.cfg.TwoFAUsers, Prefix: "mfa", Group: "vpn-users", LDAPBase: base})
}

// sampleIdle measures the CPU other work takes before the runs (each run
// measures it too, in the other cores column).
func (s *suite) sampleIdle(ctx context.Context) {
	b0, err0 := systemCPUBusy()
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
	}
	b1, err1 := systemCPUBusy()
	if err0 == nil && err1 == nil {
		s.idleBusy = (b1 - b0).Seconds() / 2
	}
	if s.idleBusy > busyOther {
		s.say("other work takes %.2f cores before the runs: figures may be disturbed", s.idleBusy)
	}
}

// run runs the chosen scenarios in their order.
func (s *suite) run(ctx context.Context) error {
	scenarios := []struct {
		name string
		run  func(context.Context) error
	}{
		{"file", s.fileScenario},
		{"ldap", s.ldapScenario},
		{"2fa", s.twoFAScenario},
		{"history", s.historyScenario},
		{"push", s.pushScenario},
		{"portal", s.portalScenario},
	}
	for _, sc := range scenarios {
		if !s.cfg.wants(sc.name) {
			continue
		}
		if err := sc.run(ctx); err != nil {
			return err
		}
	}
	if s.unwritten {
		return errors.New("some results were not written (see above)")
	}
	return nil
}

// close stops every server, shows the end of their logs after a failure,
// and removes the temp dir unless -keep.
func (s *suite) close(err error) {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Stop()
	}
	if s.slapd != nil {
		s.slapd.Stop()
	}
	if s.etcd != nil {
		s.etcd.Stop()
	}
	if err != nil {
		s.showLogs()
	}
	if s.cfg.Keep {
		s.say("kept %s", s.dir)
		return
	}
	os.RemoveAll(s.dir)
}

// showLogs prints the last lines of every log of the run.
func (s *suite) showLogs() {
	logs, _ := filepath.Glob(s.path("*.log"))
	more, _ := filepath.Glob(s.path("*", "*.log"))
	for _, f := range append(logs, more...) {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		fmt.Fprintf(s.stderr, "--- last lines of %s\n%s\n", strings.TrimPrefix(f, s.dir+"/"), strings.Join(lines[max(len(lines)-15, 0):], "\n"))
	}
}

// own records a process to stop at close.
func (s *suite) own(p *peer.Proc) *peer.Proc {
	s.procs = append(s.procs, p)
	return p
}

// path is a file of the temp dir.
func (s *suite) path(elem ...string) string {
	return filepath.Join(append([]string{s.dir}, elem...)...)
}

// addr is 127.0.0.1:port.
func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }

// say prints a progress line.
func (s *suite) say(format string, args ...any) {
	fmt.Fprintf(s.stderr, "==> "+format+"\n", args...)
}

// bench runs this program's copy with args (a generator run, a smoke
// test, a scenario of its own), its output to stdout and stderr. Ctrl-C
// reaches it from the terminal; a cancelled ctx interrupts it too.
func (s *suite) bench(ctx context.Context, stdout, stderr io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, s.benchBin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}

// commandStatus is a finished command's exit status (-1 when it did
// not run).
func commandStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
