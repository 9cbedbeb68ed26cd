package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/cluster"
	"twostep/cmd/twostep-bench/internal/peer"
	"twostep/notify"
	"twostep/portal"
	"twostep/radiusd"
)

// pushConfig is one "twostep-bench push" run.
type pushConfig struct {
	Twostepd    string
	Endpoints   []string // external etcd; empty: twostepd's embedded one
	Pending     int
	Concurrency int // approvals posted at once (without ApproveRate)
	ApproveRate int // approvals per second, each on its own (open loop); 0: as fast as Concurrency allows
	SendRate    int // Access-Requests per second while building up
	Progress    io.Writer
}

// runPush is "twostep-bench push": it starts a twostepd of its own
// (embedded etcd, users file, push approval on loopback), gives N users
// a push device whose webhook is this program, sends N logins that each
// wait for a push, measures the daemon's memory with all N pending, then
// approves them all and measures the time from each approval to its
// Access-Accept.
func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := pushConfig{Progress: stderr}
	fs.StringVar(&cfg.Twostepd, "twostepd", "bin/twostepd", "the twostepd `binary` to start")
	fs.IntVar(&cfg.Pending, "pending", 5000, "logins waiting for a push at once")
	fs.IntVar(&cfg.Concurrency, "concurrency", 32, "approvals posted at once, when -approve-rate is 0")
	fs.IntVar(&cfg.ApproveRate, "approve-rate", 250, "approvals posted per second, each on its own (as users tap Approve); 0: a burst, -concurrency at a time")
	fs.IntVar(&cfg.SendRate, "rate", 1000, "Access-Requests per second while the pending logins build up")
	jsonOut := fs.Bool("json", false, "print the results as JSON")
	endpoints := fs.String("endpoints", "", "comma-separated client `URLs` of an external etcd on loopback (default: twostepd's embedded etcd, whose memory then counts in twostepd's)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: twostep-bench push [-twostepd bin/twostepd] [-pending 5000] [flags]

Starts twostepd on loopback with an embedded etcd and push approval, gives
-pending users a push device whose webhook is this program, sends one
"password,push" login per user and waits until every notification has
arrived (all logins pending at once), reads twostepd's resident memory,
then approves every push through the approval API with the device's
signature and times each approval to its Access-Accept.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	if cfg.Pending < 1 || cfg.Pending > 50000 || cfg.Concurrency < 1 || cfg.SendRate < 1 || cfg.ApproveRate < 0 {
		return usageError{"-pending must be 1 to 50000, -concurrency and -rate positive, -approve-rate 0 or more"}
	}
	if *endpoints != "" {
		cfg.Endpoints = strings.Split(*endpoints, ",")
	}
	res, err := benchPush(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "pending pushes:        %d (all notified after %.1fs)\n", res.Pending, res.BuildUpSeconds)
	fmt.Fprintf(stdout, "twostepd RSS:          %.1f MB idle, %.1f MB with all pending, %.1f MB after\n", res.RSSIdleMB, res.RSSPendingMB, res.RSSAfterMB)
	fmt.Fprintf(stdout, "Go runtime, pending:   %.0f goroutines, heap in use %.1f MB, stacks %.1f MB\n",
		res.GoPending["go_goroutines"], res.GoPending["go_memstats_heap_inuse_bytes"]/(1<<20), res.GoPending["go_memstats_stack_inuse_bytes"]/(1<<20))
	fmt.Fprintf(stdout, "approval -> Accept:    p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d accepted, %d other)\n", res.P50ms, res.P99ms, res.MaxMs, res.Accepted, res.Other)
	fmt.Fprintf(stdout, "approval API answer:   p50 %.2f ms, p99 %.2f ms\n", res.APIP50ms, res.APIP99ms)
	return nil
}

