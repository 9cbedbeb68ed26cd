package browsertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"
)

// csp is the portal's policy: the test pages must work under it.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// testSite serves a page, its script and a service worker under csp.
func testSite() http.Handler {
	files := map[string]struct{ typ, body string }{
		"/": {"text/html; charset=utf-8", `<!doctype html><html lang="en"><head><title>t</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<script src="/page.js" defer></script></head><body><p id="mark"></p></body></html>`},
		// An inline script, which the policy must refuse.
		"/inline": {"text/html; charset=utf-8", `<!doctype html><html lang="en"><head><title>i</title><link rel="icon" href="data:,"></head>
<body><script>document.title = "ran"</script></body></html>`},
		// Proves the init script ran before the page's own script.
		"/page.js": {"text/javascript", `document.getElementById("mark").textContent = String(window.initMark);
console.log("page script ran");`},
		"/sw.js": {"text/javascript", `self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));`},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", f.typ)
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, f.body)
	})
}

// secureContextJS checks, in the page, everything the web authenticator
// needs, and returns a signature by a key that IndexedDB keeps.
const secureContextJS = `(async () => {
  const out = {secure: window.isSecureContext};
  const reg = await navigator.serviceWorker.register("/sw.js", {scope: "/"});
  await navigator.serviceWorker.ready;
  out.scope = reg.scope;
  const key = await crypto.subtle.generateKey({name: "ECDSA", namedCurve: "P-256"}, false, ["sign"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key.publicKey));
  out.publicKey = btoa(String.fromCharCode(...raw));
  await new Promise((resolve, reject) => {
    const open = indexedDB.open("browsertest", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", "readwrite");
      tx.objectStore("keys").put(key.privateKey, "k");
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  });
  return out;
})()`

// signStoredJS reads the key back from IndexedDB (after a reload) and
// signs with it.
const signStoredJS = `(async () => {
  const key = await new Promise((resolve, reject) => {
    const open = indexedDB.open("browsertest", 1);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction("keys").objectStore("keys").get("k");
      get.onsuccess = () => { open.result.close(); resolve(get.result); };
      get.onerror = () => reject(get.error);
    };
  });
  const sig = new Uint8Array(await crypto.subtle.sign({name: "ECDSA", hash: "SHA-256"}, key,
    new TextEncoder().encode("hello")));
  return {extractable: key.extractable, type: key.type, signature: btoa(String.fromCharCode(...sig))};
})()`

func TestBrowserSecureContext(t *testing.T) {
	srv := httptest.NewTLSServer(testSite())
	t.Cleanup(srv.Close) // after the browser's cleanup
	b := Start(t, TrustCertificate(srv.Certificate()), InitScript(`window.initMark = "init-ok";`))

	b.Run(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("mark")))
	if got := Get(t, b, chromedp.Text(chromedp.ID("mark"))); got != "init-ok" {
		t.Errorf("init script: page saw initMark %q, want %q", got, "init-ok")
	}

	type stored struct {
		Secure    bool   `json:"secure"`
		Scope     string `json:"scope"`
		PublicKey string `json:"publicKey"`
	}
	got := Get(t, b, chromedp.Evaluate[stored](secureContextJS, chromedp.EvalAwaitPromise))
	if !got.Secure {
		t.Errorf("isSecureContext false, want true")
	}
	if want := srv.URL + "/"; got.Scope != want {
		t.Errorf("service worker scope %q, want %q", got.Scope, want)
	}

	// A new document must find the same non-extractable key.
	b.Run(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("mark")))
	type signed struct {
		Extractable bool   `json:"extractable"`
		Type        string `json:"type"`
		Signature   string `json:"signature"`
	}
	s := Get(t, b, chromedp.Evaluate[signed](signStoredJS, chromedp.EvalAwaitPromise))
	if s.Extractable || s.Type != "private" {
		t.Errorf("stored key: extractable %v type %q, want false, private", s.Extractable, s.Type)
	}
	if err := verifyP256(got.PublicKey, s.Signature, "hello"); err != nil {
		t.Errorf("signature by the stored key: %v", err)
	}

	viewport := Get(t, b, chromedp.Evaluate[[]float64](`[innerWidth, devicePixelRatio, navigator.maxTouchPoints > 0 ? 1 : 0]`))
	if want := []float64{390, 2, 1}; fmt.Sprint(viewport) != fmt.Sprint(want) {
		t.Errorf("viewport (width, scale, touch) %v, want %v", viewport, want)
	}

	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors on a clean page: %v", errs)
	}
	if !hasConsole(b, chromedp.ConsoleLog, "page script ran") {
		t.Errorf("console.log of the page not recorded; got %v", b.Console())
	}

	dir := t.TempDir()
	b.Screenshot(t, filepath.Join(dir, "page.png"))
	if img, err := png.Decode(mustOpen(t, filepath.Join(dir, "page.png"))); err != nil {
		t.Errorf("screenshot: %v", err)
	} else if w := img.Bounds().Dx(); w != 390*2 {
		t.Errorf("screenshot width %d, want %d (390 CSS px at scale 2)", w, 390*2)
	}
}

