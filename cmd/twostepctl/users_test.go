package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/directory/ldaptest"
)

// addDevice gives user a device of type typ named name, added ago.
func (tc *testCluster) addDevice(t *testing.T, user, name string, typ cluster.DeviceType, ago time.Duration) cluster.Device {
	t.Helper()
	created := time.Now().Add(-ago)
	d := cluster.Device{Name: name, Type: typ, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second,
		Secret: []byte("seed of " + user + "'s " + name), Created: created}
	if typ == cluster.PushApp {
		var err error
		d, err = cluster.NewPushDevice(name, cluster.PushDevice{PublicKey: []byte{4}, Kind: "webhook", Endpoint: "https://hooks.example/" + user}, created)
		if err != nil {
			t.Fatal(err)
		}
	}
	d, err := tc.accounts.AddDevice(context.Background(), user, d)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// failUntilLocked locks user by wrong passcodes, under policy p.
func (tc *testCluster) failUntilLocked(t *testing.T, user string, p cluster.LockoutPolicy) cluster.Lockout {
	t.Helper()
	l, err := tc.accounts.Fail(context.Background(), tc.load(t, user), "", p, time.Now())
	if err != nil || !l.Locked(time.Now()) {
		t.Fatalf("lock %s by failures: %+v, %v", user, l, err)
	}
	return l
}

// usersJSONOf runs `users -json` with args and returns the objects by
// user, in order.
func usersJSONOf(t *testing.T, config string, args ...string) ([]string, map[string]map[string]any) {
	t.Helper()
	out := mustCtl(t, "", append([]string{"-config", config, "users", "-json"}, args...)...)
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var names []string
	by := map[string]map[string]any{}
	for _, o := range got {
		names = append(names, o["user"].(string))
		by[o["user"].(string)] = o
	}
	return names, by
}

// line returns the line of the table that starts with user.
func line(t *testing.T, table, user string) string {
	t.Helper()
	for l := range strings.SplitSeq(table, "\n") {
		if strings.HasPrefix(l, user+" ") {
			return l
		}
	}
	t.Fatalf("no line of %s in:\n%s", user, table)
	return ""
}

func TestUsers(t *testing.T) {
	hc := newHistoryCluster(t)
	ctx := context.Background()
	// The users file has alice, bob and dora (disabled). alice has a
	// device of each type; bob is locked for 15 minutes by wrong
	// passcodes; the cluster knows erin (locked by an admin), frank (a
	// push answered "This wasn't me"), gina (wrong passcodes, until
	// unlocked) and hal (a login refused), none of them in the file.
	totp := hc.addDevice(t, "alice", "phone", cluster.TOTP, 3*time.Hour)
	push := hc.addDevice(t, "alice", "tablet", cluster.PushApp, 2*time.Hour)
	hotp := hc.addDevice(t, "alice", "token", cluster.HOTP, time.Hour)
	hc.addDevice(t, "gina", "phone", cluster.TOTP, 0)
	bobLock := hc.failUntilLocked(t, "bob", cluster.LockoutPolicy{Attempts: 1, Duration: 15 * time.Minute})
	hc.failUntilLocked(t, "gina", cluster.LockoutPolicy{Attempts: 1})
	if err := hc.accounts.Lock(ctx, "erin", cluster.LockAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := hc.accounts.Lock(ctx, "frank", cluster.LockFraud, time.Now()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	hc.write(t,
		cluster.LoginRecord{Time: at(3 * time.Hour), ID: "aaaa00000001", User: "alice", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "password", Decision: "reject", Reason: "bad_password", Node: "node1"},
		cluster.LoginRecord{Time: at(2 * time.Minute), ID: "aaaa00000002", User: "alice", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "password", Decision: "challenge", Reason: "passcode_requested", Node: "node1"},
		cluster.LoginRecord{Time: at(time.Minute), ID: "aaaa00000002", User: "alice", TypedUser: "ALICE", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "totp", Device: &cluster.LoginDevice{ID: totp.ID, Name: "phone"}, Decision: "accept", Reason: "ok", Node: "node2"},
		cluster.LoginRecord{Time: at(time.Hour), ID: "bbbb00000001", User: "bob", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "totp", Decision: "accept", Reason: "ok", Node: "node1"},
		cluster.LoginRecord{Time: at(30 * time.Minute), ID: "bbbb00000002", User: "bob", Client: "vpn", NASAddr: "192.0.2.10",
			Decision: "reject", Reason: "locked_out", Node: "node1"},
		cluster.LoginRecord{Time: at(10 * time.Minute), ID: "cccc00000001", User: "Hal", Client: "vpn", NASAddr: "192.0.2.10",
			Factor: "password", Decision: "reject", Reason: "bad_password", Node: "node2"},
		cluster.LoginRecord{Time: at(5 * time.Minute), ID: "dddd00000001", TypedUser: "mallory", Client: "vpn", NASAddr: "192.0.2.10",
			Decision: "reject", Reason: "unknown_user", Node: "node2"},
	)

	t.Run("a table sorted by user", func(t *testing.T) {
		out := mustCtl(t, "", "-config", hc.config, "users")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 8 {
			t.Fatalf("got %d lines, want a header and 7 users:\n%s", len(lines), out)
		}
		contains(t, lines[0], "USER", "DEVICES", "LOCK", "LAST LOGIN", "DIRECTORY")
		var users []string
		for _, l := range lines[1:] {
			users = append(users, strings.Fields(l)[0])
		}
		if want := []string{"alice", "bob", "dora", "erin", "frank", "gina", "Hal"}; !slices.Equal(users, want) {
			t.Errorf("users %v, want %v (mallory's login named no user)", users, want)
		}
		contains(t, line(t, out, "alice"), "3: hotp, push, totp", " none ", timeText(at(time.Minute))+" accept totp", " found")
		contains(t, line(t, out, "bob"), "none", "locked until "+timeText(bobLock.LockedUntil), timeText(at(30*time.Minute))+" reject ", " found")
		contains(t, line(t, out, "dora"), "dora   none", " - ", " disabled")
		contains(t, line(t, out, "erin"), "locked: admin", "not found")
		contains(t, line(t, out, "frank"), "locked: fraud", "not found")
		contains(t, line(t, out, "gina"), "1: totp", "locked: failures", "not found")
		contains(t, line(t, out, "Hal"), "none", timeText(at(10*time.Minute))+" reject password", "not found")
	})

	t.Run("-json has exactly the fields", func(t *testing.T) {
		names, by := usersJSONOf(t, hc.config)
		if want := []string{"alice", "bob", "dora", "erin", "frank", "gina", "Hal"}; !slices.Equal(names, want) {
			t.Errorf("users %v, want %v", names, want)
		}
		want := []string{"devices", "directory", "last_login", "lock_cause", "locked", "locked_until", "user"}
		for _, o := range by {
			if keys := slices.Sorted(maps.Keys(o)); !slices.Equal(keys, want) {
				t.Errorf("%s: fields %v, want %v", o["user"], keys, want)
			}
		}
		alice := by["alice"]
		// Oldest first, as `devices` lists them.
		wantDevices := []any{
			map[string]any{"id": totp.ID, "name": "phone", "type": "totp"},
			map[string]any{"id": push.ID, "name": "tablet", "type": "push"},
			map[string]any{"id": hotp.ID, "name": "token", "type": "hotp"},
		}
		if fmt.Sprint(alice["devices"]) != fmt.Sprint(wantDevices) {
			t.Errorf("alice's devices %v, want %v", alice["devices"], wantDevices)
		}
		last := alice["last_login"].(map[string]any)
		if ts, err := time.Parse(time.RFC3339Nano, last["time"].(string)); err != nil || !ts.Equal(at(time.Minute)) {
			t.Errorf("alice's last login at %v (%v), want %v", last["time"], err, at(time.Minute))
		}
		if want := map[string]any{"time": last["time"], "decision": "accept", "factor": "totp", "id": "aaaa00000002"}; !maps.Equal(last, want) {
			t.Errorf("alice's last login %v, want %v", last, want)
		}
		if alice["locked"] != false || alice["lock_cause"] != "" || alice["locked_until"] != nil || alice["directory"] != "found" {
			t.Errorf("alice: %v", alice)
		}
		bob := by["bob"]
		if ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(bob["locked_until"])); bob["locked"] != true || bob["lock_cause"] != "failures" || err != nil || !ts.Equal(bobLock.LockedUntil) {
			t.Errorf("bob: %v; want locked by failures until %v", bob, bobLock.LockedUntil)
		}
		if bob["last_login"].(map[string]any)["decision"] != "reject" || bob["last_login"].(map[string]any)["factor"] != "" {
			t.Errorf("bob's last login %v, want the newest: the reject", bob["last_login"])
		}
		dora := by["dora"]
		if dora["directory"] != "disabled" || fmt.Sprint(dora["devices"]) != "[]" || dora["last_login"] != nil || dora["locked"] != false {
			t.Errorf("dora: %v; want disabled, no device, no login", dora)
		}
		for user, cause := range map[string]string{"erin": "admin", "frank": "fraud", "gina": "failures"} {
			o := by[user]
			if o["locked"] != true || o["lock_cause"] != cause || o["locked_until"] != nil || o["directory"] != "not found" {
				t.Errorf("%s: %v; want locked by %s until an admin unlocks, not in the users file", user, o, cause)
			}
		}
		if by["Hal"]["last_login"].(map[string]any)["id"] != "cccc00000001" {
			t.Errorf("Hal: %v", by["Hal"])
		}
	})

	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"-locked", []string{"-locked"}, []string{"bob", "erin", "frank", "gina"}},
		{"-prefix, without case", []string{"-prefix", "A"}, []string{"alice"}},
		{"-prefix of a user without records", []string{"-prefix", "do"}, []string{"dora"}},
		{"-prefix of a user only the history knows", []string{"-prefix", "h"}, []string{"Hal"}},
		{"-prefix and -locked", []string{"-prefix", "f", "-locked"}, []string{"frank"}},
		{"-prefix of nobody", []string{"-prefix", "zed"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := usersJSONOf(t, hc.config, tt.args...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("nothing", func(t *testing.T) {
		contains(t, mustCtl(t, "", "-config", hc.config, "users", "-locked", "-prefix", "a"), `no locked users whose name starts with "a"`)
		if out := mustCtl(t, "", "-config", hc.config, "users", "-json", "-prefix", "zed"); strings.TrimSpace(out) != "[]" {
			t.Errorf("-json of nothing: %q, want []", out)
		}
	})

	t.Run("progress on stderr when it takes long", func(t *testing.T) {
		// A clock that moves a second at each look: the listing "takes"
		// long enough to report.
		var mu sync.Mutex
		clock := time.Now()
		var out, errOut bytes.Buffer
		c := newCLI(strings.NewReader(""), &out, &errOut)
		c.now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Second)
			return clock
		}
		if err := c.exec(ctx, []string{"-config", hc.config, "users"}); err != nil {
			t.Fatal(err)
		}
		contains(t, errOut.String(), "users: read the last login of 2 users…")
		// A clock that stands still: the listing is quick, and says
		// nothing.
		if out, errOut, err := ctlAt(t, time.Now(), "", "-config", hc.config, "users"); err != nil || !strings.Contains(out, "alice") || errOut != "" {
			t.Errorf("a quick listing: %v, stderr %q, want nothing there:\n%s", err, errOut, out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		if _, _, err := ctl(t, "", "-config", hc.config, "users", "alice"); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
			t.Errorf("got %v, want takes no arguments", err)
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
		out, errOut, err := ctl(t, "", "-config", other, "users")
		if err != nil || !strings.Contains(line(t, out, "alice"), "3: hotp, push, totp") || !strings.Contains(line(t, out, "alice"), "accept totp") ||
			!strings.Contains(errOut, "note: login records are not checked against the seed key file") {
			t.Errorf("got %v\n%s%s", err, out, errOut)
		}
	})

	t.Run("a login record written without the key file", func(t *testing.T) {
		entries, err := hc.store.List(ctx, "history/users/alice/")
		if err != nil || len(entries) != 3 {
			t.Fatalf("%v %v", entries, err)
		}
		newest := entries[len(entries)-1]
		forged := bytes.Replace(newest.Value, []byte(`"node":"node2"`), []byte(`"node":"node3"`), 1)
		if _, err := hc.store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(newest.Key, forged)}}); err != nil {
			t.Fatal(err)
		}
		out, _, err := ctl(t, "", "-config", hc.config, "users")
		if err == nil || !strings.Contains(err.Error(), "fail their integrity check") || !strings.Contains(err.Error(), newest.Key) {
			t.Errorf("got %v, want an error naming the record", err)
		}
		contains(t, line(t, out, "alice"), timeText(at(2*time.Minute))+" challenge password")
	})
}

// TestUsersLDAP: with the ldap backend the users the cluster knows are
// listed, each looked up in the directory; the directory's other users
// are not.
func TestUsersLDAP(t *testing.T) {
	slapd := ldaptest.Start(t)
	tc := newTestClusterWith(t, fmt.Sprintf(`directory:
  backend: ldap
  ldap:
    urls: [%q]
    bind_dn: %q
    bind_password: %q
    base_dn: %q
`, slapd.URL(), slapd.ServiceDN, slapd.ServicePassword, slapd.BaseDN))
	hc := historyOf(t, tc)

	tc.addDevice(t, "alice", "phone", cluster.TOTP, 0)
	tc.addDevice(t, "zed", "phone", cluster.TOTP, 0) // left the directory since
	hc.write(t, cluster.LoginRecord{Time: time.Now().Add(-time.Minute), ID: "bbbb00000001", User: "bob", Client: "vpn", NASAddr: "192.0.2.10",
		Factor: "password", Decision: "reject", Reason: "enroll_required", Node: "node1"})

	names, by := usersJSONOf(t, tc.config)
	if want := []string{"alice", "bob", "zed"}; !slices.Equal(names, want) {
		t.Errorf("users %v, want %v: the cluster's, not the directory's others", names, want)
	}
	for user, want := range map[string]string{"alice": "found", "bob": "found", "zed": "not found"} {
		if by[user]["directory"] != want {
			t.Errorf("%s: directory %v, want %s", user, by[user]["directory"], want)
		}
	}
	out := mustCtl(t, "", "-config", tc.config, "users")
	contains(t, line(t, out, "alice"), "1: totp", "found")
	contains(t, line(t, out, "bob"), "none", "reject password", "found")
	contains(t, line(t, out, "zed"), "not found")

	slapd.Stop()
	out, _, err := ctl(t, "", "-config", tc.config, "users", "-json")
	if err == nil || !strings.Contains(err.Error(), "the directory did not answer; 3 users were not looked up") {
		t.Errorf("directory down: got %v, want an error saying so", err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 3 {
		t.Fatalf("directory down: %v:\n%s", err, out)
	}
	for _, o := range got {
		if o["directory"] != "unknown" {
			t.Errorf("directory down: %v, want directory unknown", o)
		}
	}
}
