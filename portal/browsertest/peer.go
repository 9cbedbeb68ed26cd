package browsertest

import (
	"os"
	"testing"
)

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// installCommand is what a person runs to get the browser; installing is
// `make peers`'s (scripts/test-peers.sh), never a test's.
const installCommand = "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core"

// ensureChromium fails the test with the command to run when
// ChromiumPath is missing.
func ensureChromium(t testing.TB) {
	t.Helper()
	if !isExecutable(ChromiumPath) {
		t.Fatalf("browsertest: %s is missing; run `make peers` as root, or:\n\t%s", ChromiumPath, installCommand)
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