func TestBrowserConsoleReportsCSPAndExceptions(t *testing.T) {
	srv := httptest.NewTLSServer(testSite())
	t.Cleanup(srv.Close) // after the browser's cleanup
	b := Start(t, TrustCertificate(srv.Certificate()), Viewport(800, 600, 1, false))

	b.Run(t, chromedp.Navigate(srv.URL+"/inline"))
	if title := Get(t, b, chromedp.Title()); title == "ran" {
		t.Errorf("inline script ran under %q", csp)
	}
	b.Run(t, chromedp.Evaluate[chromedp.Void](`setTimeout(() => { throw new Error("boom") }, 0)`))
	waitConsole(t, b, func(m chromedp.ConsoleMessage) bool {
		return m.Type == chromedp.ConsoleError && strings.Contains(m.Text, "Content Security Policy")
	}, "a CSP violation")
	waitConsole(t, b, func(m chromedp.ConsoleMessage) bool {
		return m.IsException() && strings.Contains(m.Text, "boom")
	}, "the uncaught exception")
	if w := Get(t, b, chromedp.Evaluate[int](`innerWidth`)); w != 800 {
		t.Errorf("Viewport(800, ...): innerWidth %d", w)
	}
}

// TestBrowserUntrustedCertificate is the control: without
// TrustCertificate the test server's certificate is refused, so the SPKI
// list is what makes the other tests work.
func TestBrowserUntrustedCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(testSite())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close) // after the browser's cleanup
	b := Start(t)
	ctx, cancel := context.WithTimeout(b.Ctx(), b.timeout)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"))
	if err == nil || !strings.Contains(err.Error(), "CERT") {
		t.Errorf("navigate to an untrusted server: error %v, want a certificate error", err)
	}
}

// fatalTB records a Fatalf instead of ending the test, so the failure
// path of Run can be checked.
type fatalTB struct {
	testing.TB
	msg string
}

var errFatal = errors.New("Fatalf called")

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}

func TestBrowserRunFailureLeavesEvidenceAndCleanupStopsChromium(t *testing.T) {
	srv := httptest.NewTLSServer(testSite())
	t.Cleanup(srv.Close) // after the browser's cleanup
	artifacts := t.TempDir()
	t.Setenv(ArtifactsEnv, artifacts)

	var root string
	t.Run("fail", func(t *testing.T) {
		b := Start(t, TrustCertificate(srv.Certificate()))
		root = b.root
		b.Run(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("mark")))
		if len(processesUsing(root)) == 0 {
			t.Fatalf("no process with an argument under %s while the browser runs", root)
		}

		f := &fatalTB{TB: t}
		func() {
			defer func() {
				if r := recover(); r != errFatal {
					panic(r)
				}
			}()
			b.Run(f, chromedp.Evaluate[chromedp.Void](`throw new Error("deliberate")`))
			t.Errorf("Run returned after a failed action")
		}()
		// #mark shows "undefined": this browser has no init script.
		for _, want := range []string{"deliberate", "page: " + srv.URL + "/", "visible text:\n\tundefined"} {
			if !strings.Contains(f.msg, want) {
				t.Errorf("failure message lacks %q:\n%s", want, f.msg)
			}
		}
		shots, _ := filepath.Glob(filepath.Join(artifacts, "*.png"))
		if len(shots) != 1 || !strings.Contains(f.msg, shots[0]) {
			t.Errorf("screenshots in %s: %v; message:\n%s", ArtifactsEnv, shots, f.msg)
		}
	})
	// The subtest's cleanup has run: nothing of its Chromium is left.
	if pids := processesUsing(root); len(pids) > 0 {
		t.Errorf("chromium processes %v still run after the test ended", pids)
	}
}

func TestDecodeQR(t *testing.T) {
	const uri = "otpauth://totp/twostep:alice?secret=JBSWY3DPEHPK3PXP&issuer=twostep&algorithm=SHA1&digits=6&period=30"
	encode := func(level qrcode.RecoveryLevel, size int) []byte {
		b, err := qrcode.Encode(uri, level, size)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var blank bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	if err := png.Encode(&blank, img); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		png     []byte
		want    string
		wantErr bool
	}{
		{"medium 256px", encode(qrcode.Medium, 256), uri, false},
		{"highest 512px", encode(qrcode.Highest, 512), uri, false},
		{"low small", encode(qrcode.Low, 128), uri, false},
		{"blank image", blank.Bytes(), "", true},
		{"not an image", []byte("otpauth://"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeQR(tt.png)
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeQR error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("DecodeQR = %q, want %q", got, tt.want)
			}
		})
	}
}

func hasConsole(b *Browser, typ chromedp.ConsoleType, text string) bool {
	for _, m := range b.Console() {
		if m.Type == typ && strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}

// waitConsole waits until a console message matches: messages arrive on
// their own goroutine.
func waitConsole(t *testing.T, b *Browser, match func(chromedp.ConsoleMessage) bool, what string) {
	t.Helper()
	for range 100 {
		for _, m := range b.Console() {
			if match(m) {
				return
			}
		}
		b.Run(t, chromedp.Sleep(50*time.Millisecond))
	}
	t.Errorf("no console message for %s; got %v", what, b.Console())
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// verifyP256 checks a WebCrypto ECDSA P-256 SHA-256 signature (r||s) by
// a raw (uncompressed point) public key, both standard base64.
func verifyP256(publicKey, signature, msg string) error {
	raw, err := base64.StdEncoding.DecodeString(publicKey)
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("signature: %d bytes, %v", len(sig), err)
	}
	sum := sha256.Sum256([]byte(msg))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, sum[:], r, s) {
		return errors.New("does not verify")
	}
	return nil
}
