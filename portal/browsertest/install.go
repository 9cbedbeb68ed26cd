package browsertest

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// installCommand is what a person runs to get the browser; Start tells it
// when it cannot run it itself.
const installCommand = "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core"

// installTimeout bounds the whole install: the package and its
// dependencies are a few hundred megabytes.
const installTimeout = 10 * time.Minute

// ensureChromium makes sure ChromiumPath exists, installing Debian's
// package when it is missing and we are root.
func ensureChromium(t testing.TB) {
	t.Helper()
	if isExecutable(ChromiumPath) {
		return
	}
	if os.Geteuid() != 0 {
		t.Fatalf("browsertest: %s is missing and the test does not run as root to install it; run:\n\t%s", ChromiumPath, installCommand)
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	// The lock timeout lets concurrent test binaries (go test ./... runs
	// packages in parallel) wait for each other instead of failing.
	install := []string{"apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"}
	t.Logf("browsertest: %s is missing; installing it", ChromiumPath)
	if err := runLogged(ctx, t, install...); err != nil {
		// A fresh machine has no package lists yet, or stale ones.
		t.Logf("browsertest: install failed (%v); updating the package lists and trying again", err)
		if err := runLogged(ctx, t, "apt-get", "-o", "DPkg::Lock::Timeout=600", "update"); err != nil {
			t.Logf("browsertest: apt-get update: %v", err)
		}
		if err := runLogged(ctx, t, install...); err != nil {
			t.Logf("browsertest: apt-get install: %v", err)
		}
	}
	if !isExecutable(ChromiumPath) {
		t.Fatalf("browsertest: %s is still missing after apt-get; run:\n\t%s", ChromiumPath, installCommand)
	}
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runLogged runs a command with its output going to t.Log line by line, so
// a slow install shows progress in go test -v.
func runLogged(ctx context.Context, t testing.TB, args ...string) error {
	t.Helper()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				t.Log(args[0] + ": " + line)
			}
		}
		io.Copy(io.Discard, pr) // a too-long line must not block the command
	})
	t.Logf("browsertest: running %s", strings.Join(args, " "))
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	return err
}
