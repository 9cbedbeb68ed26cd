package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, "; ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// runCompare is "twostep-bench compare": it reads -json reports of runs
// made with the same settings and prints them side by side as a Markdown
// table, with the ratio of two labels at each concurrency.
func runCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ratioFlags listFlag
	fs.Var(&ratioFlags, "ratio", "`a/b`: labels whose requests/s, latency and efficiency are divided (repeatable; default twostepd/freeradius)")
	var notes listFlag
	fs.Var(&notes, "setting", "`text` printed in the settings list above the table (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: twostep-bench compare [-ratio a/b]... [-setting text]... REPORT.json...")
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	if len(ratioFlags) == 0 {
		ratioFlags = listFlag{"twostepd/freeradius"}
	}
	var ratios [][2]string
	for _, r := range ratioFlags {
		num, den, ok := strings.Cut(r, "/")
		if !ok || num == "" || den == "" {
			return usageError{fmt.Sprintf("compare: -ratio %q: want a/b", r)}
		}
		ratios = append(ratios, [2]string{num, den})
	}
	if fs.NArg() == 0 {
		return usageError{"compare: no reports given"}
	}
	var reps []report
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("compare: %s: %w", p, err)
		}
		if r.Settings.Label == "" {
			return fmt.Errorf("compare: %s: no label (run with -label)", p)
		}
		reps = append(reps, r)
	}
	if err := sameSettings(reps); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	_, err := io.WriteString(stdout, compareMarkdown(reps, notes, ratios...))
	return err
}

// sameSettings refuses to compare runs that did not share the settings that
// matter, apart from the target, the concurrency and the kind of login. An
// ldap or etcd run (a directory or store ceiling) has no RADIUS settings
// to share: only the users, the phases and the machine must match.
func sameSettings(reps []report) error {
	key := func(s settings, radius bool) settings {
		s.Label, s.Server, s.Concurrency, s.Protocol = "", "", 0, ""
		s.Login, s.DevicesPerUser, s.PairsPerStep = "", 0, 0
		if !radius {
			s.MessageAuthenticator, s.Retries, s.RequestsLimit = false, 0, 0
		}
		return s
	}
	f := reps[0].Settings
	for _, r := range reps[1:] {
		radius := f.Protocol == "" && r.Settings.Protocol == ""
		if a, b := key(f, radius), key(r.Settings, radius); a != b {
			return fmt.Errorf("runs %q and %q differ in settings other than target and concurrency: %+v vs %+v",
				f.Label, r.Settings.Label, a, b)
		}
	}
	return nil
}

// compareMarkdown renders the settings list, one row per run grouped by
// concurrency, and a ratio row num/den under each group for each ratio
// whose two labels both ran.
func compareMarkdown(reps []report, notes []string, ratios ...[2]string) string {
	var b strings.Builder
	writeSettingsList(&b, reps, notes)
	cols := columnsOf(reps)
	cols.writeHeader(&b)
	var concs []int
	for _, r := range reps {
		if !slices.Contains(concs, r.Settings.Concurrency) {
			concs = append(concs, r.Settings.Concurrency)
		}
	}
	slices.Sort(concs)
	var disturbed, waited []string
	for _, c := range concs {
		agg := map[string]*aggregate{}
		for _, r := range reps {
			if r.Settings.Concurrency != c {
				continue
			}
			cols.writeRow(&b, r)
			x := r.Results
			if x.OtherCores != nil && *x.OtherCores > busyOther {
				disturbed = append(disturbed, fmt.Sprintf("%s at %d (%.2f)", r.Settings.Label, c, *x.OtherCores))
			}
			if x.PairWait > 0 {
				waited = append(waited, fmt.Sprintf("%s at %d (%.1fs)", r.Settings.Label, c, x.PairWait))
			}
			if agg[r.Settings.Label] == nil {
				agg[r.Settings.Label] = &aggregate{}
			}
			agg[r.Settings.Label].add(x)
		}
		for _, nd := range ratios {
			cols.writeRatio(&b, c, nd, agg)
		}
	}
	if len(waited) > 0 {
		fmt.Fprintf(&b, "\n**Pairs ran out**: every (user, device) pair of a TOTP step was used during %s (seconds each worker waited for the next step); those rows are lower than the server allows: enroll more users or devices.\n",
			strings.Join(waited, ", "))
	}
	if len(disturbed) > 0 {
		fmt.Fprintf(&b, "\n**Disturbed**: other work took more than %.2f cores during %s; rerun on a quiet machine before drawing conclusions.\n",
			busyOther, strings.Join(disturbed, ", "))
	}
	return b.String()
}

// writeSettingsList writes the machine, the load and the notes, from the
// first RADIUS run (or the first run, when none is).
func writeSettingsList(b *strings.Builder, reps []report, notes []string) {
	s := reps[0].Settings
	for _, r := range reps {
		if r.Settings.Protocol == "" { // describe the RADIUS load, if any
			s = r.Settings
			break
		}
	}
	ma := "sent and required in every answer"
	if !s.MessageAuthenticator {
		ma = "off"
	}
	fmt.Fprintf(b, "- Machine: %d CPUs, shared by the generator (twostep-bench %s, GOMAXPROCS %d) and the server under test\n", s.CPUs, s.Generator, s.GOMAXPROCS)
	fmt.Fprintf(b, "- Load: %d users rotated, PAP, Message-Authenticator %s; closed loop (one request in flight per simulated NAS); warm-up %gs, then %gs measured per run; timeout %gs, retries %d\n",
		s.Users, ma, s.WarmupSeconds, s.DurationSeconds, s.TimeoutSeconds, s.Retries)
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}

