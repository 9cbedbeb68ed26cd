package ldaptest

import (
	"os"
	"os/exec"
	"path/filepath"
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

// ensureInstalled fails the test with the command to run when slapd is
// missing: installing is `make peers`'s (scripts/test-peers.sh), never a
// test's.
func ensureInstalled(t testing.TB) {
	t.Helper()
	if !installed() {
		t.Fatalf("ldaptest: slapd is not installed; run `make peers` as root, or: %s", installCommand)
	}
}
