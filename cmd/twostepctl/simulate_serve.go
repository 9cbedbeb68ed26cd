package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"twostep/cluster"
	"twostep/notify"
	"twostep/portal"
)

const simulateServeUsage = `Usage: twostepctl device simulate serve -key FILE [-answer approve|deny|fraud|ignore] [-delay DURATION] [-number auto|prompt|NN] [-api URL] [-insecure-ca FILE]

Answer the pushes of the device that ` + "`device simulate enroll`" + ` made with
-key FILE: listen at the address in FILE.json, check each notification's
signature (X-Twostep-Signature, HMAC-SHA256 with the device's secret) and
timestamp (5 minutes at most from this clock), print the push (user,
service, NAS, where from, expiry), and after -delay post the answer,
signed with the key, to the approval API: the first address of the
notification that can be reached (any node records it), or -api. One
line per push tells the API's answer. A notification that fails the
checks is refused with 401 and a line on stderr. Runs until interrupted
(Ctrl-C, SIGTERM).

-answer: approve, deny, fraud (deny and report "this wasn't me": the
account is locked until ` + "`twostepctl unlock`" + `), or ignore (never answer;
the login times out).

A verified push asks for the number shown at login, which the
notification does not carry: -number NN answers NN, -number prompt reads
it from stdin for each push, and -number auto (the default) prompts when
stdin is a terminal and otherwise does not approve verified pushes.

Examples:
  twostepctl device simulate serve -key sim.key
  twostepctl device simulate serve -key sim.key -answer deny -delay 3s
  twostepctl device simulate serve -key sim.key -number prompt
  twostepctl device simulate serve -key sim.key -api https://twostep1.example.edu:8443 -insecure-ca lab-ca.pem

Flags:
`

// Simulator settings.
const (
	// simMaxSkew bounds how far a notification's timestamp may be from
	// our clock: older ones are replays.
	simMaxSkew = 5 * time.Minute
	// simMaxBody bounds a notification; a Message is well under 2 KiB.
	simMaxBody = 64 << 10
	// simAnswerTimeout bounds one post to one approval API node.
	simAnswerTimeout = 10 * time.Second
	// simShutdown bounds the wait for requests in flight at the end.
	simShutdown = 5 * time.Second
)

