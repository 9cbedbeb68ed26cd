package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"twostep/cluster"
	"twostep/cmd/twostep-bench/internal/peer"
)

// portalConfig is one "twostep-bench portal" run.
type portalConfig struct {
	Twostepd    string
	Endpoints   []string // external etcd; empty: twostepd's embedded one
	Users       int
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	Progress    io.Writer
}

// runPortal is "twostep-bench portal": the self-service portal's two
// paths, a full sign-in and a page view, through HTTPS against a
// twostepd of its own, beside the same cluster operations sent to etcd
// directly (the ceiling the store allows).
func runPortal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := portalConfig{Progress: stderr}
	fs.StringVar(&cfg.Twostepd, "twostepd", "bin/twostepd", "the twostepd `binary` to start")
	fs.IntVar(&cfg.Users, "users", 2000, "users, each with a bypass code to sign in with")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "browsers at once, each from its own loopback address")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "load before measuring")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each path is measured")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	endpoints := fs.String("endpoints", "", "comma-separated client `URLs` of an external etcd on loopback (default: twostepd's embedded etcd)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: twostep-bench portal [-twostepd bin/twostepd] [-users 2000] [-concurrency 32] [flags]

Starts twostepd on loopback with the self-service portal (a self-signed
certificate), gives every user an unlimited bypass code, then measures,
each for -duration with -concurrency browsers (each its own cookie jar
and loopback source address, keep-alive connections):

  sign-in    POST /signin (password), GET /signin/factor, POST
             /signin/passcode (the bypass code), GET /devices
  page view  GET /devices with a signed-in session

and then the same cluster operations sent to etcd directly by this
program (session reads and writes, account loads, the bypass use), for
the ceiling the store allows.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 250 || cfg.Users < cfg.Concurrency || cfg.Duration <= 0 || cfg.Warmup < 0 {
		return usageError{"-concurrency 1 to 250, -users at least -concurrency (no two browsers share a user), -duration positive, -warmup 0 or more"}
	}
	if *endpoints != "" {
		cfg.Endpoints = strings.Split(*endpoints, ",")
	}
	res, err := benchPortal(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "sign-in:   %8.0f /s  p50 %6.2f ms  p99 %6.2f ms   (store ceiling %.0f /s)\n", res.SignInsPerSec, res.SignInP50ms, res.SignInP99ms, res.CeilingSignInsPerSec)
	fmt.Fprintf(stdout, "page view: %8.0f /s  p50 %6.2f ms  p99 %6.2f ms   (store ceiling %.0f /s)\n", res.PagesPerSec, res.PageP50ms, res.PageP99ms, res.CeilingPagesPerSec)
	fmt.Fprintf(stdout, "twostepd CPU: %.0f µs per sign-in, %.0f µs per page view\n", res.CPUPerSignInUs, res.CPUPerPageUs)
	return nil
}

// portalResult is what a run measured.
type portalResult struct {
	Users                int     `json:"users"`
	Concurrency          int     `json:"concurrency"`
	DurationSeconds      float64 `json:"duration_seconds"`
	SignInsPerSec        float64 `json:"sign_ins_per_sec"`
	SignInP50ms          float64 `json:"sign_in_p50_ms"`
	SignInP99ms          float64 `json:"sign_in_p99_ms"`
	PagesPerSec          float64 `json:"pages_per_sec"`
	PageP50ms            float64 `json:"page_p50_ms"`
	PageP99ms            float64 `json:"page_p99_ms"`
	CeilingSignInsPerSec float64 `json:"ceiling_sign_ins_per_sec"`
	CeilingPagesPerSec   float64 `json:"ceiling_pages_per_sec"`
	CPUPerSignInUs       float64 `json:"twostepd_cpu_per_sign_in_us"`
	CPUPerPageUs         float64 `json:"twostepd_cpu_per_page_us"`
}

var benchCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// benchPortal runs the portal scenario: its own twostepd with the
// portal, a bypass code per user, then sign-ins, page views, and the same
// cluster operations sent to etcd directly.
func benchPortal(ctx context.Context, cfg portalConfig) (*portalResult, error) {
	d, err := startPortalDaemon(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer d.close()
	accounts := cluster.NewAccounts(d.store, d.keys)
	sessions := cluster.NewSessions(d.store, d.keys)
	fmt.Fprintf(cfg.Progress, "portal: issuing %d bypass codes\n", cfg.Users)
	codes, err := issueBypassCodes(ctx, accounts, cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("issue bypass codes: %w", err)
	}
	res := &portalResult{Users: cfg.Users, Concurrency: cfg.Concurrency, DurationSeconds: cfg.Duration.Seconds()}
	ph := phase{Concurrency: cfg.Concurrency, Warmup: cfg.Warmup, Duration: cfg.Duration, ServerPID: d.pid()}
	// Worker w takes users w, w+C, w+2C, ...: no two share one.
	user := func(w, round int) int { return (w + round*cfg.Concurrency) % cfg.Users }
	if err := portalPages(ctx, cfg, ph, "https://"+addr(d.ports[0]), codes, user, res); err != nil {
		return nil, fmt.Errorf("%w; twostepd said:\n%s", err, d.tail())
	}

	// The ceiling: the same cluster operations, from this program.
	fmt.Fprintf(cfg.Progress, "portal: the store's ceiling\n")
	ph.ServerPID = 0
	r, err := ph.run(ctx, opWorker(ctx, func(w, round int) error {
		i := user(w, round)
		return storeSignIn(ctx, accounts, sessions, fmt.Sprintf("wu%d", i), codes[i])
	}))
	if err != nil {
		return nil, fmt.Errorf("store sign-in: %w", err)
	}
	res.CeilingSignInsPerSec, _, _, _ = opFigures(r)
	tokens := make([]string, cfg.Concurrency)
	for w := range tokens {
		now := time.Now()
		s := &cluster.Session{User: fmt.Sprintf("wu%d", user(w, 0)), Stage: cluster.StageSignedIn, Created: now, Expires: now.Add(time.Hour), Idle: time.Hour}
		if tokens[w], err = sessions.Create(ctx, s); err != nil {
			return nil, err
		}
	}
	if r, err = ph.run(ctx, opWorker(ctx, func(w, _ int) error { return storePage(ctx, accounts, sessions, tokens[w]) })); err != nil {
		return nil, fmt.Errorf("store page view: %w", err)
	}
	res.CeilingPagesPerSec, _, _, _ = opFigures(r)
	return res, nil
}

// startPortalDaemon starts the scenario's twostepd with the portal
// (self-signed, sign-in limits out of the way). Its ports: the portal.
func startPortalDaemon(ctx context.Context, cfg portalConfig) (*ownDaemon, error) {
	return startOwnDaemon(ctx, ownSpec{
		Name: "portal", Binary: cfg.Twostepd, Endpoints: cfg.Endpoints, Users: cfg.Users, Prefix: "wu", Ports: 1, Ready: 0,
		Progress: cfg.Progress,
		Config: func(c *peer.Twostepd, ports []int) {
			c.Radius = peer.TwostepdRadius{Listen: []string{"127.0.0.1:0"}}
			c.Clients = []peer.TwostepdClient{{Name: "bench", Networks: []string{"127.0.0.1/32"}, Secret: "portal-bench-secret-0123456789"}}
			c.Portal = &peer.TwostepdPortal{Listen: addr(ports[0]), SignInsPerMinute: 10000,
				AddressSignInsPerMinute: 1000000} // every bench browser shares 127.0.0.1
			c.Portal.TLS.SelfSigned = true
		},
	})
}

// issueBypassCodes gives users wu0..wu(n-1) an unlimited bypass code
// each, 32 at a time.
func issueBypassCodes(ctx context.Context, accounts *cluster.Accounts, n int) ([]string, error) {
	codes := make([]string, n)
	var wg sync.WaitGroup
	var issueErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			code, _, err := accounts.IssueBypass(ctx, fmt.Sprintf("wu%d", i), cluster.BypassSpec{MaxUses: 0, TTL: 24 * time.Hour, Digits: 9}, time.Now())
			if err != nil {
				issueErr.Store(err)
			}
			codes[i] = code
		})
	}
	wg.Wait()
	if err, _ := issueErr.Load().(error); err != nil {
		return nil, err
	}
	return codes, nil
}

// portalPages measures sign-ins (each a new browser session, a new
// cookie jar) and page views (each browser keeps its last signed-in
// session) over HTTPS.
func portalPages(ctx context.Context, cfg portalConfig, ph phase, base string, codes []string, user func(w, round int) int, res *portalResult) error {
	browsers := make([]*benchBrowser, cfg.Concurrency)
	for i := range browsers {
		browsers[i] = newBenchBrowser(base, i)
	}
	defer func() {
		for _, b := range browsers {
			b.client.CloseIdleConnections()
		}
	}()
	fmt.Fprintf(cfg.Progress, "portal: sign-ins, %d browsers, %v\n", cfg.Concurrency, cfg.Duration)
	r, err := ph.run(ctx, opWorker(ctx, func(w, round int) error {
		i := user(w, round)
		return browsers[w].signIn(fmt.Sprintf("wu%d", i), codes[i])
	}))
	if err != nil {
		return fmt.Errorf("sign-in: %w", err)
	}
	res.SignInsPerSec, res.SignInP50ms, res.SignInP99ms, res.CPUPerSignInUs = opFigures(r)
	fmt.Fprintf(cfg.Progress, "portal: page views\n")
	if r, err = ph.run(ctx, opWorker(ctx, func(w, _ int) error { return browsers[w].page() })); err != nil {
		return fmt.Errorf("page view: %w", err)
	}
	res.PagesPerSec, res.PageP50ms, res.PageP99ms, res.CPUPerPageUs = opFigures(r)
	return nil
}

