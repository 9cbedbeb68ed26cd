package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// pushScenario holds -push-pending logins waiting for a push on one
// twostepd, on the external etcd and on its embedded one, and approves
// them all (twostep-bench push, which starts that twostepd).
func (s *suite) pushScenario(ctx context.Context) error {
	s.say("push scenario: %d logins pending on one twostepd", s.cfg.PushPending)
	if err := s.startEtcd(ctx); err != nil {
		return err
	}
	var rows []pushResult
	for _, where := range []string{"external", "embedded"} {
		args := []string{"push", "-twostepd", s.twostepdBin, "-pending", fmt.Sprint(s.cfg.PushPending), "-approve-rate", fmt.Sprint(s.cfg.PushRate), "-json"}
		if where == "external" {
			args = append(args, "-endpoints", s.etcd.URL())
		}
		var r pushResult
		if err := s.scenarioRun(ctx, "push-"+where, &r, args...); err != nil {
			return fmt.Errorf("push scenario (%s etcd) failed: %w", where, err)
		}
		rows = append(rows, r)
	}
	return s.publish("push", "push", s.pushMarkdown(rows[0], rows[1]), true)
}

// scenarioRun runs a scenario of the generator's own (push, portal) with
// its JSON in dir/name.json and its progress in dir/name.log, and reads
// the JSON into res.
func (s *suite) scenarioRun(ctx context.Context, name string, res any, args ...string) error {
	logFile, err := os.Create(s.path(name + ".log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	var out bytes.Buffer
	if err := s.bench(ctx, &out, logFile, args...); err != nil {
		if commandStatus(err) == 130 {
			return errInterrupted
		}
		return fmt.Errorf("%w: see %s", err, logFile.Name())
	}
	if err := os.WriteFile(s.path(name+".json"), out.Bytes(), 0o600); err != nil {
		return err
	}
	return json.Unmarshal(out.Bytes(), res)
}

// pushMarkdown is the push scenario's section.
func (s *suite) pushMarkdown(ext, emb pushResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Push (push scenario)\n\n%d logins each waiting for a push on one twostepd at once, then every push approved through the approval API with the device's signature: `BENCH_SCENARIOS=push scripts/bench.sh` (`twostep-bench push`), settings `BENCH_PUSH_PENDING`, `BENCH_PUSH_RATE`.\n\n", s.cfg.PushPending)
	fmt.Fprintf(&b, "- twostepd %s, users file ({SSHA512}), one client in append mode (`password,push`, nas_timeout 30s, nas_retries 2), push limit off, answers_per_minute 1000000 (every phone answers from 127.0.0.1), log level warn, %s; every user has one push device whose webhook is twostep-bench (one HTTP server on loopback)\n", s.versions.twostepd, s.versions.goVersion)
	b.WriteString("- Logins sent at 1000/s, retransmitted every 3 s until their notification arrives (as a NAS does: the burst exceeds radius.workers and some are shed); *build-up* is the time until every notification has arrived\n")
	fmt.Fprintf(&b, "- *external*: twostepd on Debian etcd-server %s (the same as the 2fa scenario; its memory is not twostepd's). *embedded*: twostepd's embedded etcd, whose memory is counted in twostepd's RSS\n", s.versions.etcd)
	fmt.Fprintf(&b, "- Approvals posted at %d/s (each in its own goroutine: open loop), signed with each device's P-256 key; *approval → Accept* is from the moment the approval is posted to the Access-Accept's arrival at the NAS, *API* the approval API's answer time\n", s.cfg.PushRate)
	fmt.Fprintf(&b, "- %s\n\n", s.machineNote())
	b.WriteString("| etcd | pending | build-up s | RSS idle MB | RSS pending MB | RSS after MB | approval → Accept p50 ms | p99 ms | max ms | API p50 ms | accepted |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		where string
		res   pushResult
	}{{"external", ext}, {"embedded", emb}} {
		x := r.res
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | **%.1f** | %.1f | %.2f | **%.2f** | %.2f | %.2f | %d |\n", r.where,
			x.Pending, x.BuildUpSeconds, x.RSSIdleMB, x.RSSPendingMB, x.RSSAfterMB, x.P50ms, x.P99ms, x.MaxMs, x.APIP50ms, x.Accepted)
	}
	fmt.Fprintf(&b, "\n**Targets** (issue 6: 5,000 pending pushes on one node under 150 MB resident, approval to Access-Accept p99 under 50 ms): memory %s (%.1f MB), p99 %s (%.1f ms), with the external etcd; with the embedded etcd inside twostepd, %.1f MB and %.1f ms.",
		met(ext.RSSPendingMB < 150), ext.RSSPendingMB, met(ext.P99ms < 50), ext.P99ms, emb.RSSPendingMB, emb.P99ms)
	return b.String()
}

// met names a target's verdict.
func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// portalScenario measures the portal's sign-ins and page views over
// HTTPS beside the same cluster operations sent to etcd directly
// (twostep-bench portal, which starts its twostepd).
func (s *suite) portalScenario(ctx context.Context) error {
	s.say("portal scenario: %d users signing in", s.cfg.PortalUsers)
	if err := s.startEtcd(ctx); err != nil {
		return err
	}
	var r portalResult
	if err := s.scenarioRun(ctx, "portal", &r, "portal", "-twostepd", s.twostepdBin, "-users", fmt.Sprint(s.cfg.PortalUsers), "-endpoints", s.etcd.URL(), "-json"); err != nil {
		return fmt.Errorf("portal scenario failed: %w", err)
	}
	return s.publish("portal", "portal", s.portalMarkdown(r), true)
}

// portalMarkdown is the portal scenario's section.
func (s *suite) portalMarkdown(r portalResult) string {
	var b strings.Builder
	b.WriteString("### Self-service portal (portal scenario)\n\nThe portal's two paths over HTTPS against one twostepd, then the same cluster operations sent to etcd directly by the generator: `BENCH_SCENARIOS=portal scripts/bench.sh` (`twostep-bench portal`), setting `BENCH_PORTAL_USERS`.\n\n")
	fmt.Fprintf(&b, "- twostepd %s with the portal (TLS 1.3, a self-signed P-256 certificate), users file ({SSHA512}), Debian etcd-server %s (the same as the 2fa scenario), log level warn, %s\n", s.versions.twostepd, s.versions.etcd, s.versions.goVersion)
	fmt.Fprintf(&b, "- %d browsers at once (closed loop), each from its own loopback address with keep-alive connections; %g s measured per path after a 2 s warm-up\n", r.Concurrency, r.DurationSeconds)
	b.WriteString("- *sign-in*: POST /signin (password), GET /signin/factor, POST /signin/passcode (an unlimited bypass code), GET /devices: four pages, a new cookie jar each time. *page view*: GET /devices (My Settings & Devices) with a signed-in session\n")
	b.WriteString("- *store ceiling*: the cluster operations of the same path from the generator, no HTTP: a sign-in is 4 account reads, 3 session reads, a session create, the bypass code's use and the session's rotation; a page view is a session read and an account read\n")
	fmt.Fprintf(&b, "- %s\n\n", s.machineNote())
	b.WriteString("| path | twostepd /s | p50 ms | p99 ms | store ceiling /s | of the ceiling | twostepd CPU per op |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| sign-in (4 pages) | **%.0f** | %.1f | %.1f | %.0f | %s | %.0f µs |\n",
		r.SignInsPerSec, r.SignInP50ms, r.SignInP99ms, r.CeilingSignInsPerSec, times(r.SignInsPerSec, r.CeilingSignInsPerSec), r.CPUPerSignInUs)
	fmt.Fprintf(&b, "| page view | **%.0f** | %.1f | %.1f | %.0f | %s | %.0f µs |\n",
		r.PagesPerSec, r.PageP50ms, r.PageP99ms, r.CeilingPagesPerSec, times(r.PagesPerSec, r.CeilingPagesPerSec), r.CPUPerPageUs)
	b.WriteString("\nNo target was set for the portal (issue 7); the figures say what a node serves while its RADIUS work goes on.")
	return b.String()
}
