package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// loadConfig is what a load run needs, validated by the caller.
type loadConfig struct {
	Server       *net.UDPAddr
	Secret       []byte
	Templates    []*template // one per user, rotated through (for passcode logins, as Pairs picks)
	Login        loginKind
	Pairs        *pairs       // passcode logins: which user and device, and the code's step
	Source       *net.UDPAddr // local address of every socket; nil: the kernel's choice
	Concurrency  int          // workers, each with its own socket and one request in flight
	Warmup       time.Duration
	Duration     time.Duration // length of the measured phase; with Requests, its upper bound
	Requests     uint64        // measured logins to run (one request each, but two with a challenge); 0 runs until Duration is over
	Timeout      time.Duration // per attempt
	Retries      int           // retransmissions of the same packet after a timeout
	RequireMA    bool          // a response without Message-Authenticator counts as bad
	ServerPID    int           // when not 0, the server process whose CPU time is measured too
	DirectoryPID int           // when not 0, the directory server behind it (slapd), measured apart from other work
	StorePID     int           // when not 0, the cluster store behind it (etcd), measured apart from other work
}

// tally is what a measured phase produced. Worker tallies are summed.
type tally struct {
	Requests    uint64 // requests finished in the measured phase, whatever the outcome
	Logins      uint64 // logins finished: one request each, or two with a challenge
	Accepts     uint64 // outcomes count logins: the last answer of each
	Rejects     uint64
	Challenges  uint64
	Timeouts    uint64 // no valid answer after all attempts
	Bad         uint64 // an answer that failed verification
	Errors      uint64 // socket errors, such as ICMP port unreachable
	Retransmits uint64
	Stray       uint64 // late answers to earlier, timed-out requests; ignored
	BadReasons  map[string]uint64
	PairWait    time.Duration // time workers waited for a fresh TOTP step (summed over workers)
	latency     histogram     // per login: from its first send to its last valid answer
}

func (t *tally) add(o *tally) {
	t.Requests += o.Requests
	t.Logins += o.Logins
	t.PairWait += o.PairWait
	t.Accepts += o.Accepts
	t.Rejects += o.Rejects
	t.Challenges += o.Challenges
	t.Timeouts += o.Timeouts
	t.Bad += o.Bad
	t.Errors += o.Errors
	t.Retransmits += o.Retransmits
	t.Stray += o.Stray
	for k, v := range o.BadReasons {
		if t.BadReasons == nil {
			t.BadReasons = map[string]uint64{}
		}
		t.BadReasons[k] += v
	}
	t.latency.merge(&o.latency)
}

// loadResult is a measured phase: its tally, how long it really took and
// how much CPU the generator itself used meanwhile.
type loadResult struct {
	tally
	Elapsed        time.Duration
	CPU            time.Duration // user+system time of this process during the measured phase
	ServerCPU      time.Duration // the same for the server, when ServerPID was given
	ServerCPUOK    bool          // ServerCPU was measured at both ends of the phase
	SystemCPU      time.Duration // busy time of all CPUs, everything included
	SystemCPUOK    bool
	DirectoryCPU   time.Duration // the directory server's, when DirectoryPID was given
	DirectoryCPUOK bool
	StoreCPU       time.Duration // the cluster store's, when StorePID was given
	StoreCPUOK     bool
	Interrupted    bool
}

// outcome of one exchange.
type outcome uint8

const (
	outAccept outcome = iota
	outReject
	outChallenge
	outTimeout
	outBad
	outError
	outAbandoned // the run ended while waiting; not counted
)

