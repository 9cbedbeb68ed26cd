package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// settings are printed beside the figures so that a result is never read
// without what produced it.
type settings struct {
	Label                string  `json:"label,omitempty"`
	Server               string  `json:"server"`
	Protocol             string  `json:"protocol,omitempty"` // "" for RADIUS; "ldap MODE" for twostep-bench ldap, "etcd OPS" for twostep-bench etcd
	Login                string  `json:"login,omitempty"`    // "" or pap: the password alone; append; challenge
	DevicesPerUser       int     `json:"devices_per_user,omitempty"`
	PairsPerStep         int     `json:"pairs_per_step,omitempty"` // (user, device) pairs: logins one TOTP step allows
	Concurrency          int     `json:"concurrency"`
	WarmupSeconds        float64 `json:"warmup_s"`
	DurationSeconds      float64 `json:"duration_s"`
	RequestsLimit        uint64  `json:"requests_limit"`
	TimeoutSeconds       float64 `json:"timeout_s"`
	Retries              int     `json:"retries"`
	Users                int     `json:"users"`
	MessageAuthenticator bool    `json:"message_authenticator"`
	GOMAXPROCS           int     `json:"gomaxprocs"`
	CPUs                 int     `json:"cpus"`
	Generator            string  `json:"generator"` // twostep-bench version
}

// latencies are in microseconds in JSON.
type latencies struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type results struct {
	ElapsedSeconds float64           `json:"elapsed_s"`
	Requests       uint64            `json:"requests"`
	RequestsPerSec float64           `json:"requests_per_s"`
	Logins         uint64            `json:"logins"` // as requests, but a challenge login's two requests count once
	LoginsPerSec   float64           `json:"logins_per_s"`
	Accepts        uint64            `json:"accepts"`
	Rejects        uint64            `json:"rejects"`
	Challenges     uint64            `json:"challenges"`
	Timeouts       uint64            `json:"timeouts"`
	BadResponses   uint64            `json:"bad_responses"`
	BadReasons     map[string]uint64 `json:"bad_reasons,omitempty"`
	Errors         uint64            `json:"socket_errors"`
	Retransmits    uint64            `json:"retransmits"`
	Stray          uint64            `json:"stray_responses"`
	LatencyMicros  latencies         `json:"latency_us"`
	GeneratorCPU   float64           `json:"generator_cpu_s"`
	GeneratorCores float64           `json:"generator_cores"` // CPU seconds per second of the measured phase
	Server         *serverCost       `json:"server,omitempty"`
	OtherCores     *float64          `json:"other_cores,omitempty"`     // busy CPUs minus generator, server, directory and store: other work on the machine
	DirectoryCores *float64          `json:"directory_cores,omitempty"` // the directory server's CPU (-directory-pid)
	StoreCores     *float64          `json:"store_cores,omitempty"`     // the cluster store's CPU (-store-pid)
	PairWait       float64           `json:"pair_wait_s,omitempty"`     // seconds the average worker waited for a fresh TOTP step
	Interrupted    bool              `json:"interrupted,omitempty"`
}

// serverCost is the server's CPU use over the measured phase (-server-pid).
type serverCost struct {
	CPUSeconds        float64 `json:"cpu_s"`
	Cores             float64 `json:"cores"`
	RequestsPerCPUSec float64 `json:"requests_per_cpu_s"` // answered requests per CPU-second: efficiency on a shared machine
}

// report is one run: settings and results.
type report struct {
	Settings settings `json:"settings"`
	Results  results  `json:"results"`
}