// pushResult is what a run measured.
type pushResult struct {
	Pending        int     `json:"pending"`
	BuildUpSeconds float64 `json:"build_up_seconds"`
	RSSIdleMB      float64 `json:"rss_idle_mb"`
	RSSPendingMB   float64 `json:"rss_pending_mb"`
	RSSAfterMB     float64 `json:"rss_after_mb"`
	P50ms          float64 `json:"approval_to_accept_p50_ms"`
	P99ms          float64 `json:"approval_to_accept_p99_ms"`
	MaxMs          float64 `json:"approval_to_accept_max_ms"`
	APIP50ms       float64 `json:"api_p50_ms"`
	APIP99ms       float64 `json:"api_p99_ms"`
	// GoPending is the Go runtime's own account with every login pending.
	GoPending map[string]float64 `json:"go_runtime_pending"`
	Accepted  int                `json:"accepted"`
	Other     int                `json:"other"`
}

const pushBenchSecret = "push-bench-secret-0123456789"

// benchPush runs the push scenario: its own twostepd, a push device per
// user, every login pending at once, then every push approved.
func benchPush(ctx context.Context, cfg pushConfig) (*pushResult, error) {
	n := cfg.Pending
	ph, err := startPhone(n)
	if err != nil {
		return nil, err
	}
	defer ph.close()
	d, err := startPushDaemon(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer d.close()
	fmt.Fprintf(cfg.Progress, "push: enrolling %d push devices\n", n)
	devKeys, err := enrollPushDevices(ctx, cluster.NewAccounts(d.store, d.keys), n, ph.url)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	time.Sleep(2 * time.Second) // let the daemon settle before the idle reading
	res := &pushResult{Pending: n, RSSIdleMB: rssMB(d.pid())}

	ls, err := newPushLogins(addr(d.ports[1]), n)
	if err != nil {
		return nil, err
	}
	defer ls.close()
	fmt.Fprintf(cfg.Progress, "push: sending %d logins at %d/s\n", n, cfg.SendRate)
	start := time.Now()
	got, err := ls.pend(ph.notes, cfg.SendRate)
	if err != nil {
		return nil, fmt.Errorf("%w; twostepd said:\n%s", err, d.tail())
	}
	res.BuildUpSeconds = time.Since(start).Seconds()
	res.RSSPendingMB = rssMB(d.pid())
	res.GoPending = goMemory("http://" + d.metrics + "/metrics")
	fmt.Fprintf(cfg.Progress, "push: %d pending, RSS %.1f MB; approving\n", n, res.RSSPendingMB)

	approved, apiTimes, err := approveAll(ctx, cfg, "http://"+addr(d.ports[0]), got, devKeys)
	if err != nil {
		return nil, err
	}
	lat := ls.accepted(approved, res)
	res.RSSAfterMB = rssMB(d.pid())
	res.P50ms, res.P99ms, res.MaxMs = pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1)
	res.APIP50ms, res.APIP99ms = pct(apiTimes, 0.50), pct(apiTimes, 0.99)
	return res, nil
}

// startPushDaemon starts the scenario's twostepd: one client in append
// mode that waits as a NAS with a 30 s timeout would, push limits off.
// Its ports: the approval API, RADIUS.
func startPushDaemon(ctx context.Context, cfg pushConfig) (*ownDaemon, error) {
	retries := 2
	return startOwnDaemon(ctx, ownSpec{
		Name: "push", Binary: cfg.Twostepd, Endpoints: cfg.Endpoints, Users: cfg.Pending, Prefix: "pu", Ports: 2, Ready: 0,
		Progress: cfg.Progress,
		Config: func(c *peer.Twostepd, ports []int) {
			c.Radius = peer.TwostepdRadius{Listen: []string{addr(ports[1])}, RejectDelay: "0s"}
			c.Clients = []peer.TwostepdClient{{Name: "bench", Networks: []string{"127.0.0.1/32"}, Secret: pushBenchSecret,
				Mode: "append", NASTimeout: "30s", NASRetries: &retries}}
			// Limit count 0: off. Every phone answers from 127.0.0.1,
			// which the per-address budget would otherwise hold to 600
			// answers a minute.
			c.Push = &peer.TwostepdPush{Listen: addr(ports[0]), Timeout: "2m", AnswersPerMinute: 1000000}
		},
	})
}

