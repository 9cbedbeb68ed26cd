package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
)

// TestCheckSummary: -check prints what would run, every value filled in:
// the etcd prefix (its default too), the push listener and each client's
// wait.
func TestCheckSummary(t *testing.T) {
	dir := t.TempDir()
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"seed.key": string(key), "users.yaml": string(demoUsers(t))}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const head = `clients:
  - {name: vpn, networks: [10.0.0.1], secret: s3cret-s3cret-s3cret}
  - {name: slow, networks: [10.0.0.2], secret: s3cret-s3cret-s3cret, nas_timeout: 30s, nas_retries: 1, mode: challenge}
directory: {backend: file, file: {path: users.yaml}}
`
	tests := []struct {
		name, cfg string
		want      []string
	}{
		{"external etcd, push", head + `cluster:
  endpoints: ["http://127.0.0.1:1"]
  seed_keys: seed.key
push:
  listen: 127.0.0.1:8443
  limit: {count: 5, window: 10m}
`, []string{
			"  client vpn: [10.0.0.1/32], Message-Authenticator required: true, on error: reject, second factor: auto mode, failmode secure, waits 13.5s for a push or the store (the NAS: 5s × 3 tries)\n",
			"  client slow: [10.0.0.2/32], Message-Authenticator required: true, on error: reject, second factor: challenge mode, failmode secure, waits 54s for a push or the store (the NAS: 30s × 2 tries)\n",
			"  cluster: etcd [http://127.0.0.1:1], prefix /twostep/\n",
			"  push: approval API listening on http://127.0.0.1:8443, devices answer at [http://127.0.0.1:8443]; a push is open 1m0s, at most 5 per user per 10m0s; 600 answers per minute per address; Web Push: off (webhooks only)\n",
			"  history: every answer recorded in the cluster, kept 720h0m0s, at most 200 per user, rejects end with the reference\n",
			"  syslog: off (no history.syslog.address)\n",
		}},
		{"embedded etcd, push off", head + `cluster:
  embedded: {data_dir: etcd, start_timeout: 2m}
  prefix: /vpn/
  seed_keys: seed.key
  node_name: vpn1
history:
  enabled: false
  syslog: {network: udp, address: "siem.example:514", facility: local3}
`, []string{
			"  cluster: embedded etcd, data " + filepath.Join(dir, "etcd") + ", clients at http://127.0.0.1:2379, peers at http://127.0.0.1:2380, prefix /vpn/, ready within 2m0s or the start fails\n",
			"  push: off (no push.listen)\n",
			"  history: off\n",
			"  syslog: this node's login records, and the cluster's audit trail from the node holding the claim, to udp://siem.example:514 (RFC 5424, facility local3, app twostep, host vpn1)\n",
			"  warning: history.syslog: network udp sends login records and audit events (user names, where they log in from) to siem.example:514 in clear; use network: tls\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "twostep.yaml")
			if err := os.WriteFile(path, []byte(tt.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			if err := run(context.Background(), []string{"-config", path, "-check"}, &out, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("-check output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestConfigFromEnvironment: without -config, twostepd reads the file
// TWOSTEP_CONFIG names; -config wins over it.
func TestConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	good := writeConfig(t, dir, defaultClients())
	missing := filepath.Join(dir, "missing.yaml")
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"environment", good, []string{"-check"}, good + ": OK"},
		{"-config wins", missing, []string{"-config", good, "-check"}, good + ": OK"},
		{"the environment's file is read", missing, []string{"-check"}, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(daemonBin, tt.args...)
			cmd.Env = append(os.Environ(), "TWOSTEP_CONFIG="+tt.env)
			out, _ := cmd.CombinedOutput()
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("got:\n%s\nwant it to contain %q", out, tt.want)
			}
		})
	}
}