// opWorker makes a phase worker that runs op back to back until the
// phase ends, timing what finishes in the measured part. The first
// failure ends the run: the figures would mean nothing.
func opWorker(ctx context.Context, op func(worker, round int) error) func(int, time.Time, time.Time) (tally, error) {
	return func(w int, measureStart, end time.Time) (tally, error) {
		var t tally
		for round := 0; ctx.Err() == nil; round++ {
			t0 := time.Now()
			if !t0.Before(end) {
				break
			}
			if err := op(w, round); err != nil {
				return t, err
			}
			if t1 := time.Now(); !t0.Before(measureStart) && !t1.After(end) {
				t.Logins++
				t.latency.record(t1.Sub(t0))
			}
		}
		return t, nil
	}
}

// opFigures are a phase's operations per second, p50 and p99 in ms, and
// the server's CPU per operation in µs (0 when not measured).
func opFigures(r loadResult) (perSec, p50, p99, cpuUs float64) {
	if r.Elapsed <= 0 || r.Logins == 0 {
		return 0, 0, 0, 0
	}
	perSec = float64(r.Logins) / r.Elapsed.Seconds()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99 = ms(r.latency.quantile(0.5)), ms(r.latency.quantile(0.99))
	if r.ServerCPUOK {
		cpuUs = float64(r.ServerCPU.Microseconds()) / float64(r.Logins)
	}
	return perSec, p50, p99, cpuUs
}

// benchBrowser is one simulated browser: its own loopback source address
// and keep-alive connections, a cookie jar per sign-in.
type benchBrowser struct {
	base   string
	client *http.Client
}

func newBenchBrowser(base string, i int) *benchBrowser {
	dialer := &net.Dialer{Timeout: 5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(1+i%250))}}
	tr := &http.Transport{
		DialContext: dialer.DialContext,
		// The portal's certificate is the demo's, made at its start.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		MaxIdleConnsPerHost: 2,
		ForceAttemptHTTP2:   true,
	}
	return &benchBrowser{base: base, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// signIn goes through the sign-in pages with a new cookie jar and keeps
// the jar, signed in, for page views.
func (b *benchBrowser) signIn(user, code string) error {
	jar, _ := cookiejar.New(nil)
	b.client.Jar = jar
	body, err := b.post("/signin", url.Values{"username": {user}, "password": {"bench-password"}})
	if err != nil {
		return err
	}
	m := benchCSRF.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, `id="code"`) {
		return fmt.Errorf("sign-in %s: no passcode form", user)
	}
	body, err = b.post("/signin/passcode", url.Values{"csrf": {m[1]}, "code": {code}})
	if err != nil {
		return err
	}
	if !strings.Contains(body, `id="add-device"`) {
		return fmt.Errorf("sign-in %s: not signed in after the bypass code", user)
	}
	return nil
}

func (b *benchBrowser) page() error {
	resp, err := b.client.Get(b.base + "/devices")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="add-device"`) {
		return fmt.Errorf("page view: %d %v", resp.StatusCode, err)
	}
	return nil
}

// post sends a form as a same-origin page would and follows the
// redirect, returning the final page.
func (b *benchBrowser) post(path string, form url.Values) (string, error) {
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d", path, resp.StatusCode)
	}
	return string(body), nil
}

// storeSignIn is what a portal sign-in asks of the cluster, sent
// directly: the password page (account, new session), the factor page
// (session, account), the bypass code (session, account, the code's
// use, the session under a new token) and the settings page (session,
// account).
func storeSignIn(ctx context.Context, accounts *cluster.Accounts, sessions *cluster.Sessions, user, code string) error {
	if _, err := accounts.Load(ctx, user); err != nil {
		return err
	}
	now := time.Now()
	s := &cluster.Session{User: user, Stage: cluster.StagePassword, Created: now, Expires: now.Add(time.Hour), Idle: 15 * time.Minute, Attempts: 5}
	token, err := sessions.Create(ctx, s)
	if err != nil {
		return err
	}
	if _, err = sessions.Get(ctx, token); err != nil {
		return err
	}
	if _, err := accounts.Load(ctx, user); err != nil {
		return err
	}
	if s, err = sessions.Get(ctx, token); err != nil {
		return err
	}
	acct, err := accounts.Load(ctx, user)
	if err != nil {
		return err
	}
	if _, err := accounts.UseBypass(ctx, acct, code, now); err != nil {
		return err
	}
	s.Stage = cluster.StageSignedIn
	if token, err = sessions.Rotate(ctx, s); err != nil {
		return err
	}
	return storePage(ctx, accounts, sessions, token)
}

// storePage is what a settings page view asks of the cluster: the
// session, then the account (for the lock check and the page).
func storePage(ctx context.Context, accounts *cluster.Accounts, sessions *cluster.Sessions, token string) error {
	s, err := sessions.Get(ctx, token)
	if err != nil {
		return err
	}
	_, err = accounts.Load(ctx, s.User)
	return err
}