// phone is the users' phones: one webhook receiver for every device.
type phone struct {
	url   string
	notes chan notify.Message
	srv   *http.Server
}

func startPhone(n int) (*phone, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ph := &phone{url: "http://" + l.Addr().String() + "/hook", notes: make(chan notify.Message, n)}
	ph.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m notify.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ph.notes <- m
		w.WriteHeader(http.StatusNoContent)
	})}
	go ph.srv.Serve(l)
	return ph, nil
}

func (ph *phone) close() { ph.srv.Close() }

// enrollPushDevices gives users pu0..pu(n-1) a push device each, whose
// webhook is hook, through the cluster API, 32 at a time.
func enrollPushDevices(ctx context.Context, accounts *cluster.Accounts, n int, hook string) ([]portal.DeviceKey, error) {
	devKeys := make([]portal.DeviceKey, n)
	var wg sync.WaitGroup
	var enrollErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			devKeys[i] = portal.DeviceKey{Key: k}
			d, _ := cluster.NewPushDevice("phone", cluster.PushDevice{PublicKey: devKeys[i].PublicKey(), Kind: notify.KindWebhook,
				Endpoint: hook, Secret: []byte("hook")}, time.Now())
			if _, err := accounts.AddDevice(ctx, fmt.Sprintf("pu%d", i), d); err != nil {
				enrollErr.Store(err)
			}
		})
	}
	wg.Wait()
	if err, _ := enrollErr.Load().(error); err != nil {
		return nil, err
	}
	return devKeys, nil
}

// pushLogins are the scenario's logins: many NAS sockets, perSocket
// requests in flight on each, and when each one's answer arrived.
type pushLogins struct {
	logins  []*pushLogin
	conns   []*net.UDPConn
	arrived []time.Time
}

// pushLogin is one "password,push" login waiting for its answer.
type pushLogin struct {
	idx      int
	req      []byte
	conn     *net.UDPConn
	accepted chan radius.Code
}

const perSocket = 200

// newPushLogins signs one login per user and starts a reader per socket.
func newPushLogins(radiusAddr string, n int) (*pushLogins, error) {
	ls := &pushLogins{logins: make([]*pushLogin, n), arrived: make([]time.Time, n)}
	byKey := map[[2]int]*pushLogin{} // (socket, identifier)
	raddr, err := net.ResolveUDPAddr("udp", radiusAddr)
	if err != nil {
		return nil, err
	}
	for i := range n {
		if i%perSocket == 0 {
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, raddr)
			if err != nil {
				ls.close()
				return nil, err
			}
			c.SetReadBuffer(4 << 20)
			ls.conns = append(ls.conns, c)
		}
		p := radius.New(radius.CodeAccessRequest, []byte(pushBenchSecret))
		p.Identifier = byte(i % perSocket)
		rfc2865.UserName_SetString(p, fmt.Sprintf("pu%d", i))
		rfc2865.UserPassword_SetString(p, "bench-password,push")
		b, err := radiusd.SignRequest(p)
		if err != nil {
			ls.close()
			return nil, err
		}
		l := &pushLogin{idx: i, req: b, conn: ls.conns[len(ls.conns)-1], accepted: make(chan radius.Code, 1)}
		ls.logins[i] = l
		byKey[[2]int{len(ls.conns) - 1, i % perSocket}] = l
	}
	for ci, c := range ls.conns {
		go ls.read(ci, c, byKey)
	}
	return ls, nil
}