// columns are the table's optional columns, there when a run has them:
// logins/s when a login took two requests (challenge), directory and
// store cores when a run measured them.
type columns struct {
	logins, dir, store bool
}

func columnsOf(reps []report) columns {
	return columns{
		logins: slices.ContainsFunc(reps, func(r report) bool { return r.Results.Logins != 0 && r.Results.Logins != r.Results.Requests }),
		dir:    slices.ContainsFunc(reps, func(r report) bool { return r.Results.DirectoryCores != nil }),
		store:  slices.ContainsFunc(reps, func(r report) bool { return r.Results.StoreCores != nil }),
	}
}

func (c columns) writeHeader(b *strings.Builder) {
	head, sep := "", ""
	if c.logins {
		head, sep = " logins/s |", "---:|"
	}
	b.WriteString("\n| concurrency | server |" + head + " requests/s | p50 ms | p90 ms | p99 ms | max ms | timeouts | bad | server cores |")
	sep += "---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	if c.logins {
		b.WriteString(" logins per server CPU-s |")
	} else {
		b.WriteString(" answers per server CPU-s |")
	}
	if c.dir {
		b.WriteString(" directory cores |")
		sep += "---:|"
	}
	if c.store {
		b.WriteString(" store cores |")
		sep += "---:|"
	}
	b.WriteString(" generator cores | other cores |\n")
	b.WriteString("|---:|---|" + sep + "---:|---:|\n")
}

// writeRow writes one run's row.
func (c columns) writeRow(b *strings.Builder, r report) {
	x := r.Results
	cores, eff := "n/a", "n/a"
	if x.Server != nil {
		cores = fmt.Sprintf("%.2f", x.Server.Cores)
		eff = fmt.Sprintf("%.0f", x.Server.RequestsPerCPUSec)
	}
	other := "n/a"
	if x.OtherCores != nil {
		other = fmt.Sprintf("%.2f", *x.OtherCores)
	}
	opt := func(v *float64) string {
		if v == nil {
			return " n/a |"
		}
		return fmt.Sprintf(" %.2f |", *v)
	}
	logins, extra := "", ""
	if c.logins {
		logins = fmt.Sprintf(" %.0f |", loginsPerSec(x))
	}
	if c.dir {
		extra += opt(x.DirectoryCores)
	}
	if c.store {
		extra += opt(x.StoreCores)
	}
	msv := func(us float64) string { return fmt.Sprintf("%.2f", us/1e3) }
	l := x.LatencyMicros
	fmt.Fprintf(b, "| %d | %s |%s %.0f | %s | %s | %s | %s | %d | %d | %s | %s |%s %.2f | %s |\n",
		r.Settings.Concurrency, r.Settings.Label, logins, x.RequestsPerSec, msv(l.P50), msv(l.P90), msv(l.P99), msv(l.Max),
		x.Timeouts, x.BadResponses, cores, eff, extra, x.GeneratorCores, other)
}

// writeRatio writes the row num/den at concurrency conc, when both ran.
// The ratio is of logins: for single-request logins the same as
// requests.
func (c columns) writeRatio(b *strings.Builder, conc int, nd [2]string, agg map[string]*aggregate) {
	num, den := nd[0], nd[1]
	a, d := agg[num], agg[den]
	if a == nil || d == nil {
		return
	}
	rate := " **" + times(a.lps/a.n, d.lps/d.n) + "** |"
	if c.logins {
		rate += " |" // requests/s: not compared
	}
	gap := ""
	if c.dir {
		gap += " |"
	}
	if c.store {
		gap += " |"
	}
	fmt.Fprintf(b, "| %d | **%s / %s** |%s %s | %s | %s | | | | | %s |%s | |\n",
		conc, num, den, rate, times(a.p50/a.n, d.p50/d.n), times(a.p90/a.n, d.p90/d.n),
		times(a.p99/a.n, d.p99/d.n), times(a.eff/a.n, d.eff/d.n), gap)
}

// busyOther is how much CPU other work (and the kernel's share of the
// network processing) may take during a run before the table says the
// figures are disturbed. On a quiet machine it stays near 0.1 cores.
const busyOther = 0.25

// aggregate sums runs of one label at one concurrency, for the ratio row.
type aggregate struct {
	n, lps, p50, p90, p99, eff float64
}

func (a *aggregate) add(x results) {
	a.n++
	a.lps += loginsPerSec(x)
	a.p50 += x.LatencyMicros.P50
	a.p90 += x.LatencyMicros.P90
	a.p99 += x.LatencyMicros.P99
	if x.Server != nil {
		a.eff += x.Server.RequestsPerCPUSec
	}
}

// times formats a ratio, or n/a when it has no meaning.
func times(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// loginsPerSec is x's logins/s; reports written before logins were
// counted have requests/s only, which was the same.
func loginsPerSec(x results) float64 {
	if x.Logins == 0 && x.LoginsPerSec == 0 {
		return x.RequestsPerSec
	}
	return x.LoginsPerSec
}
