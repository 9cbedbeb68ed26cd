package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSuiteFlags(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	t.Run("defaults", func(t *testing.T) {
		c, err := parseSuiteFlags(nil, env(nil), &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Scenarios, allScenarios) || !slices.Equal(c.Concurrency, []int{32, 64}) || c.Duration != 15*time.Second ||
			c.Users != 1000 || c.TwoFAUsers != 15000 || !c.Ceiling || c.Out != "docs/BENCHMARKS.md" || c.TSLDAPCache != "5m" {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("the environment, and flags over it", func(t *testing.T) {
		c, err := parseSuiteFlags([]string{"-users", "7"}, env(map[string]string{
			"BENCH_SCENARIOS": "file ldap", "BENCH_CONCURRENCY": "8 16", "BENCH_USERS": "500", "BENCH_CEILING": "0",
			"BENCH_FORCE": "1", "BENCH_OUT": "-", "BENCH_DURATION": "3s", "BENCH_TS_LDAP_CACHE": "1m", "BENCH_KEEP": "",
		}), &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Scenarios, []string{"file", "ldap"}) || !slices.Equal(c.Concurrency, []int{8, 16}) || c.Users != 7 ||
			c.Ceiling || !c.Force || c.Keep || c.Out != "-" || c.Duration != 3*time.Second || c.TSLDAPCache != "1m" {
			t.Errorf("got %+v", c)
		}
		if !c.wants("ldap") || c.wants("2fa") {
			t.Errorf("wants: got ldap %v, 2fa %v", c.wants("ldap"), c.wants("2fa"))
		}
	})
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad variable", nil, map[string]string{"BENCH_USERS": "many"}, `BENCH_USERS="many"`},
		{"unknown scenario", []string{"-scenarios", "file,bogus"}, nil, `unknown scenario "bogus"`},
		{"unknown server", nil, map[string]string{"BENCH_SERVERS": "radiator"}, `unknown server "radiator"`},
		{"bad cache", []string{"-ts-ldap-cache", "soon"}, nil, `-ts-ldap-cache "soon"`},
		{"no concurrency", []string{"-concurrency", ""}, nil, "want at least one"},
		{"zero", []string{"-rounds", "0"}, nil, "-rounds 0"},
		{"arguments", []string{"file"}, nil, "unexpected arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSuiteFlags(tt.args, env(tt.env), &strings.Builder{})
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a usage error with %q", err, tt.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		if _, err := parseSuiteFlags([]string{"-h"}, env(nil), &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "[BENCH_2FA_DEVICES]") {
			t.Errorf("got %v, %q", err, out.String())
		}
	})
}

func TestSuiteNeeds(t *testing.T) {
	pkgs := func(scenarios ...string) []string {
		var out []string
		for _, n := range (suiteConfig{Scenarios: scenarios}).needs() {
			out = append(out, n.Package)
		}
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		scenarios []string
		want      []string
	}{
		{[]string{"file"}, []string{"freeradius", "freeradius-utils"}},
		{[]string{"ldap"}, []string{"freeradius", "freeradius-ldap", "freeradius-utils", "slapd"}},
		{[]string{"2fa"}, []string{"etcd-server", "slapd"}},
		{[]string{"history"}, []string{"etcd-server", "slapd"}},
		{[]string{"push", "portal"}, []string{"etcd-server"}},
	} {
		if got := pkgs(tt.scenarios...); !slices.Equal(got, tt.want) {
			t.Errorf("%v: got %v, want %v", tt.scenarios, got, tt.want)
		}
	}
}

func TestTwoFAVerdict(t *testing.T) {
	rep := func(label string, lps float64) report {
		return report{Settings: settings{Label: label}, Results: results{LoginsPerSec: lps}}
	}
	tests := []struct {
		name string
		reps []report
		want string
	}{
		{"rounded as printed", []report{rep("twostepd-password", 1000), rep("twostepd-append", 799.6), rep("twostepd-challenge", 794)},
			"append 0.80× of the password-only logins/s (met); challenge 0.79× of the password-only logins/s (not met)"},
		{"rounds averaged", []report{rep("twostepd-password", 1000), rep("twostepd-password", 3000), rep("twostepd-append", 1800), rep("twostepd-append", 1400)},
			"append 0.80× of the password-only logins/s (met); challenge 0.00× of the password-only logins/s (not met)"},
		{"no baseline", []report{rep("twostepd-append", 10)},
			"append n/a× of the password-only logins/s (not met); challenge n/a× of the password-only logins/s (not met)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := twoFAVerdict(tt.reps); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHistoryVerdict(t *testing.T) {
	rep := func(login string, on bool, lps float64) report {
		return report{Settings: settings{Label: historyLabel(login, on)}, Results: results{LoginsPerSec: lps}}
	}
	tests := []struct {
		name string
		reps []report
		want string
	}{
		{"rounded as printed", []report{rep("password", false, 1000), rep("password", true, 899.6), rep("append", false, 100), rep("append", true, 89)},
			"the password alone 0.90× (met); a passcode in append mode 0.89× (not met)"},
		{"rounds averaged", []report{rep("password", false, 1000), rep("password", false, 2000), rep("password", true, 1400), rep("password", true, 1400)},
			"the password alone 0.93× (met); a passcode in append mode n/a× (not met)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := historyVerdict(tt.reps); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHistoryCounts reads what a history-on twostepd wrote and dropped
// from a /metrics page.
func TestHistoryCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `# HELP twostep_history_records_written_total Login history records written to the cluster store by this node.
# TYPE twostep_history_records_written_total counter
twostep_history_records_written_total 123456
twostep_history_records_dropped_total{cause="queue_full"} 7
twostep_history_records_dropped_total{cause="shutdown"} 0
twostep_history_records_dropped_total{cause="store_unavailable"} 2
go_goroutines 42
`)
	}))
	defer srv.Close()
	got := historyCounts(context.Background(), "on", srv.URL)
	if !strings.HasPrefix(got, "on wrote 123456 records to etcd and dropped 9 (") || !strings.Contains(got, "queue_full 7") || !strings.Contains(got, "store_unavailable 2") || strings.Contains(got, "shutdown") {
		t.Errorf("got %q", got)
	}
	srv.Close()
	if got := historyCounts(context.Background(), "on", srv.URL); !strings.Contains(got, "/metrics not read") {
		t.Errorf("server gone: got %q", got)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/sections.md")

// TestSections renders every section's settings lines and the push and
// portal tables from fixed settings and figures and compares them with
// testdata/sections.md. That file was made from docs/BENCHMARKS.md as
// scripts/bench.sh last wrote it: moving the suite from the shell to Go
// changed no line but the figures (and the push scenario's settings,
// which now say that the approval API's answer budget is lifted).
func TestSections(t *testing.T) {
	s := &suite{cfg: suiteConfig{Users: 1000, FRThreads: 2, TSWorkers: 256, Servers: []string{"freeradius", "twostepd"},
		Scenarios: []string{"file", "ldap"}, FRLDAPThreads: 16, FRLDAPPool: 16, TSLDAPPool: 16, TSLDAPCache: "5m",
		TwoFAUsers: 15000, TwoFADevices: 3, PushPending: 5000, PushRate: 250}}
	s.versions = versions{freeRADIUS: "3.2.1", twostepd: "5146efc", goVersion: "go1.26.8", slapd: "2.5.13", etcd: "3.4.23"}
	var b strings.Builder
	notes := func(name string, ns []string) {
		b.WriteString("## " + name + "\n")
		for _, n := range ns {
			if !strings.HasPrefix(n, "Run ") && !strings.HasPrefix(n, "etcd: ") { // the date, the temp dir's file system
				b.WriteString("- " + n + "\n")
			}
		}
	}
	notes("file", s.fileNotes())
	s.versions.twostepd = "9410819"
	notes("ldap", s.ldapNotes())
	s.versions.twostepd = "54f1356"
	notes("2fa", s.twoFANotes())
	notes("history", s.historyNotes())
	s.versions.twostepd = "7767aa3"
	b.WriteString("## push\n" + withoutRunLine(s.pushMarkdown(
		pushResult{Pending: 5000, BuildUpSeconds: 6.5, RSSIdleMB: 36.3, RSSPendingMB: 85.7, RSSAfterMB: 66.5, P50ms: 3.95, P99ms: 34.38, MaxMs: 161.48, APIP50ms: 3.27, Accepted: 5000},
		pushResult{Pending: 5000, BuildUpSeconds: 6.0, RSSIdleMB: 56.1, RSSPendingMB: 150.6, RSSAfterMB: 137.3, P50ms: 2.81, P99ms: 16.61, MaxMs: 35.27, APIP50ms: 2.35, Accepted: 5000})) + "\n")
	s.versions.twostepd = "1b136d0"
	b.WriteString("## portal\n" + withoutRunLine(s.portalMarkdown(portalResult{Concurrency: 32, DurationSeconds: 10,
		SignInsPerSec: 355, SignInP50ms: 87.6, SignInP99ms: 127.4, CeilingSignInsPerSec: 597, CPUPerSignInUs: 1911,
		PagesPerSec: 2809, PageP50ms: 10.4, PageP99ms: 25.8, CeilingPagesPerSec: 6947, CPUPerPageUs: 300})) + "\n")

	golden := filepath.Join("testdata", "sections.md")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("sections differ from %s (go test -run TestSections -update rewrites it):\n%s", golden, got)
	}
}

// withoutRunLine drops the line with the date of the run.
func withoutRunLine(md string) string {
	var out []string
	for l := range strings.Lines(md) {
		if !strings.HasPrefix(l, "- Run ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