// simulator is the running serve: it receives notifications and answers
// them. Its answers run in goroutines it waits for on shutdown.
type simulator struct {
	key      portal.DeviceKey
	st       simState
	decision cluster.PushState // empty: ignore
	delay    time.Duration
	// number is the fixed number of -number NN; prompt reads one from in.
	number string
	prompt bool
	in     *lines
	inMu   sync.Mutex
	// api is -api; empty: the notification's addresses.
	api    string
	client *http.Client
	now    func() time.Time

	outMu          sync.Mutex
	stdout, stderr io.Writer

	seenMu sync.Mutex
	seen   map[string]time.Time // push id -> expiry: a notification sent twice is answered once

	// wg counts the answers in flight; once closed, none starts.
	goMu   sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (c *cli) simulateServe(ctx context.Context, args []string) error {
	fs := c.flagSet("twostepctl device simulate serve", simulateServeUsage)
	keyPath := fs.String("key", "", "the device's key `file` from `device simulate enroll`; its settings are in file.json (required)")
	answer := fs.String("answer", "approve", "what to answer: approve, deny, fraud or ignore")
	delay := fs.Duration("delay", 0, "wait this `duration` before answering (2s), as a user reaching for the phone")
	number := fs.String("number", "auto", "the number for verified pushes: auto (prompt on a terminal), prompt, or the `digits` to send")
	api := fs.String("api", "", "post answers to this approval API `URL` instead of the notification's addresses")
	caFile := fs.String("insecure-ca", "", "also trust this CA certificate `file` (PEM) for the approval API: a lab's own CA")
	pos, err := c.parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("twostepctl device simulate serve: takes no arguments, got %q; see `twostepctl device simulate serve -h`", pos)
	}
	if *keyPath == "" {
		return errors.New("twostepctl device simulate serve: -key FILE is required: the key file `device simulate enroll` wrote")
	}
	sim := &simulator{delay: *delay, now: c.now, stdout: c.stdout, stderr: c.stderr, seen: map[string]time.Time{}}
	switch *answer {
	case "approve":
		sim.decision = cluster.PushApproved
	case "deny":
		sim.decision = cluster.PushDenied
	case "fraud":
		sim.decision = cluster.PushFraud
	case "ignore":
	default:
		return fmt.Errorf("twostepctl device simulate serve: -answer %q: want approve, deny, fraud or ignore", *answer)
	}
	if *delay < 0 {
		return fmt.Errorf("twostepctl device simulate serve: -delay %s: want 0 or more", *delay)
	}
	switch {
	case *number == "prompt" || *number == "auto" && isTerminal(c.stdin):
		sim.prompt, sim.in = true, c.lines()
	case *number == "auto":
	case isNumber(*number):
		sim.number = *number
	default:
		return fmt.Errorf("twostepctl device simulate serve: -number %q: want auto, prompt, or the digits of the number shown at login", *number)
	}
	if *api != "" {
		if u, err := url.Parse(*api); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("twostepctl device simulate serve: -api %q: want the approval API's base URL, e.g. https://twostep1.example.edu:8443", *api)
		}
		sim.api = *api
	}
	transport, err := simTransport(*caFile)
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	sim.client = &http.Client{Transport: transport, Timeout: simAnswerTimeout}
	if sim.key, sim.st, err = c.loadSimulator(*keyPath); err != nil {
		return err
	}
	path := "/"
	if u, err := url.Parse(sim.st.Endpoint); err == nil && u.Path != "" {
		path = u.Path
	}

	ln, err := net.Listen("tcp", sim.st.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (from %s): %w; is another serve running?", sim.st.Listen, simStatePath(*keyPath), err)
	}
	actx, stopAnswers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAnswers()
	mux := http.NewServeMux()
	mux.Handle("POST "+path, sim.receive(actx))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	what := *answer
	if sim.decision != "" && *delay > 0 {
		what += " after " + delay.String()
	}
	sim.printf(sim.stdout, "device %s (%q) of %s: listening on %s for pushes at %s; answering %s. Ctrl-C stops.\n",
		sim.st.Device, sim.st.Name, sim.st.User, ln.Addr(), sim.st.Endpoint, what)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), simShutdown)
	defer cancel()
	_ = srv.Shutdown(sctx)
	sim.goMu.Lock()
	sim.closed = true
	sim.goMu.Unlock()
	stopAnswers()
	sim.wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve on %s: %w", sim.st.Listen, serveErr)
	}
	sim.printf(sim.stdout, "stopped\n")
	return nil
}

// simTransport is the approval API client's transport, trusting the
// system's CAs and those of caFile.
func simTransport(caFile string) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-insecure-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-insecure-ca %s: no PEM certificate in it", caFile)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// receive returns the handler of webhook notifications; the answers it
// starts end with ctx.
func (sim *simulator) receive(ctx context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { sim.notified(ctx, w, r) }
}

