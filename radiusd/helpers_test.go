package radiusd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
	"twostep/internal/fakeclock"
	"twostep/internal/logbuf"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
)

// fakeClock is the shared fakeclock.Clock.
type fakeClock = fakeclock.Clock

// syncBuffer is the shared logbuf.Buffer.
type syncBuffer = logbuf.Buffer

// Test secrets and passwords; the log tests look for them.
var (
	testSecret = []byte("correct-horse-battery-staple")
	// testPassword is long enough to span several 16-byte blocks.
	testPassword = "Tr0ub4dor&3-and-then-some"
)

// fakeAuth is the Authenticator of the tests: it records requests, can
// block until released (or its context ends), and decides with fn.
type fakeAuth struct {
	mu    sync.Mutex
	reqs  []challenge.Request
	calls chan struct{} // one value per call, when the call starts

	fn func(ctx context.Context, req *challenge.Request) (challenge.Decision, error)
}

func newFakeAuth(fn func(ctx context.Context, req *challenge.Request) (challenge.Decision, error)) *fakeAuth {
	if fn == nil {
		fn = acceptAlice
	}
	return &fakeAuth{fn: fn, calls: make(chan struct{}, 1024)}
}

// acceptAlice accepts alice with testPassword and rejects anything else.
func acceptAlice(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
	if req.User == "alice" && req.Password == testPassword {
		return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, Message: "Welcome"}, nil
	}
	return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword}, nil
}

// Authenticate answers at once, with what fn decides.
func (a *fakeAuth) Authenticate(ctx context.Context, req *challenge.Request, w challenge.Responder) {
	a.mu.Lock()
	a.reqs = append(a.reqs, *req)
	a.mu.Unlock()
	a.calls <- struct{}{}
	w.Respond(a.fn(ctx, req))
}

func (a *fakeAuth) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

func (a *fakeAuth) last() challenge.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reqs[len(a.reqs)-1]
}

// waitCalls waits until n calls have started.
func (a *fakeAuth) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for a.count() < n {
		select {
		case <-a.calls:
		case <-deadline:
			t.Fatalf("got %d Authenticator calls, want %d", a.count(), n)
		}
	}
}

func newFakeClock() *fakeClock { return fakeclock.New(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) }

// harness is a Server on 127.0.0.1:0 with a fake Authenticator.
type harness struct {
	t       *testing.T
	srv     *Server
	auth    *fakeAuth
	logs    *syncBuffer
	metrics *Metrics
	addr    *net.UDPAddr
	done    chan error // Serve's result
	stopped bool
}

// testClients is the default table: loopback is "nas1" with testSecret,
// Message-Authenticator required or not.
func testClients(t *testing.T, require bool) *ClientTable {
	t.Helper()
	if require {
		return testClientsMA(t, MARequired)
	}
	return testClientsMA(t, MAOptional)
}

