package browsertest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// ArtifactsEnv names the directory where a failing Run saves its
// screenshot; without it the screenshot goes to the test's t.TempDir().
const ArtifactsEnv = "BROWSERTEST_ARTIFACTS"

// startTimeout bounds Chromium's start; a cold start on a small machine
// takes a few seconds.
const startTimeout = 60 * time.Second

// stopTimeout bounds the graceful close at cleanup before the process is
// killed.
const stopTimeout = 10 * time.Second

// Option changes how Start sets up the browser.
type Option func(*config)

type config struct {
	spki          []string
	width, height int
	scale         float64
	mobile        bool
	initScripts   []string
	timeout       time.Duration
}

// TrustCertificate makes Chromium accept a server that presents cert
// (httptest.NewTLSServer's own, for instance) as if a trusted CA had
// issued it, by listing the SHA-256 of its public key in
// --ignore-certificate-errors-spki-list: its pages are secure contexts
// where service workers, WebCrypto and IndexedDB work (see the package
// doc).
func TrustCertificate(cert *x509.Certificate) Option {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	spki := base64.StdEncoding.EncodeToString(sum[:])
	return func(c *config) { c.spki = append(c.spki, spki) }
}

// Viewport sets the page's size in CSS pixels, its device scale factor
// and whether it emulates a mobile device (with touch). The default is a
// phone: Viewport(390, 844, 2, true).
func Viewport(width, height int, scale float64, mobile bool) Option {
	return func(c *config) { c.width, c.height, c.scale, c.mobile = width, height, scale, mobile }
}

// InitScript adds JavaScript that runs in every new document before the
// page's own scripts, e.g. to replace an API the test browser lacks
// (PushManager.prototype.subscribe has no push service to reach here).
func InitScript(js string) Option {
	return func(c *config) { c.initScripts = append(c.initScripts, js) }
}

// Browser is one headless Chromium with one tab, owned by one test: it is
// stopped when the test that started it ends.
type Browser struct {
	// ctx is the tab's chromedp context. Keeping a context in a struct is
	// what the house style forbids; a test browser is the exception, since
	// the context is the browser handle itself and its lifetime is exactly
	// the test's (t.Cleanup cancels it).
	ctx     context.Context
	timeout time.Duration
	root    string // holds Chromium's profile and HOME

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
	closed  bool // after cleanup: log nothing more, t is gone
	shots   int  // numbers the failure screenshots
	stderr  tail // Chromium's own output, shown when a Run fails
}

// Start launches Chromium (installing it first if need be) and opens a
// tab; t.Cleanup stops it and checks that no Chromium process of it is
// left.
func Start(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	cfg := config{width: 390, height: 844, scale: 2, mobile: true, timeout: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	ensureChromium(t)

	// Everything Chromium writes goes under t.TempDir, whose cleanup runs
	// after ours (cleanups run last registered first), so it is removed
	// once Chromium is gone. That includes a HOME of its own: even with a
	// --user-data-dir, Chromium's crash handler and dconf write to
	// ~/.config and ~/.cache.
	root := t.TempDir()
	profile, home := filepath.Join(root, "profile"), filepath.Join(root, "home")
	b := &Browser{timeout: cfg.timeout, root: root, stderr: tail{max: 40}}
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(profile),
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache")),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(cfg.width, cfg.height),
		chromedp.CombinedOutput(&b.stderr),
		// No internet here: anything Chromium fetches on its own (component
		// updates, sync, field trials, QUIC probes) only waits and logs.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,AutofillServerCommunication"),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// /dev/shm is small in containers; Chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		// A headless tab may count as hidden: keep its timers at full speed.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	if len(cfg.spki) > 0 {
		allocOpts = append(allocOpts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(cfg.spki, ",")))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), allocOpts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(b.logf(t, "browsertest: chromedp: ")))
	b.ctx = ctx

	var wg sync.WaitGroup
	t.Cleanup(func() {
		// The first context owns the browser: cancelling it closes
		// Chromium gracefully; the allocator's cancel waits until the
		// process has been reaped.
		sctx, scancel := context.WithTimeout(ctx, stopTimeout)
		if err := chromedp.Cancel(sctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browsertest: stopping chromium: %v", err)
		}
		scancel()
		cancel()
		acancel()
		wg.Wait()
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		if n := leftovers(root); n > 0 {
			t.Errorf("browsertest: %d chromium processes outlived the browser (killed now)", n)
		}
	})

	// The first Run binds the browser's life to its context, so it gets
	// no deadline of its own; a watchdog ends a start that hangs.
	watchdog := time.AfterFunc(startTimeout, cancel)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		err = fmt.Errorf("no answer within %v: %w", startTimeout, err)
	}
	if err != nil {
		t.Fatalf("browsertest: starting %s: %v\n%s", ChromiumPath, err, b.stderr.String())
	}

	// Subscribed before the first navigation, so no message is lost.
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		logf := b.logf(t, "browser ")
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
			logf("%s", describe(m))
		}
	})

	setup := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(int64(cfg.width), int64(cfg.height), emulation(cfg)...)}
	for _, js := range cfg.initScripts {
		setup = append(setup, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
			return err
		}))
	}
	b.Run(t, setup...)
	return b
}

