package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"twostep/cmd/twostep-bench/internal/peer"
)

// historyScenario measures what the login history costs: the same load,
// on the 2fa scenario's users, slapd and external etcd, against twostepd
// with history.enabled false and true, for a login of the password alone
// (policy exempt: the cheapest login, where the history's share is
// largest) and a TOTP passcode in append mode (the login twostep is for).
// The runs alternate between the two loads, so that the two passcode
// runs do not share a TOTP step; each history-on twostepd's records
// written and dropped are read from its /metrics at the end.
func (s *suite) historyScenario(ctx context.Context) error {
	if err := s.startSlapd(); err != nil {
		return err
	}
	if err := s.startEtcd(ctx); err != nil {
		return err
	}
	if err := s.enrollTwoFA(ctx); err != nil {
		return err
	}
	s.say("starting four twostepd on the external etcd: the password alone and append, each with the login history off and on")
	targets, metrics, err := s.startTwostepdHistory(ctx)
	if err != nil {
		return err
	}
	reps, allAccepted, err := s.runAll(ctx, targets, []int{s.cfg.LDAPConcurrency})
	var counts []string
	for _, t := range targets {
		if m := metrics[t.label]; m != "" && err == nil {
			if err = t.proc.Resume(); err != nil { // paused while another ran
				break
			}
			counts = append(counts, historyCounts(ctx, t.label, m))
		}
	}
	stopTargets(targets)
	if err != nil {
		return err
	}
	table, err := compareTable(reps, s.historyNotes(),
		[2]string{historyLabel("password", true), historyLabel("password", false)},
		[2]string{historyLabel("append", true), historyLabel("append", false)})
	if err != nil {
		return err
	}
	text := "### Login history (history scenario)\n\n" +
		"The same logins against twostepd with the login history off and on, in one run: the password alone (policy exempt: the cheapest login, so the history's largest share) and a TOTP passcode in append mode, on the 2fa scenario's users, slapd and etcd: `BENCH_SCENARIOS=history scripts/bench.sh`, settings those of the 2fa scenario. The ratio rows are history on over history off.\n\n" +
		strings.TrimRight(table, "\n") + "\n\n" +
		"What the history-on twostepd recorded over their runs (warm-ups and smoke tests included), from their /metrics: " + strings.Join(counts, "; ") + ".\n\n" +
		"**Target** (issue 15: logins/s with the history on at least 0.9× those with it off, in the same run): " + historyVerdict(reps) + "."
	return s.publish("history", "history", text, allAccepted)
}

// historyLabel is the target of login ("password" or "append") with the
// history on or off.
func historyLabel(login string, on bool) string {
	if on {
		return "twostepd-" + login + "-history-on"
	}
	return "twostepd-" + login + "-history-off"
}

// startTwostepdHistory starts the four twostepd (the password alone and
// append, the history off and on), checks them, warms their DN caches,
// and returns the targets in the order they run (password off, append
// off, password on, append on), and the /metrics URL of the history-on
// ones by label.
func (s *suite) startTwostepdHistory(ctx context.Context) ([]*target, map[string]string, error) {
	users := s.path(twoFADir, usersForBench)
	devices := []string{"-login", "append", "-devices", s.path(twoFADir, "bench-devices.txt"), "-pair-state", s.path(twoFADir, "pair-state")}
	var targets []*target
	metrics := map[string]string{}
	// Off, then on, for each load; the loads alternate.
	for _, on := range []bool{false, true} {
		for _, login := range []string{"password", "append"} {
			label := historyLabel(login, on)
			policy, expect, extra := "exempt", "accept", []string(nil)
			if login == "append" {
				policy, expect, extra = "require", "reject", devices
			}
			p, port, metricsAddr, err := s.startTwostepd2FAConfig(ctx, label, policy, &peer.TwostepdHistory{Enabled: on})
			if err != nil {
				return nil, nil, err
			}
			t := s.radiusTarget(label, p, port, users, extra...)
			if err := s.smoke(ctx, t); err != nil {
				return nil, nil, err
			}
			// The password alone in append mode is refused without a
			// write and without counting toward lockout.
			if err := s.warmDNCache(ctx, label, port, expect); err != nil {
				return nil, nil, err
			}
			if on {
				metrics[label] = "http://" + metricsAddr + "/metrics"
			}
			targets = append(targets, t)
		}
	}
	return targets, metrics, nil
}