// runLoad opens one UDP socket per worker, runs the warm-up and the
// measured phase, and returns the measured tally. It always returns by
// Warmup+Duration (plus a moment to close sockets), or sooner if ctx ends.
func runLoad(ctx context.Context, cfg loadConfig) (loadResult, error) {
	conns := make([]*net.UDPConn, 0, cfg.Concurrency)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range cfg.Concurrency {
		// A connected socket: the kernel picks a source port per worker, as
		// if each were its own NAS, and drops datagrams from anyone but
		// the server.
		c, err := net.DialUDP("udp", cfg.Source, cfg.Server)
		if err != nil {
			return loadResult{}, err
		}
		conns = append(conns, c)
	}

	start := time.Now()
	measureStart := start.Add(cfg.Warmup)
	end := measureStart.Add(cfg.Duration)

	// Ctrl-C must not wait for a read deadline: wake every reader now.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.SetReadDeadline(time.Unix(1, 0))
		}
	})
	defer stop()

	var tickets atomic.Uint64
	results := make([]tally, cfg.Concurrency)
	var wg sync.WaitGroup
	for i, c := range conns {
		w := newWorker(i, c, cfg)
		wg.Go(func() {
			results[i] = w.run(ctx, measureStart, end, &tickets)
		})
	}

	// Sample the clocks when the measured phase begins.
	timer := time.NewTimer(time.Until(measureStart))
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	pids := [3]int{cfg.ServerPID, cfg.DirectoryPID, cfg.StorePID}
	c0 := sampleCPU(pids)
	wg.Wait()
	wallEnd := time.Now()
	if wallEnd.After(end) {
		wallEnd = end
	}
	c1 := sampleCPU(pids)

	var res loadResult
	for i := range results {
		res.add(&results[i])
	}
	// Workers measure from measureStart by their own clocks, even when this
	// goroutine wakes late on a busy machine.
	res.Elapsed = max(wallEnd.Sub(measureStart), 0)
	res.setCPU(c0, c1)
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// cpuSample is the CPU clocks a run reads when its measured phase begins
// and after it ends: this process's, the machine's busy time, and the
// server's, directory's and store's, when their pids are known (not 0).
type cpuSample struct {
	self  time.Duration
	sys   time.Duration
	sysOK bool
	pids  [3]int
	procs [3]time.Duration
	ok    [3]bool
}

func sampleCPU(pids [3]int) cpuSample {
	s := cpuSample{self: cpuTime(), pids: pids}
	var err error
	s.sys, err = systemCPUBusy()
	s.sysOK = err == nil
	for i, pid := range pids {
		if pid != 0 {
			s.procs[i], err = processCPUTime(pid)
			s.ok[i] = err == nil
		}
	}
	return s
}

// setCPU fills in what was spent between a and b.
func (r *loadResult) setCPU(a, b cpuSample) {
	r.CPU = b.self - a.self
	if a.sysOK && b.sysOK {
		r.SystemCPU, r.SystemCPUOK = b.sys-a.sys, true
	}
	spent := func(i int) (time.Duration, bool) {
		if a.ok[i] && b.ok[i] {
			return b.procs[i] - a.procs[i], true
		}
		return 0, false
	}
	r.ServerCPU, r.ServerCPUOK = spent(0)
	r.DirectoryCPU, r.DirectoryCPUOK = spent(1)
	r.StoreCPU, r.StoreCPUOK = spent(2)
}

// worker is one simulated NAS: a socket, its own identifier sequence and
// random authenticators, and one request in flight at a time.
type worker struct {
	cfg    loadConfig
	conn   *net.UDPConn
	sign   *signer
	rng    *rand.ChaCha8
	next   int // index of the next template
	id     byte
	out    []byte
	ans    []byte // the answer to a challenge, built while out holds the first request
	in     []byte
	inLen  int // length of the last valid response in in
	nUsers int
}

func newWorker(i int, conn *net.UDPConn, cfg loadConfig) *worker {
	// ChaCha8 seeded from the system: request authenticators must be
	// unpredictable and unique (RFC 2865 3), and a syscall per request
	// would cost more than the rest of the send.
	var seed [32]byte
	crand.Read(seed[:])
	return &worker{
		cfg:    cfg,
		conn:   conn,
		sign:   newSigner(cfg.Secret),
		rng:    rand.NewChaCha8(seed),
		next:   i % len(cfg.Templates),
		ans:    make([]byte, maxPacket),
		id:     byte(i * 37),
		out:    make([]byte, maxPacket),
		in:     make([]byte, maxPacket),
		nUsers: len(cfg.Templates),
	}
}

