package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeReport(t *testing.T, dir, label string, conc int, rps, p99us float64, users int) string {
	t.Helper()
	r := report{
		Settings: settings{Label: label, Server: "127.0.0.1:1", Concurrency: conc, Users: users, DurationSeconds: 15, WarmupSeconds: 2, TimeoutSeconds: 2, MessageAuthenticator: true, CPUs: 2, GOMAXPROCS: 2},
		Results: results{
			RequestsPerSec: rps,
			Requests:       uint64(rps * 15),
			Accepts:        uint64(rps * 15),
			LatencyMicros:  latencies{P50: p99us / 4, P90: p99us / 2, P99: p99us, Max: p99us * 3},
			Server:         &serverCost{Cores: 1, RequestsPerCPUSec: rps},
		},
	}
	p := filepath.Join(dir, label+"-"+strings.Repeat("x", conc%7)+".json")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunCompare(t *testing.T) {
	dir := t.TempDir()
	files := []string{
		writeReport(t, dir, "freeradius", 64, 20000, 4000, 1000),
		writeReport(t, dir, "twostepd", 64, 30000, 2000, 1000),
		writeReport(t, dir, "freeradius", 32, 10000, 3000, 1000),
		writeReport(t, dir, "twostepd", 32, 25000, 1500, 1000),
		writeReport(t, dir, "ceiling", 32, 60000, 1000, 1000),
	}
	var out bytes.Buffer
	args := append([]string{"compare", "-setting", "FreeRADIUS 3.2.1, thread pool 2"}, files...)
	if err := run(t.Context(), args, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"- FreeRADIUS 3.2.1, thread pool 2\n",
		"1000 users",
		"| 32 | freeradius | 10000 |",
		"| 32 | **twostepd / freeradius** | **2.50×** |",
		"| 64 | **twostepd / freeradius** | **1.50×** |",
		"| 32 | ceiling | 60000 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "| 32 |"), strings.Index(got, "| 64 |"); i < 0 || j < i {
		t.Errorf("concurrency 32 should come before 64:\n%s", got)
	}
	// p99 ratio at 32: 1500/3000.
	if !strings.Contains(got, "| 0.50× |") {
		t.Errorf("output lacks the p99 ratio 0.50×:\n%s", got)
	}
}

func TestRunCompareRefusesUnlikeRuns(t *testing.T) {
	dir := t.TempDir()
	a := writeReport(t, dir, "freeradius", 32, 10000, 3000, 1000)
	b := writeReport(t, dir, "twostepd", 32, 25000, 1500, 10)
	err := run(t.Context(), []string{"compare", a, b}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "differ in settings") {
		t.Errorf("got %v, want a settings mismatch", err)
	}
}

func TestCompareFlagsDisturbedRuns(t *testing.T) {
	quiet, busy := 0.1, 0.6
	mk := func(label string, other *float64) report {
		return report{
			Settings: settings{Label: label, Concurrency: 32, Users: 10},
			Results:  results{RequestsPerSec: 1000, OtherCores: other},
		}
	}
	tests := []struct {
		name string
		reps []report
		want bool
	}{
		{"quiet", []report{mk("freeradius", &quiet), mk("twostepd", &quiet)}, false},
		{"not measured", []report{mk("freeradius", nil)}, false},
		{"busy", []report{mk("freeradius", &quiet), mk("twostepd", &busy)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compareMarkdown(tt.reps, nil, [2]string{"twostepd", "freeradius"})
			if strings.Contains(got, "**Disturbed**") != tt.want {
				t.Errorf("disturbed note present %v, want %v:\n%s", !tt.want, tt.want, got)
			}
			if tt.want && !strings.Contains(got, "twostepd at 32 (0.60)") {
				t.Errorf("note does not name the run:\n%s", got)
			}
		})
	}
}

func TestCompareLoginsAndStore(t *testing.T) {
	store := 0.8
	mk := func(label, login string, logins, requests float64, storeCores *float64, wait float64) report {
		return report{
			Settings: settings{Label: label, Concurrency: 32, Users: 10, Login: login},
			Results: results{
				Logins: uint64(logins * 15), Requests: uint64(requests * 15),
				LoginsPerSec: logins, RequestsPerSec: requests, StoreCores: storeCores, PairWait: wait,
				LatencyMicros: latencies{P50: 1000, P90: 2000, P99: 4000},
			},
		}
	}
	reps := []report{
		mk("password", "", 4000, 4000, &store, 0),
		mk("append", "append", 3000, 3000, &store, 0),
		mk("challenge", "challenge", 1000, 2000, &store, 1.5),
		mk("etcd-append", "", 5000, 5000, &store, 0),
	}
	if err := sameSettings(reps); err != nil {
		t.Fatalf("runs differing in login kind only: %v", err)
	}
	got := compareMarkdown(reps, nil, [2]string{"append", "password"}, [2]string{"challenge", "password"})
	for _, want := range []string{
		"| concurrency | server | logins/s | requests/s |",
		"logins per server CPU-s | store cores |",
		"| 32 | challenge | 1000 | 2000 |",
		// Ratios are of logins/s, in the logins/s column.
		"| 32 | **append / password** | **0.75×** | |",
		"| 32 | **challenge / password** | **0.25×** | |",
		"**Pairs ran out**",
		"challenge at 32 (1.5s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Every row has as many cells as the header.
	var cells int
	for i, line := range strings.Split(got, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		n := strings.Count(line, "|")
		if cells == 0 {
			cells = n
		} else if n != cells {
			t.Errorf("line %d has %d cells, the header %d: %s", i, n-1, cells-1, line)
		}
	}
}