func emulation(cfg config) []chromedp.EmulateViewportOption {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(cfg.scale)}
	if cfg.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return opts
}

// Ctx returns the tab's chromedp context, for chromedp calls that Run
// and Get do not cover (chromedp.Events, chromedp.Call). It has no
// deadline: derive one.
func (b *Browser) Ctx() context.Context { return b.ctx }

// Run runs the actions in order, within the browser's per-call timeout,
// and fails the test at the first error, after saving a screenshot and
// logging the page's URL and visible text.
func (b *Browser) Run(t testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	Get(t, b, chromedp.Steps(actions...))
}

// Get runs one action that returns a value (chromedp.Evaluate[T],
// chromedp.Text, ...) as Run does, and returns the value.
func Get[T any](t testing.TB, b *Browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(t, err)
	}
	return v
}

// Screenshot saves a PNG of the whole page (beyond the viewport) to path.
func (b *Browser) Screenshot(t testing.TB, path string) {
	t.Helper()
	png := Get(t, b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
}

// Console returns the console messages, uncaught exceptions and browser
// log entries (CSP violations, failed loads) the tab has seen so far.
// Each is also logged with t.Log as it arrives.
func (b *Browser) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// ConsoleErrors returns the Console messages of type error or exception:
// what a test of a page that should work expects to be empty.
func (b *Browser) ConsoleErrors() []chromedp.ConsoleMessage {
	var errs []chromedp.ConsoleMessage
	for _, m := range b.Console() {
		if m.Type == chromedp.ConsoleError || m.IsException() {
			errs = append(errs, m)
		}
	}
	return errs
}

func describe(m chromedp.ConsoleMessage) string {
	s := string(m.Type)
	if m.Source != "" {
		s += " (" + m.Source + ")"
	}
	s += ": " + m.Text
	if m.URL != "" {
		s += fmt.Sprintf(" [%s:%d]", m.URL, m.Line+1)
	}
	return s
}

// logf returns a logger that writes to t until cleanup: chromedp and the
// console reader run on their own goroutines, and logging to a finished
// test panics.
func (b *Browser) logf(t testing.TB, prefix string) func(string, ...any) {
	return func(format string, args ...any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.closed {
			t.Logf(prefix+format, args...)
		}
	}
}

// fail reports a failed Run with what helps to see why: a screenshot, the
// URL, the visible text and Chromium's last output lines.
func (b *Browser) fail(t testing.TB, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	shot := "(none)"
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		if path, werr := b.saveArtifact(t, png); werr == nil {
			shot = path
		} else {
			shot = werr.Error()
		}
	} else {
		shot = "(failed: " + serr.Error() + ")"
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	text, terr := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : "(no body)"`))
	if terr != nil {
		text = "(unreadable: " + terr.Error() + ")"
	}
	t.Fatalf("browsertest: %v\npage: %s\nscreenshot: %s\nvisible text:\n\t%s\nchromium output (last lines):\n%s",
		err, url, shot, strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n\t"), b.stderr.String())
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (b *Browser) saveArtifact(t testing.TB, png []byte) (string, error) {
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b.mu.Lock()
	b.shots++
	n := b.shots
	b.mu.Unlock()
	path := filepath.Join(dir, fmt.Sprintf("%s-failure-%d.png", unsafeName.ReplaceAllString(t.Name(), "_"), n))
	return path, os.WriteFile(path, png, 0o644)
}

// leftovers waits briefly for the processes started with a path under
// root in their arguments to exit (Chromium passes --user-data-dir to
// every child; its crash handler gets a --database under HOME), kills
// those that do not, and returns how many it had to kill.
func leftovers(root string) int {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if len(processesUsing(root)) == 0 {
			return 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	pids := processesUsing(root)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return len(pids)
}

// processesUsing returns the live processes with root in an argument.
func processesUsing(root string) []int {
	want := []byte(root + string(filepath.Separator))
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// A zombie has exited; it only waits for its parent (or init) to
		// reap it, and its cmdline reads empty anyway.
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tail keeps the last lines written to it; Chromium's stderr is noisy
// (D-Bus, GCM) and only worth showing when something failed.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.part[:i]))
		w.part = w.part[i+1:]
		if len(w.lines) > w.max {
			w.lines = w.lines[len(w.lines)-w.max:]
		}
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return "\t" + strings.Join(append(w.lines, string(w.part)), "\n\t")
}
