package ldaptest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// installCommand is what a non-root user is told to run.
const installCommand = "sudo apt-get install -y slapd ldap-utils"

// slapd lives in /usr/sbin, which is not on every PATH.
func slapdPath() string { return findTool("slapd") }

func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

func installed() bool {
	for _, tool := range []string{"slapd", "slapadd"} {
		if _, err := os.Stat(findTool(tool)); err != nil {
			return false
		}
	}
	return true
}

// installOnce makes concurrent tests in one binary install once. Processes
// (packages tested in parallel) are serialised by dpkg's own lock, which
// apt-get waits for.
var installOnce = sync.OnceValue(install)

// ensureInstalled installs slapd and ldap-utils when they are missing and
// the test runs as root; otherwise it fails the test with the command to
// run.
func ensureInstalled(t testing.TB) {
	t.Helper()
	if installed() {
		return
	}
	if os.Geteuid() != 0 {
		t.Fatalf("ldaptest: slapd is not installed; run: %s", installCommand)
	}
	if err := installOnce(); err != nil {
		t.Fatalf("ldaptest: installing slapd: %v (to do by hand: %s)", err, installCommand)
	}
}

// install runs apt-get with a policy-rc.d that forbids starting services,
// so the package's own slapd never starts and never listens on 389. An
// existing policy-rc.d is left alone (Debian's container images ship one
// that already says no).
func install() error {
	const policy = "/usr/sbin/policy-rc.d"
	if _, err := os.Stat(policy); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(policy, []byte("#!/bin/sh\n# ldaptest: no service starts while it installs slapd\nexit 101\n"), 0o755); err != nil {
			return err
		}
		defer os.Remove(policy)
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	args := []string{"install", "-y", "-q", "--no-install-recommends", "slapd", "ldap-utils"}
	if _, err := run(args...); err != nil {
		// The package lists may be missing or stale.
		if out, err := run("update", "-q"); err != nil {
			return errors.New("apt-get update: " + err.Error() + "\n" + string(out))
		}
		if out, err := run(args...); err != nil {
			return errors.New("apt-get install: " + err.Error() + "\n" + string(out))
		}
	}
	// If a policy-rc.d was not honoured, stop the system slapd anyway.
	_ = exec.Command("service", "slapd", "stop").Run()
	if !installed() {
		return errors.New("slapd still missing after apt-get install")
	}
	return nil
}