func newReport(s settings, r loadResult) report {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	h := &r.latency
	res := results{
		ElapsedSeconds: r.Elapsed.Seconds(),
		Requests:       r.Requests,
		Logins:         r.Logins,
		Accepts:        r.Accepts,
		Rejects:        r.Rejects,
		Challenges:     r.Challenges,
		Timeouts:       r.Timeouts,
		BadResponses:   r.Bad,
		BadReasons:     r.BadReasons,
		Errors:         r.Errors,
		Retransmits:    r.Retransmits,
		Stray:          r.Stray,
		LatencyMicros: latencies{
			Min:  us(h.min),
			Mean: us(h.mean()),
			P50:  us(h.quantile(0.50)),
			P90:  us(h.quantile(0.90)),
			P99:  us(h.quantile(0.99)),
			Max:  us(h.max),
		},
		GeneratorCPU: r.CPU.Seconds(),
		Interrupted:  r.Interrupted,
	}
	if r.Elapsed > 0 {
		res.RequestsPerSec = float64(r.Requests) / r.Elapsed.Seconds()
		res.LoginsPerSec = float64(r.Logins) / r.Elapsed.Seconds()
		res.GeneratorCores = r.CPU.Seconds() / r.Elapsed.Seconds()
	}
	if r.ServerCPUOK {
		sc := &serverCost{CPUSeconds: r.ServerCPU.Seconds()}
		if r.Elapsed > 0 {
			sc.Cores = r.ServerCPU.Seconds() / r.Elapsed.Seconds()
		}
		if r.ServerCPU > 0 {
			sc.RequestsPerCPUSec = float64(r.Accepts+r.Rejects+r.Challenges) / r.ServerCPU.Seconds()
		}
		res.Server = sc
	}
	if r.DirectoryCPUOK && r.Elapsed > 0 {
		d := r.DirectoryCPU.Seconds() / r.Elapsed.Seconds()
		res.DirectoryCores = &d
	}
	if r.StoreCPUOK && r.Elapsed > 0 {
		c := r.StoreCPU.Seconds() / r.Elapsed.Seconds()
		res.StoreCores = &c
	}
	if s.Concurrency > 0 {
		res.PairWait = r.PairWait.Seconds() / float64(s.Concurrency)
	}
	if r.SystemCPUOK && r.ServerCPUOK && r.Elapsed > 0 {
		other := r.SystemCPU - r.CPU - r.ServerCPU
		if r.DirectoryCPUOK {
			other -= r.DirectoryCPU
		}
		if r.StoreCPUOK {
			other -= r.StoreCPU
		}
		cores := max(other.Seconds()/r.Elapsed.Seconds(), 0)
		res.OtherCores = &cores
	}
	return report{Settings: s, Results: res}
}

func (r report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r report) writeText(w io.Writer) error {
	s, x := r.Settings, r.Results
	var b strings.Builder
	target := s.Server
	if s.Label != "" {
		target += " (" + s.Label + ")"
	}
	ma := "off"
	if s.MessageAuthenticator {
		ma = "sent and required"
	}
	measured := fmt.Sprintf("%gs", s.DurationSeconds)
	if s.RequestsLimit > 0 {
		measured = fmt.Sprintf("%d requests (at most %gs)", s.RequestsLimit, s.DurationSeconds)
	}
	line := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s", k)
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("target", "%s", target)
	line("settings", "concurrency %d, warm-up %gs, measured %s, timeout %gs, retries %d, users %d",
		s.Concurrency, s.WarmupSeconds, measured, s.TimeoutSeconds, s.Retries, s.Users)
	if s.Login != "" {
		line("", "login %s: %d TOTP devices per user, %d (user, device) pairs per step", s.Login, s.DevicesPerUser, s.PairsPerStep)
	}
	line("", "Message-Authenticator %s, GOMAXPROCS %d, CPUs %d, twostep-bench %s", ma, s.GOMAXPROCS, s.CPUs, s.Generator)
	if x.Logins != x.Requests {
		line("throughput", "%.0f logins/s, %.0f requests/s (%d logins, %d requests in %.2fs)", x.LoginsPerSec, x.RequestsPerSec, x.Logins, x.Requests, x.ElapsedSeconds)
	} else {
		line("throughput", "%.0f requests/s (%d requests in %.2fs)", x.RequestsPerSec, x.Requests, x.ElapsedSeconds)
	}
	line("answers", "accept %d, reject %d, challenge %d (the last answer of each login)", x.Accepts, x.Rejects, x.Challenges)
	line("failures", "timeouts %d, bad responses %d, socket errors %d (retransmits %d, stray %d)",
		x.Timeouts, x.BadResponses, x.Errors, x.Retransmits, x.Stray)
	for _, k := range slices.Sorted(maps.Keys(x.BadReasons)) {
		line("", "bad: %s: %d", k, x.BadReasons[k])
	}
	l := x.LatencyMicros
	line("latency", "p50 %s  p90 %s  p99 %s  max %s  (mean %s)", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), ms(l.Mean))
	line("generator CPU", "%.2f cores (%.1fs)", x.GeneratorCores, x.GeneratorCPU)
	if x.OtherCores != nil {
		line("other CPU", "%.2f cores busy with other work, kernel network processing included", *x.OtherCores)
	}
	if x.DirectoryCores != nil {
		line("directory CPU", "%.2f cores", *x.DirectoryCores)
	}
	if x.StoreCores != nil {
		line("store CPU", "%.2f cores", *x.StoreCores)
	}
	if x.PairWait > 0 {
		line("WARNING", "every (user, device) pair of a TOTP step was used: workers waited %.1fs each on average for the next step; enroll more users or devices", x.PairWait)
	}
	if x.Server != nil {
		line("server CPU", "%.2f cores (%.1fs), %.0f logins answered per CPU-second", x.Server.Cores, x.Server.CPUSeconds, x.Server.RequestsPerCPUSec)
	}
	if x.Interrupted {
		line("interrupted", "the run was stopped early; figures cover the part that ran")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ms formats microseconds as milliseconds with three significant digits.
func ms(us float64) string {
	v := us / 1e3
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.3fms", v)
	}
}