// notified receives one webhook notification.
func (sim *simulator) notified(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, simMaxBody))
	if err != nil {
		sim.printf(sim.stderr, "refused a notification from %s: %v\n", r.RemoteAddr, err)
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := verifyWebhook(sim.st.Secret, r.Header, body, sim.now(), simMaxSkew); err != nil {
		sim.printf(sim.stderr, "refused a notification from %s: %v\n", r.RemoteAddr, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var m notify.Message
	if err := json.Unmarshal(body, &m); err != nil || m.Tx == "" {
		sim.printf(sim.stderr, "refused a notification from %s: not a push message (%v)\n", r.RemoteAddr, err)
		http.Error(w, "not a push message", http.StatusBadRequest)
		return
	}
	if m.Device != sim.st.Device {
		sim.printf(sim.stderr, "refused push %s: it is for device %s, this is %s\n", m.Tx, m.Device, sim.st.Device)
		http.Error(w, "not this device", http.StatusUnprocessableEntity)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	if !sim.first(m) {
		sim.printf(sim.stdout, "push %s: notified again; answered once already\n", m.Tx)
		return
	}
	verified := ""
	if m.Number {
		verified = ", verified: asks for the number shown at login"
	}
	sim.printf(sim.stdout, "push %s: %s on %s (NAS %s) from %s, expires %s%s\n",
		m.Tx, m.User, m.Service, orDash(m.NAS), orDash(m.From), m.Expires.UTC().Format("15:04:05 UTC"), verified)
	if sim.decision == "" {
		sim.printf(sim.stdout, "push %s: ignored (-answer ignore); the login times out\n", m.Tx)
		return
	}
	sim.goMu.Lock()
	defer sim.goMu.Unlock()
	if sim.closed {
		return // shutting down: a request that outlived Shutdown
	}
	sim.wg.Add(1)
	go func() {
		defer sim.wg.Done()
		sim.answer(ctx, m)
	}()
}

// verifyWebhook checks a delivery as notify.Webhook signs it: the
// timestamp within skew of now, and the HMAC of timestamp "." body.
func verifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, skew time.Duration) error {
	ts := h.Get(notify.HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no %s header", notify.HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > skew || d < -skew {
		return fmt.Errorf("timestamp %v off this clock (a replay, or a clock to fix)", d.Round(time.Second))
	}
	sig, ok := strings.CutPrefix(h.Get(notify.HeaderSignature), "sha256=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil {
		return fmt.Errorf("no sha256= %s header", notify.HeaderSignature)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("bad signature (not from twostepd, or the device was enrolled again with another secret)")
	}
	return nil
}

// first reports whether m is the first notification of its push, and
// forgets pushes that expired.
func (sim *simulator) first(m notify.Message) bool {
	sim.seenMu.Lock()
	defer sim.seenMu.Unlock()
	now := sim.now()
	for id, exp := range sim.seen {
		if now.After(exp.Add(simMaxSkew)) {
			delete(sim.seen, id)
		}
	}
	if _, ok := sim.seen[m.Tx]; ok {
		return false
	}
	sim.seen[m.Tx] = m.Expires
	return true
}

// answer waits -delay, signs the decision and posts it.
func (sim *simulator) answer(ctx context.Context, m notify.Message) {
	if sim.delay > 0 {
		t := time.NewTimer(sim.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	number := ""
	if m.Number && sim.decision == cluster.PushApproved {
		var err error
		if number, err = sim.numberFor(ctx, m); err != nil {
			sim.printf(sim.stdout, "push %s: not approved: %v\n", m.Tx, err)
			return
		}
	}
	req, err := sim.key.Sign(m.Tx, sim.st.Device, sim.decision, number, sim.now())
	if err != nil {
		sim.printf(sim.stdout, "push %s: not answered: sign: %v\n", m.Tx, err)
		return
	}
	urls := m.Answer
	if sim.api != "" {
		urls = []string{sim.api}
	}
	if len(urls) == 0 {
		sim.printf(sim.stdout, "push %s: not answered: the notification names no approval API (twostepd's push answer URLs); give -api URL\n", m.Tx)
		return
	}
	var last error
	for _, u := range urls {
		resp, status, err := portal.PostAnswer(ctx, sim.client, u, req)
		if ctx.Err() != nil {
			return // shutting down
		}
		if status == 0 || status == http.StatusServiceUnavailable {
			// That node is down or cut off from etcd: any other
			// records the answer as well.
			last = fmt.Errorf("%s: %w", u, err)
			continue
		}
		if err != nil {
			sim.printf(sim.stdout, "push %s: answered %s: refused (%d) by %s: %s\n", m.Tx, sim.decision, status, u, resp.Error)
			return
		}
		sim.printf(sim.stdout, "push %s: answered %s: %s (%d) by %s\n", m.Tx, sim.decision, resp.State, status, u)
		return
	}
	sim.printf(sim.stdout, "push %s: not answered: no approval API reached (tried %d): %v\n", m.Tx, len(urls), last)
}

// numberFor returns the number to send for verified push m: -number NN,
// or what is typed on stdin.
func (sim *simulator) numberFor(ctx context.Context, m notify.Message) (string, error) {
	if sim.number != "" {
		return sim.number, nil
	}
	if !sim.prompt {
		return "", errors.New("it asks for the number shown at login, and stdin is not a terminal to type it: give -number NN, or -number prompt to read it from stdin")
	}
	// One prompt at a time: two pushes must not read each other's line.
	sim.inMu.Lock()
	defer sim.inMu.Unlock()
	sim.printf(sim.stderr, "Push %s for %s on %s: type the number shown at login: ", m.Tx, m.User, m.Service)
	n, err := sim.in.next(ctx)
	switch {
	case errors.Is(err, io.EOF):
		return "", errors.New("no number on stdin")
	case err != nil:
		return "", err
	case !isNumber(n):
		return "", fmt.Errorf("%q is not a number", n)
	}
	return n, nil
}

// isNumber reports whether s is the digits of a verified push's number.
func isNumber(s string) bool {
	if s == "" || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// printf writes one whole line to w; answers run side by side.
func (sim *simulator) printf(w io.Writer, format string, args ...any) {
	sim.outMu.Lock()
	defer sim.outMu.Unlock()
	fmt.Fprintf(w, format, args...)
}