// historyCounts says what the history-on twostepd label wrote and
// dropped, from its metrics at url.
func historyCounts(ctx context.Context, label, url string) string {
	series, err := scrape(ctx, url)
	if err != nil {
		return fmt.Sprintf("%s: /metrics not read (%v)", label, err)
	}
	written := series["twostep_history_records_written_total"]
	var dropped float64
	var causes []string
	for name, v := range series {
		if cause, ok := strings.CutPrefix(name, `twostep_history_records_dropped_total{cause="`); ok && v > 0 {
			dropped += v
			causes = append(causes, fmt.Sprintf("%s %.0f", strings.TrimSuffix(cause, `"}`), v))
		}
	}
	out := fmt.Sprintf("%s wrote %.0f records to etcd and dropped %.0f", label, written, dropped)
	if len(causes) > 0 {
		out += " (" + strings.Join(causes, ", ") + ")"
	}
	return out
}

// scrape reads the twostep_ series of a Prometheus text exposition at
// url: each series' name with its labels, and its value.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "twostep_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// historyVerdict says, for each load, whether the logins/s with the
// history on kept 0.9× of those with it off (averaged over the rounds).
func historyVerdict(reps []report) string {
	var parts []string
	for _, login := range []string{"password", "append"} {
		ratio, met := judge(meanLogins(reps, historyLabel(login, true)), meanLogins(reps, historyLabel(login, false)), 0.90)
		name := map[string]string{"password": "the password alone", "append": "a passcode in append mode"}[login]
		parts = append(parts, fmt.Sprintf("%s %s× (%s)", name, ratio, met))
	}
	return strings.Join(parts, "; ")
}

// historyNotes are the history scenario's settings lines.
func (s *suite) historyNotes() []string {
	u, d := s.cfg.TwoFAUsers, s.cfg.TwoFADevices
	return []string{
		fmt.Sprintf("Users: the 2fa scenario's %d users in its slapd (OpenLDAP %s), each with %d TOTP devices; a passcode login uses a (user, device) pair not yet used in its 30 s step (%d a step)",
			u, s.versions.slapd, d, u*d),
		fmt.Sprintf("twostepd %s: as in the 2fa scenario (ldap backend with the DN cache, warmed with every user before the runs; cluster: the external etcd below; radius.workers %d, log level warn, %s), client 127.0.0.1 in append mode. *-password-*: policy default exempt (the password alone); *-append-*: policy default require (password,123456). *-history-off*: history.enabled false; *-history-on*: history.enabled true with its defaults (retention 720h, per_user 200, the reference in Rejects): every answer handed to a queue of 8192 after it is sent, written by one writer per node in transactions of up to 128 records with a lease, each record trimming its user to 200 records with a chance of 1 in 50 (a user at most once a second)",
			s.versions.twostepd, s.cfg.TSWorkers, s.versions.goVersion),
		fmt.Sprintf("etcd: Debian etcd-server %s, external, one member on 127.0.0.1, data on the temp dir's %s (fsync on); its CPU is the *store cores* column (the history's writes are there)",
			s.versions.etcd, fsType(s.dir)),
		"Each target loaded alone, the other twostepd paused (SIGSTOP); slapd and etcd serve every row; run in the order password off, append off, password on, append on (each round): the history-on runs meet an etcd holding what the runs before them recorded",
		s.machineNote(),
	}
}
