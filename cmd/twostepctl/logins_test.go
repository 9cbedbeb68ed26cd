package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/configs"
)

// historyCluster is a test cluster with the login history twostepd
// nodes would have written.
type historyCluster struct {
	*testCluster
	store cluster.Store
	h     *cluster.History
}

func newHistoryCluster(t *testing.T) *historyCluster {
	t.Helper()
	return historyOf(t, newTestCluster(t))
}

// historyOf opens the login history of tc's cluster.
func historyOf(t *testing.T, tc *testCluster) *historyCluster {
	t.Helper()
	cfg, err := configs.LoadForTools(tc.config)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.LoadKeyring(cfg.Cluster.SeedKeys)
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.Open(context.Background(), cfg.Cluster.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &historyCluster{testCluster: tc, store: store, h: cluster.NewHistory(store, keys, 0)}
}

func (hc *historyCluster) write(t *testing.T, recs ...cluster.LoginRecord) {
	t.Helper()
	if err := hc.h.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// loginsJSON runs `logins -json` with args and returns the objects.
func (hc *historyCluster) loginsJSON(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out := mustCtl(t, "", append([]string{"-config", hc.config, "logins", "-json"}, args...)...)
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return got
}

func idsOf(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o["id"].(string))
	}
	return out
}

func TestLogins(t *testing.T) {
	hc := newHistoryCluster(t)
	now := time.Now().UTC()
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	phone := &cluster.LoginDevice{ID: "7f3c0a1b2c3d4e5f", Name: "phone"}
	hc.write(t,
		cluster.LoginRecord{Time: at(3 * time.Minute), ID: "3f9ac21b5d7e", User: "alice", Client: "vpn", NASID: "gw-1", NASAddr: "192.0.2.10",
			From: "198.51.100.7", Factor: "password", Decision: "challenge", Reason: "passcode_requested", Node: "node1"},
		cluster.LoginRecord{Time: at(2 * time.Minute), ID: "3f9ac21b5d7e", User: "alice", TypedUser: "ALICE", Client: "vpn", NASID: "gw-1", NASAddr: "192.0.2.10",
			From: "198.51.100.7", Factor: "totp", Device: phone, Decision: "accept", Reason: "ok", Node: "node2"},
		cluster.LoginRecord{Time: at(time.Minute), ID: "77aa00bb11cc", User: "bob", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "password", Decision: "reject", Reason: "bad_password", Node: "node1"},
		cluster.LoginRecord{Time: at(30 * time.Second), ID: "0123456789ab", TypedUser: "mallory", Client: "vpn", NASAddr: "192.0.2.10",
			Decision: "reject", Reason: "unknown_user", Node: "node2"},
		cluster.LoginRecord{Time: at(48 * time.Hour), ID: "dddd00001111", User: "alice", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "password", Decision: "reject", Reason: "bad_password", Node: "node1"},
	)

	t.Run("a table, newest first", func(t *testing.T) {
		out := mustCtl(t, "", "-config", hc.config, "logins")
		contains(t, out, "TIME", "ID", "USER", "CLIENT", "NAS", "FROM", "FACTOR", "DEVICE", "DECISION", "REASON", "NODE",
			"alice (typed ALICE)", "(typed mallory)", "gw-1 192.0.2.10", "198.51.100.7", "phone", "passcode_requested", "unknown_user")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 5 || !strings.Contains(lines[1], "0123456789ab") || !strings.Contains(lines[4], "passcode_requested") {
			t.Errorf("got:\n%s\nwant the 4 records of the last 24h, newest first", out)
		}
	})
	t.Run("-json has exactly the fields", func(t *testing.T) {
		got := hc.loginsJSON(t, "-limit", "0")
		want := []string{"client", "decision", "device", "factor", "from", "id", "nas_addr", "nas_id", "node", "reason", "time", "typed_user", "user"}
		for _, o := range got {
			var keys []string
			for k := range o {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, want) {
				t.Errorf("fields %v, want %v", keys, want)
			}
		}
		accept := got[2]
		if accept["decision"] != "accept" || accept["typed_user"] != "ALICE" || accept["node"] != "node2" ||
			accept["device"].(map[string]any)["id"] != phone.ID || accept["device"].(map[string]any)["name"] != "phone" {
			t.Errorf("accept: %v", accept)
		}
		if got[0]["device"] != nil || got[0]["user"] != "" || got[0]["typed_user"] != "mallory" {
			t.Errorf("unknown user: %v; want no device, no user, the name as typed", got[0])
		}
		if ts, err := time.Parse(time.RFC3339Nano, got[0]["time"].(string)); err != nil || !ts.Equal(at(30*time.Second)) {
			t.Errorf("time %v (%v), want %v", got[0]["time"], err, at(30*time.Second))
		}
	})
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"a user, as typed or not, without case", []string{"-user", "Alice"}, []string{"3f9ac21b5d7e", "3f9ac21b5d7e"}},
		{"an unknown name as typed", []string{"-user", "MALLORY"}, []string{"0123456789ab"}},
		{"a decision", []string{"-decision", "reject"}, []string{"0123456789ab", "77aa00bb11cc"}},
		{"since", []string{"-since", "90s"}, []string{"0123456789ab", "77aa00bb11cc"}},
		{"since a time", []string{"-since", at(72 * time.Hour).Format("2006-01-02 15:04"), "-user", "alice"}, []string{"3f9ac21b5d7e", "3f9ac21b5d7e", "dddd00001111"}},
		{"a reference as users see it", []string{"-id", "Ref 3f9a-c21b"}, []string{"3f9ac21b5d7e", "3f9ac21b5d7e"}},
		{"a whole id, older than a day", []string{"-id", "dddd00001111"}, []string{"dddd00001111"}},
		{"-id with -since", []string{"-id", "dddd-0000", "-since", "24h"}, nil},
		{"a limit", []string{"-limit", "1"}, []string{"0123456789ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := idsOf(hc.loginsJSON(t, tt.args...)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("nothing", func(t *testing.T) {
		contains(t, mustCtl(t, "", "-config", hc.config, "logins", "-user", "carol"), "no login records of carol since ")
		if out := mustCtl(t, "", "-config", hc.config, "logins", "-json", "-user", "carol"); strings.TrimSpace(out) != "[]" {
			t.Errorf("-json of nothing: %q, want []", out)
		}
	})
	t.Run("the limit is said", func(t *testing.T) {
		_, errOut, err := ctl(t, "", "-config", hc.config, "logins", "-limit", "2")
		if err != nil || !strings.Contains(errOut, "the newest 2 of 4 records; -limit 0 shows all") {
			t.Errorf("stderr %q, %v", errOut, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-decision", "maybe"}, `-decision "maybe": want accept, reject or challenge`},
			{[]string{"-id", "Ref 3f9a"}, "want 8 to 12 hex digits"},
			{[]string{"-since", "yesterday"}, `-since "yesterday": want a duration`},
			{[]string{"-limit", "-1"}, "want 0 (all) or more"},
			{[]string{"alice"}, "takes no arguments"},
		} {
			if _, _, err := ctl(t, "", append([]string{"-config", hc.config, "logins"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
			}
		}
	})
	t.Run("without the seed key file", func(t *testing.T) {
		cfg, err := os.ReadFile(hc.config)
		if err != nil {
			t.Fatal(err)
		}
		other := strings.Replace(hc.config, "twostep.yaml", "nokeys.yaml", 1)
		if err := os.WriteFile(other, bytes.Replace(cfg, []byte("seed_keys: seed.key"), []byte("seed_keys: absent.key"), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := ctl(t, "", "-config", other, "logins", "-user", "bob")
		if err != nil || !strings.Contains(out, "77aa00bb11cc") || !strings.Contains(errOut, "note: records are not checked against the seed key file") {
			t.Errorf("got %v\n%s%s", err, out, errOut)
		}
	})
	t.Run("a record written without the key file", func(t *testing.T) {
		entries, err := hc.store.List(context.Background(), "history/users/bob/")
		if err != nil || len(entries) != 1 {
			t.Fatalf("%v %v", entries, err)
		}
		forged := bytes.Replace(entries[0].Value, []byte(`"decision":"reject"`), []byte(`"decision":"accept"`), 1)
		if _, err := hc.store.Commit(context.Background(), cluster.Txn{Then: []cluster.Op{cluster.Put(entries[0].Key, forged)}}); err != nil {
			t.Fatal(err)
		}
		out, _, err := ctl(t, "", "-config", hc.config, "logins", "-json")
		if err == nil || !strings.Contains(err.Error(), "fail their integrity check") || !strings.Contains(err.Error(), entries[0].Key) {
			t.Errorf("got %v, want an error naming the record", err)
		}
		var got []map[string]any
		if json.Unmarshal([]byte(out), &got) != nil || slices.Contains(idsOf(got), "77aa00bb11cc") || len(got) != 3 {
			t.Errorf("printed %s; want the other records, without the forged one", out)
		}
	})
}

func TestLoginsHelp(t *testing.T) {
	for _, args := range [][]string{{"logins", "-h"}, {"help", "logins"}} {
		out, errOut, err := ctl(t, "", args...)
		if err != nil || errOut != "" {
			t.Fatalf("%v: %v %q", args, err, errOut)
		}
		contains(t, out, "Usage: twostepctl logins", "-user user", "-since duration", "-decision decision", "-id reference", "-limit N", "-json",
			"time, id, user,\ntyped_user, client, nas_id, nas_addr, from, factor, device, decision,\nreason, node")
	}
	contains(t, mustCtl(t, "", "help"), "logins ")
}

// TestLoginsQuotesOutsidersText: a User-Name, NAS-Identifier or
// Calling-Station-Id is whatever somebody sent; the table shows one that
// holds a terminal escape or a tab quoted, never raw.
func TestLoginsQuotesOutsidersText(t *testing.T) {
	hc := newHistoryCluster(t)
	hc.write(t, cluster.LoginRecord{Time: time.Now().UTC(), ID: "0123456789ab", TypedUser: "x\x1b]0;owned\x07\x1b[2J", Client: "vpn",
		NASID: "gw\t1", NASAddr: "192.0.2.10", From: "a\nb", Decision: "reject", Reason: "unknown_user", Node: "node1"})
	out := mustCtl(t, "", "-config", hc.config, "logins")
	if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(out, "gw\t1") || strings.Contains(out, "a\nb") {
		t.Errorf("raw control characters in the table:\n%q", out)
	}
	contains(t, out, `"x\x1b]0;owned\a\x1b[2J"`, `"gw\t1"`, `"a\nb"`)
}