// read takes the answers of socket ci until it is closed.
func (ls *pushLogins) read(ci int, c *net.UDPConn, byKey map[[2]int]*pushLogin) {
	buf := make([]byte, 4096)
	for {
		m, err := c.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		l := byKey[[2]int{ci, int(buf[1])}]
		if l == nil || radiusd.VerifyResponse(buf[:m], l.req, []byte(pushBenchSecret)) != nil {
			continue
		}
		ls.arrived[l.idx] = now
		select {
		case l.accepted <- radius.Code(buf[0]):
		default:
		}
	}
}

func (ls *pushLogins) close() {
	for _, c := range ls.conns {
		c.Close()
	}
}

// pend sends every login at rate per second and waits until each one's
// notification has arrived, retransmitting like a NAS what has not been
// answered (a login the daemon shed under the burst gets in then).
func (ls *pushLogins) pend(notes <-chan notify.Message, rate int) (map[string]notify.Message, error) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for _, l := range ls.logins {
		<-tick.C
		l.conn.Write(l.req)
	}
	tick.Stop()
	got := map[string]notify.Message{} // by user
	deadline := time.After(60 * time.Second)
	resend := time.NewTicker(3 * time.Second)
	defer resend.Stop()
	for len(got) < len(ls.logins) {
		select {
		case m := <-notes:
			got[m.User] = m
		case <-resend.C:
			for i, l := range ls.logins {
				if _, ok := got[fmt.Sprintf("pu%d", i)]; !ok {
					l.conn.Write(l.req)
				}
			}
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d notifications within 60s", len(got), len(ls.logins))
		}
	}
	return got, nil
}

// approveAll approves every push with its device's signature, at
// cfg.ApproveRate each in its own goroutine (or cfg.Concurrency at a
// time), and returns when each was posted and how long the API took.
func approveAll(ctx context.Context, cfg pushConfig, apiURL string, got map[string]notify.Message, devKeys []portal.DeviceKey) ([]time.Time, []time.Duration, error) {
	n := len(devKeys)
	approved := make([]time.Time, n)
	apiTimes := make([]time.Duration, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency}, Timeout: 30 * time.Second}
	var failed atomic.Int32
	var firstErr atomic.Value
	width := cfg.Concurrency
	var pace *time.Ticker
	if cfg.ApproveRate > 0 {
		width = n // open loop: the ticker paces
		pace = time.NewTicker(time.Second / time.Duration(cfg.ApproveRate))
		defer pace.Stop()
	}
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	for i := range n {
		if pace != nil {
			<-pace.C
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m := got[fmt.Sprintf("pu%d", i)]
			req, err := devKeys[i].Sign(m.Tx, m.Device, cluster.PushApproved, "", time.Now())
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			approved[i] = time.Now()
			if _, _, err := portal.PostAnswer(ctx, client, apiURL, req); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
			apiTimes[i] = time.Since(approved[i])
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return nil, nil, fmt.Errorf("%d approvals failed; the first: %v", f, firstErr.Load())
	}
	return approved, apiTimes, nil
}

// accepted counts the answers into res (waiting up to 10 s for each)
// and returns the time from each approval to its Access-Accept.
func (ls *pushLogins) accepted(approved []time.Time, res *pushResult) []time.Duration {
	var lat []time.Duration
	for i, l := range ls.logins {
		select {
		case code := <-l.accepted:
			if code == radius.CodeAccessAccept {
				res.Accepted++
				lat = append(lat, ls.arrived[i].Sub(approved[i]))
			} else {
				res.Other++
			}
		case <-time.After(10 * time.Second):
			res.Other++
		}
	}
	return lat
}

// pct returns the q-quantile of ds in milliseconds.
func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(int(q*float64(len(s))), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// rssMB reads VmRSS of pid in MB (0 when /proc cannot tell).
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

// goMemory scrapes the Go runtime's goroutine count and memory from
// twostepd's /metrics.
func goMemory(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		switch name {
		case "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes":
			if ok {
				out[name], _ = strconv.ParseFloat(val, 64)
			}
		}
	}
	return out
}
