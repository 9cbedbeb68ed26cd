package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"twostep/cmd/twostep-bench/internal/peer"
)

// target is what a scenario loads: a RADIUS server, or slapd or etcd
// driven directly for their ceiling.
type target struct {
	label string
	// proc is paused while another target is loaded, so that its timers
	// and cleanup (FreeRADIUS keeps every request for cleanup_delay,
	// twostepd its duplicate cache) take no CPU from it; nil for slapd
	// and etcd, which every target shares.
	proc *peer.Proc
	// args are the generator's command line but for the phase
	// (-concurrency, -duration, -warmup, -label, -json).
	args []string
}

// radiusTarget loads a RADIUS server on port with the users of file, its
// CPU (and slapd's and etcd's, when they run) measured apart.
func (s *suite) radiusTarget(label string, proc *peer.Proc, port int, users string, extra ...string) *target {
	args := []string{"-server", addr(port), "-secret", s.secret, "-users", users, "-server-pid", strconv.Itoa(proc.Pid())}
	if s.slapd != nil {
		args = append(args, "-directory-pid", strconv.Itoa(s.slapd.Pid()))
	}
	if s.etcd != nil {
		args = append(args, "-store-pid", strconv.Itoa(s.etcd.Pid()))
	}
	args = append(args, extra...)
	return &target{label: label, proc: proc, args: append(args, "-expect", "accept")}
}

// ldapCeiling drives slapd directly (twostep-bench ldap) in mode.
func (s *suite) ldapCeiling(label, mode, users string) *target {
	return &target{label: label, args: []string{"ldap", "-url", s.slapd.URL(), "-bind-dn", s.slapd.ServiceDN,
		"-bind-password-file", s.slapd.PasswordFile, "-base-dn", peer.SlapdBase, "-filter", ldapFilter,
		"-mode", mode, "-users", users, "-server-pid", strconv.Itoa(s.slapd.Pid())}}
}

// etcdCeiling drives etcd directly (twostep-bench etcd) with the store
// operations of one login of kind ops, on the copy of the records.
func (s *suite) etcdCeiling(label, ops, users string) *target {
	return &target{label: label, args: []string{"etcd", "-endpoints", s.etcd.URL(), "-prefix", ceilingPrefix,
		"-seed-keys", s.path("seed.key"), "-users", users, "-ops", ops, "-server-pid", strconv.Itoa(s.etcd.Pid())}}
}

// runAll loads every target at every concurrency, rounds times (the
// ceilings once), and returns the reports and whether every login of
// every run was accepted.
func (s *suite) runAll(ctx context.Context, targets []*target, concurrencies []int) ([]report, bool, error) {
	var reps []report
	allAccepted := true
	for _, c := range concurrencies {
		for r := 1; r <= s.cfg.Rounds; r++ {
			for _, t := range targets {
				if strings.HasPrefix(t.label, "ceiling") && r > 1 {
					continue
				}
				s.say("%s: concurrency %d, round %d/%d: %v warm-up + %v", t.label, c, r, s.cfg.Rounds, s.cfg.Warmup, s.cfg.Duration)
				rep, err := s.measureQuiet(ctx, targets, t, c, s.path("results", fmt.Sprintf("c%d-%s-%d.json", c, t.label, r)))
				if err != nil {
					return nil, false, err
				}
				if x := rep.Results; x.Logins == 0 || x.Accepts != x.Logins {
					s.say("%s at concurrency %d: not every request was accepted; see the table", t.label, c)
					allAccepted = false
				}
				reps = append(reps, rep)
			}
		}
	}
	return reps, allAccepted, nil
}

// measureQuiet measures t, and again up to -retries times while other
// work on the shared machine took more than busyOther cores, keeping the
// least disturbed run.
func (s *suite) measureQuiet(ctx context.Context, targets []*target, t *target, c int, path string) (report, error) {
	rep, err := s.measure(ctx, targets, t, c, path)
	for a := 1; a <= s.cfg.Retries && err == nil; a++ {
		other := otherCores(rep)
		if other <= busyOther {
			break
		}
		s.say("%s: other work took %.2f cores; again (%d/%d)", t.label, other, a, s.cfg.Retries)
		var again report
		if again, err = s.measure(ctx, targets, t, c, path+".again"); err == nil && otherCores(again) < other {
			rep = again
			err = os.Rename(path+".again", path)
		}
	}
	return rep, err
}

func otherCores(r report) float64 {
	if r.Results.OtherCores == nil {
		return 0
	}
	return *r.Results.OtherCores
}

// measure runs the generator once against t with the other targets
// paused, keeps its JSON report at path, and returns it. A run whose
// logins were not all accepted is a result (the table shows it); a
// generator that failed otherwise is an error.
func (s *suite) measure(ctx context.Context, targets []*target, t *target, c int, path string) (report, error) {
	for _, o := range targets {
		if o.proc != nil {
			if err := o.proc.Pause(); err != nil {
				return report{}, fmt.Errorf("pause %s: %w", o.label, err)
			}
		}
	}
	if t.proc != nil {
		if err := t.proc.Resume(); err != nil {
			return report{}, fmt.Errorf("resume %s: %w", t.label, err)
		}
	}
	args := append(t.args[:len(t.args):len(t.args)], "-concurrency", strconv.Itoa(c),
		"-duration", s.cfg.Duration.String(), "-warmup", s.cfg.Warmup.String(), "-label", t.label, "-json")
	var out bytes.Buffer
	err := s.bench(ctx, &out, s.stderr, args...)
	switch commandStatus(err) {
	case 0, 1: // 1: not every request was accepted
	case 130:
		return report{}, errInterrupted
	default:
		return report{}, fmt.Errorf("twostep-bench %s: %w", t.label, err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		return report{}, err
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return report{}, fmt.Errorf("twostep-bench %s: its report: %w", t.label, err)
	}
	return rep, nil
}

// stopTargets stops the servers a scenario is done with, so that they
// take nothing from the next one; slapd and etcd stay.
func stopTargets(targets []*target) {
	for _, t := range targets {
		if t.proc != nil {
			t.proc.Stop()
		}
	}
}

// compareTable is the settings list and the side-by-side table of a
// scenario's runs (as "twostep-bench compare" prints them).
func compareTable(reps []report, notes []string, ratios ...[2]string) (string, error) {
	if err := sameSettings(reps); err != nil {
		return "", err
	}
	return compareMarkdown(reps, notes, ratios...), nil
}

// publish prints a scenario's section and writes it into -out, unless
// some logins were not accepted or other work disturbed the runs (then
// the file keeps its figures, and the run ends with an error).
func (s *suite) publish(scenario, section, text string, allAccepted bool) error {
	text = strings.TrimRight(text, "\n")
	fmt.Fprintf(s.stdout, "\n%s\n\n", text)
	switch {
	case !allAccepted:
		s.say("%s: some runs had requests that were not accepted; %s left as it was", scenario, s.cfg.Out)
		s.unwritten = true
		return nil
	case strings.Contains(text, "**Disturbed**") && !s.cfg.Force:
		s.say("%s: other work took CPU during the runs (see Disturbed above); %s left as it was: rerun on a quiet machine, or with BENCH_FORCE=1 to write it anyway", scenario, s.cfg.Out)
		s.unwritten = true
		return nil
	case s.cfg.Out == "-":
		return nil
	}
	if err := spliceSection(s.cfg.Out, section, text); err != nil {
		return err
	}
	s.say("results written to %s", s.cfg.Out)
	return nil
}