// testClientsMA is testClients with the requirement r.
func testClientsMA(t *testing.T, r MARequirement) *ClientTable {
	t.Helper()
	ct, err := NewClientTable([]Client{{
		Name:                 "nas1",
		Networks:             []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Secret:               testSecret,
		MessageAuthenticator: r,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// newHarness starts a server; edit adjusts its Options first.
func newHarness(t *testing.T, auth *fakeAuth, edit func(*Options)) *harness {
	t.Helper()
	if auth == nil {
		auth = newFakeAuth(nil)
	}
	h := &harness{t: t, auth: auth, logs: &syncBuffer{}, metrics: NewMetrics(prometheus.NewRegistry()), done: make(chan error, 1)}
	o := Options{
		Authenticator: auth,
		Clients:       testClients(t, true),
		Logger:        zerolog.New(h.logs).Level(zerolog.DebugLevel),
		Metrics:       h.metrics,
	}
	if edit != nil {
		edit(&o)
	}
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	h.addr = conn.LocalAddr().(*net.UDPAddr)
	go func() { h.done <- srv.Serve(conn) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the server down and checks Serve's result.
func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		h.t.Errorf("Shutdown: %v", err)
	}
	if err := <-h.done; !errors.Is(err, ErrServerClosed) {
		h.t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// dial opens a client socket to the server (one source port).
func (h *harness) dial() *net.UDPConn {
	h.t.Helper()
	c, err := net.DialUDP("udp4", nil, h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// send writes one datagram from c.
func (h *harness) send(c *net.UDPConn, b []byte) {
	h.t.Helper()
	if _, err := c.Write(b); err != nil {
		h.t.Fatal(err)
	}
}

// recv reads one datagram from c, nil if none comes within wait.
func (h *harness) recv(c *net.UDPConn, wait time.Duration) []byte {
	h.t.Helper()
	buf := make([]byte, 8192)
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		h.t.Fatal(err)
	}
	return buf[:n]
}

// exchange sends req on a fresh socket and returns the verified answer.
func (h *harness) exchange(req []byte, secret []byte) *radius.Packet {
	h.t.Helper()
	c := h.dial()
	h.send(c, req)
	return h.answer(c, req, secret)
}

// answer reads the answer to req from c and checks what every answer must
// satisfy: it verifies, and Message-Authenticator is its first attribute.
func (h *harness) answer(c *net.UDPConn, req []byte, secret []byte) *radius.Packet {
	h.t.Helper()
	resp := h.recv(c, 5*time.Second)
	if resp == nil {
		h.t.Fatal("no answer")
	}
	checkAnswer(h.t, resp, req, secret)
	p, err := radius.Parse(resp, secret)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func checkAnswer(t *testing.T, resp, req, secret []byte) {
	t.Helper()
	if err := VerifyResponse(resp, req, secret); err != nil {
		t.Fatalf("VerifyResponse: %v", err)
	}
	if len(resp) < 22 || resp[20] != maType || resp[21] != maLen {
		t.Fatalf("first attribute is not a Message-Authenticator: % x", resp[20:min(len(resp), 22)])
	}
}

// expectDrop sends req and checks that it is dropped for cause.
func (h *harness) expectDrop(req []byte, cause string) {
	h.t.Helper()
	c := h.dial()
	before := testutil.ToFloat64(h.metrics.dropped.WithLabelValues(cause))
	h.send(c, req)
	h.waitMetric(h.metrics.dropped.WithLabelValues(cause), before+1)
	if resp := h.recv(c, 50*time.Millisecond); resp != nil {
		h.t.Fatalf("got an answer (code %v), want a drop for %s", radius.Code(resp[0]), cause)
	}
}

// waitMetric waits until a counter reaches want.
func (h *harness) waitMetric(c prometheus.Collector, want float64) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := testutil.ToFloat64(c)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("metric = %v, want %v", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// request builds a signed Access-Request for user and password; edit adds
// attributes before signing.
func request(t *testing.T, secret []byte, user, password string, edit func(p *radius.Packet)) []byte {
	t.Helper()
	p, err := NewAccessRequest(secret, user, password)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(p)
	}
	b, err := SignRequest(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unsigned encodes p as is, without a Message-Authenticator.
func unsigned(t *testing.T, p *radius.Packet) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replyMessage joins the Reply-Message attributes of p.
func replyMessage(p *radius.Packet) string {
	var s string
	for _, a := range p.Attributes {
		if a.Type == rfc2865.ReplyMessage_Type {
			s += string(a.Attribute)
		}
	}
	return s
}

// waitLog waits until the log holds s: a request's log line is written
// after its answer is sent, so a client can see the answer first.
func (h *harness) waitLog(s string, count int) string {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := h.logs.String()
		if strings.Count(logs, s) >= count {
			return logs
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("log never held %d× %s:\n%s", count, s, logs)
		}
		time.Sleep(time.Millisecond)
	}
}