// run logs in back to back until end, the login budget or ctx runs out,
// and tallies the logins started in the measured phase.
func (w *worker) run(ctx context.Context, measureStart, end time.Time, tickets *atomic.Uint64) tally {
	var t tally
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		measuring := !now.Before(measureStart)

		u, code := w.next, ""
		if w.cfg.Pairs != nil {
			p, wait, ok := w.cfg.Pairs.take(now)
			if !ok {
				// Every pair of this step is spent: a code sent now
				// would be a replay. Wait for the next step, and say so.
				slept := w.sleep(ctx, min(wait, end.Sub(now)))
				// The part of the wait inside the measured phase.
				if from, to := maxTime(now, measureStart), now.Add(slept); to.After(from) {
					t.PairWait += to.Sub(from)
				}
				continue
			}
			u, code = p.user, w.cfg.Pairs.code(p)
		} else {
			// Step by the worker count so that workers take disjoint users.
			w.next = (w.next + w.cfg.Concurrency) % w.nUsers
		}
		if measuring && w.cfg.Requests > 0 && tickets.Add(1) > w.cfg.Requests {
			break
		}

		r := w.login(ctx, w.cfg.Templates[u], code, end)
		if !measuring || r.o == outAbandoned {
			continue
		}
		t.Retransmits += uint64(r.retx)
		t.Stray += uint64(r.stray)
		t.Requests += uint64(r.requests)
		t.Logins++
		switch r.o {
		case outAccept, outReject, outChallenge:
			t.latency.record(r.rtt)
			switch r.o {
			case outAccept:
				t.Accepts++
			case outReject:
				t.Rejects++
			default:
				t.Challenges++
			}
		case outTimeout:
			t.Timeouts++
		case outBad:
			t.Bad++
			if t.BadReasons == nil {
				t.BadReasons = map[string]uint64{}
			}
			t.BadReasons[r.why]++
		case outError:
			t.Errors++
			// A refused port answers at once; do not spin on it.
			time.Sleep(min(w.cfg.Timeout, 10*time.Millisecond))
		}
	}
	return t
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleep waits d or until ctx ends, and returns how long it waited.
func (w *worker) sleep(ctx context.Context, d time.Duration) time.Duration {
	start := time.Now()
	if d <= 0 {
		return 0
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	return time.Since(start)
}

// exchange sends pkt and waits for its answer, retransmitting the same
// packet after each timeout. It never waits past end, and returns the time
// from the first send to the valid answer.
func (w *worker) exchange(ctx context.Context, pkt []byte, end time.Time) (o outcome, rtt time.Duration, retx, stray int, why string) {
	sent := time.Now()
	for attempt := 0; attempt <= w.cfg.Retries; attempt++ {
		if attempt > 0 {
			if ctx.Err() != nil {
				return outAbandoned, 0, retx, stray, ""
			}
			retx++
		}
		if _, err := w.conn.Write(pkt); err != nil {
			return outError, 0, retx, stray, ""
		}
		deadline := time.Now().Add(w.cfg.Timeout)
		last := false
		if !deadline.Before(end) {
			deadline, last = end, true
		}
		w.conn.SetReadDeadline(deadline)
		for {
			n, err := w.conn.Read(w.in)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if last || ctx.Err() != nil {
						return outAbandoned, 0, retx, stray, ""
					}
					break // next attempt
				}
				return outError, 0, retx, stray, ""
			}
			code, err := w.sign.verify(w.in[:n], pkt, w.cfg.RequireMA)
			w.inLen = n
			switch {
			case errors.Is(err, errStray):
				stray++
				continue
			case err != nil:
				return outBad, 0, retx, stray, err.Error()
			}
			rtt = time.Since(sent)
			switch code {
			case codeAccessAccept:
				return outAccept, rtt, retx, stray, ""
			case codeAccessReject:
				return outReject, rtt, retx, stray, ""
			default:
				return outChallenge, rtt, retx, stray, ""
			}
		}
	}
	return outTimeout, 0, retx, stray, ""
}