// verdict turns a finished run into the exit status: an error when it was
// interrupted, when no valid answer came back, or when -expect names an
// answer and some measured request got anything else.
func (r report) verdict(expect string) error {
	x := r.Results
	if x.Interrupted {
		return errInterrupted
	}
	valid := x.Accepts + x.Rejects + x.Challenges
	if valid == 0 {
		why := ""
		if x.PairWait > 0 {
			why = fmt.Sprintf("; every (user, device) pair of the TOTP step was already used, and the workers waited %.1fs for the next", x.PairWait)
		}
		return fmt.Errorf("no valid answer from %s (%d timeouts, %d bad responses, %d socket errors%s)",
			r.Settings.Server, x.Timeouts, x.BadResponses, x.Errors, why)
	}
	var want uint64
	switch expect {
	case "accept":
		want = x.Accepts
	case "reject":
		want = x.Rejects
	case "challenge":
		want = x.Challenges
	default:
		return nil
	}
	if want != x.Logins {
		return fmt.Errorf("-expect %s: %d of %d measured logins got another outcome", expect, x.Logins-want, x.Logins)
	}
	return nil
}

// peerRun is a closed loop against a peer of twostepd itself (the
// directory in `ldap`, the store in `etcd`): the ceiling that peer allows.
type peerRun struct {
	label, server, protocol string
	concurrency, users      int
	warmup, duration        time.Duration
	timeout                 time.Duration
}

// writePeerReport prints a peer run's report, its server's CPU also as
// the peer's column (set by peerCores), and says whether every request
// was accepted.
func writePeerReport(w io.Writer, asJSON bool, p peerRun, res loadResult, peerCores func(*results, *float64)) error {
	rep := newReport(settings{
		Label:           p.label,
		Server:          p.server,
		Protocol:        p.protocol,
		Concurrency:     p.concurrency,
		WarmupSeconds:   p.warmup.Seconds(),
		DurationSeconds: p.duration.Seconds(),
		TimeoutSeconds:  p.timeout.Seconds(),
		Users:           p.users,
		GOMAXPROCS:      runtime.GOMAXPROCS(0),
		CPUs:            runtime.NumCPU(),
		Generator:       version,
	}, res)
	if x := rep.Results.Server; x != nil { // the server under load is the peer
		c := x.Cores
		peerCores(&rep.Results, &c)
	}
	var err error
	if asJSON {
		err = rep.writeJSON(w)
	} else {
		err = rep.writeText(w)
	}
	if err != nil {
		return err
	}
	return rep.verdict("accept")
}
