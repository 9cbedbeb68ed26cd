package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"twostep/notify"
)

func TestVAPIDKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vapid.key")
	out := mustCtl(t, "", "vapid-key", "-out", path)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	key, err := notify.DecodeVAPIDPrivateKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := notify.EncodeVAPIDPublicKey(&key.PublicKey)
	if !strings.Contains(out, pub) {
		t.Errorf("output does not show the public key %s:\n%s", pub, out)
	}
	if _, _, err := ctl(t, "", "vapid-key", "-out", path); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Errorf("second run: %v, want a refusal to overwrite", err)
	}
}
