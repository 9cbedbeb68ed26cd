package main

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
)

// TestRekey rotates the seed key: a new key first in the file, rekey, and
// the old key can go while the devices still open.
func TestRekey(t *testing.T) {
	tc := newTestCluster(t)
	mustCtl(t, "", "-config", tc.config, "enroll", "-confirm=false", "alice")
	keyPath := filepath.Join(filepath.Dir(tc.config), "seed.key")
	old, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := cluster.NewKeyFile(rand.Reader, time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(fresh)), "\n")
	newLine := lines[len(lines)-1]
	if err := os.WriteFile(keyPath, []byte(newLine+"\n"+string(old)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCtl(t, "", "-config", tc.config, "rekey")
	if !strings.Contains(out, "re-sealed 1 seeds") {
		t.Fatalf("rekey: %s", out)
	}
	if err := os.WriteFile(keyPath, []byte(newLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := mustCtl(t, "", "-config", tc.config, "devices", "alice"); !strings.Contains(out, "authenticator") {
		t.Errorf("devices after the old key left: %s", out)
	}
	if out := mustCtl(t, "", "-config", tc.config, "rekey"); !strings.Contains(out, "re-sealed 0 seeds") {
		t.Errorf("a second rekey: %s", out)
	}
	if out := mustCtl(t, "", "-config", tc.config, "audit"); !strings.Contains(out, "keys.rekey") {
		t.Errorf("audit: %s", out)
	}
}
