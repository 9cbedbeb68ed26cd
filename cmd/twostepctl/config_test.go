package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsersFileFromConfig: without -users, the users file comes from the
// configuration's directory.file.path, whose client secrets twostepctl
// neither needs nor resolves.
func TestUsersFileFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostep.yaml")
	os.WriteFile(cfg, []byte(`clients:
  - {name: nas, networks: [10.0.0.1], secret_env: A_VARIABLE_THE_ADMIN_SHELL_LACKS}
directory:
  backend: file
  file: {path: people.yaml}
`), 0o600)
	mustCtl(t, "pw-one\n", "user", "add", "-config", cfg, "-scheme", "ssha512", "erin")
	b, err := os.ReadFile(filepath.Join(dir, "people.yaml"))
	if err != nil || !strings.Contains(string(b), "erin:") {
		t.Fatalf("people.yaml: %v\n%s", err, b)
	}
	if out := mustCtl(t, "", "user", "list", "-config", cfg); !strings.Contains(out, "erin") {
		t.Errorf("list through -config: got %q, want erin", out)
	}

	_, _, err = ctl(t, "", "user", "list", "-config", filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "pass -users FILE") {
		t.Errorf("missing config: got %v, want advice to pass -users", err)
	}
}
