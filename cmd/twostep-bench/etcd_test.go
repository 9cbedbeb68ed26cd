package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdtest"
)

// TestEnrollAndStoreCeiling enrolls devices in a real (embedded) etcd,
// then runs the store ceiling on the copy: the devices the RADIUS load
// would use stay untouched.
func TestEnrollAndStoreCeiling(t *testing.T) {
	srv := etcdtest.Start(t)
	ep := strings.Join(srv.Endpoints(), ",")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "seed.key")
	key, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	users := writeUsers(t, "alice:a\nbob:b\ncarol:c\n")
	devFile := filepath.Join(dir, "devices.txt")

	var stdout, stderr bytes.Buffer
	err = run(t.Context(), []string{"enroll", "-endpoints", ep, "-seed-keys", keyFile, "-users", users,
		"-devices", "2", "-out", devFile, "-mirror-prefix", "/ceiling/", "-concurrency", "2"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("enroll: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "enroll: 6/6 devices") {
		t.Errorf("progress %q lacks the final count", stderr.String())
	}
	us, err := readUsers(users)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := readDevices(devFile, us)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := newPairs(devs); err != nil || p.size() != 6 {
		t.Fatalf("devices file: %v, want 3 users x 2", err)
	}
	if fi, err := os.Stat(devFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("devices file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if err := run(t.Context(), []string{"enroll", "-endpoints", ep, "-seed-keys", keyFile, "-users", users, "-out", devFile},
		&bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second enroll into the same -out: got %v, want a refusal", err)
	}

	keys, err := cluster.LoadKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	main := srv.Open(t)
	for _, ops := range []string{etcdOpsAppend, etcdOpsChallenge} {
		t.Run(ops, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"etcd", "-endpoints", ep, "-prefix", "/ceiling/", "-seed-keys", keyFile,
				"-users", users, "-ops", ops, "-concurrency", "2", "-warmup", "0s", "-duration", "300ms", "-label", "etcd-" + ops, "-json"}, &out, &errOut)
			if err != nil {
				t.Fatalf("etcd: %v\n%s", err, errOut.String())
			}
			var r report
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if x := r.Results; x.Logins == 0 || x.Accepts != x.Logins || x.Timeouts != 0 {
				t.Errorf("got %+v, want only successful logins", x)
			}
			if r.Settings.Protocol != "etcd "+ops || r.Settings.Users != 3 {
				t.Errorf("settings %+v", r.Settings)
			}
		})
	}
	// The copy was spent; the cluster's own records were not.
	for _, u := range us {
		acct, err := cluster.NewAccounts(main, keys).Load(t.Context(), u.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(acct.Devices) != 2 || len(acct.Used) != 0 {
			t.Errorf("%s: %d devices, %d used steps; want 2 devices never used", u.Name, len(acct.Devices), len(acct.Used))
		}
	}
}

func TestEnrollAndEtcdFlagErrors(t *testing.T) {
	users := writeUsers(t, "alice:a\n")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"enroll to a remote etcd", []string{"enroll", "-endpoints", "http://192.0.2.1:2379", "-seed-keys", "k", "-users", users, "-out", "o"},
			[]string{"LOOPBACK", "-seed-keys"}},
		{"enroll without anything", []string{"enroll", "-devices", "0"}, []string{"-endpoints is required", "-devices 0", "-out is required", "-users is required"}},
		{"ceiling on the cluster's own records", []string{"etcd", "-endpoints", "http://127.0.0.1:1", "-prefix", "/twostep/", "-ops", "push"},
			[]string{"not the cluster's own", "-ops \"push\""}},
		{"passcode load without devices", []string{"-secret", "s", "-users", users, "-login", "append"}, []string{"-devices goes with"}},
		{"unknown login", []string{"-secret", "s", "-users", users, "-login", "push"}, []string{"-login \"push\""}},
		{"source not loopback", []string{"-secret", "s", "-users", users, "-source", "192.0.2.1"}, []string{"-source"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil {
				t.Fatal("got no error")
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code %d, want 2 (%v)", code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
