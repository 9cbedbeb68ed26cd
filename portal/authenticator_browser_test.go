package portal_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"twostep/cluster"
	"twostep/portal"
	"twostep/portal/browsertest"
)

// authenticatorCSP is the portal's policy; every response of the fake
// carries it, so a page that needs more fails the test.
const authenticatorCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// subscribeTimeoutMS is how long the stand-in enrolment page lets the app
// wait for the browser's push service (the portal's default is 15 s).
// Debian's Chromium has none it can reach here: its real
// pushManager.subscribe() never settles, as behind a network that blocks
// the push service, and the app must go on without notifications.
const subscribeTimeoutMS = 2000

// enrollPageHTML is a minimal stand-in for the portal's "This phone" page
// with the contract authenticator.js relies on.
var enrollPageHTML = template.Must(template.New("enroll").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Add this phone</title><link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/portal.css"><script src="/assets/authenticator.js" defer></script></head>
<body data-page="enroll-app" data-vapid="{{.VAPID}}" data-csrf="tok" data-subscribe-timeout="{{.Timeout}}"><main><h1>Add this phone</h1>
<form id="enroll-app-form"><label for="device-name">Device name</label><input id="device-name" name="name" autocomplete="off">
<button id="enroll-app" type="submit">Use this phone</button></form>
<p id="enroll-status" role="status" aria-live="polite"></p></main></body></html>`))

type fakeEnrollment struct {
	Name         string `json:"name"`
	PublicKey    string `json:"public_key"`
	Subscription *struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	} `json:"subscription"`
}

// fakePending is what the real API answers: the JS is tested against the
// JSON the portal sends.
type fakePending = portal.PendingPush

type fakeAnswer struct {
	Push      string `json:"push"`
	Device    string `json:"device"`
	Decision  string `json:"decision"`
	Number    string `json:"number,omitempty"`
	At        int64  `json:"at"`
	Signature string `json:"signature"`
}

// fakePortal plays the portal's side of the authenticator: enrolment,
// the signed pending list and the signed answers.
type fakePortal struct {
	t      *testing.T
	number string // the number the login screen shows

	mu       sync.Mutex
	vapid    string // empty: the portal has no Web Push
	enrolled *fakeEnrollment
	key      *ecdsa.PublicKey
	pending  []fakePending
	answers  []fakeAnswer
	lists    int    // pending lists served
	refuse   bool   // as if the device had been removed
	name     string // the device's name in the portal, once renamed there
}

func (f *fakePortal) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(os.DirFS("assets"))))
	mux.HandleFunc("GET /app/sw.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, os.DirFS("assets"), "sw.js")
	})
	app := template.Must(template.ParseFiles(filepath.Join("templates", "app.html")))
	mux.HandleFunc("GET /app/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// Nobody is signed in to the portal in this browser.
		if err := app.Execute(w, map[string]string{}); err != nil {
			f.t.Errorf("app.html: %v", err)
		}
	})
	mux.HandleFunc("GET /devices/add/app", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		vapid := f.vapid
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		enrollPageHTML.Execute(w, struct {
			VAPID   string
			Timeout int
		}{vapid, subscribeTimeoutMS})
	})
	mux.HandleFunc("POST /devices/add/app", f.enroll)
	mux.HandleFunc("POST /api/push/v1/pending", f.list)
	mux.HandleFunc("POST /api/push/v1/answer", f.answer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", authenticatorCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func fakeReply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fakeDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fakeReply(w, http.StatusUnsupportedMediaType, map[string]string{"error": "content type " + ct})
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fakeReply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}

func (f *fakePortal) enroll(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-CSRF-Token"); got != "tok" {
		f.t.Errorf("enrol: X-CSRF-Token %q, want %q", got, "tok")
		fakeReply(w, http.StatusForbidden, map[string]string{"error": "bad CSRF token"})
		return
	}
	var req fakeEnrollment
	if !fakeDecode(w, r, &req) {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(req.PublicKey)
	if err != nil || len(raw) != 65 || raw[0] != 4 {
		f.t.Errorf("enrol: public_key %q is not a base64url uncompressed point (%d bytes, %v)", req.PublicKey, len(raw), err)
		fakeReply(w, http.StatusBadRequest, map[string]string{"error": "bad key"})
		return
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		f.t.Errorf("enrol: public key: %v", err)
		fakeReply(w, http.StatusBadRequest, map[string]string{"error": "bad key"})
		return
	}
	f.mu.Lock()
	f.enrolled, f.key, f.name = &req, key, req.Name
	f.mu.Unlock()
	fakeReply(w, http.StatusOK, map[string]string{"user": "alice", "device": "d1", "name": req.Name})
}

// verify checks a WebCrypto signature (r||s, base64url) over msg by the
// enrolled key.
func (f *fakePortal) verify(msg []byte, sig64 string, at int64) error {
	f.mu.Lock()
	key, refuse := f.key, f.refuse
	f.mu.Unlock()
	if key == nil || refuse {
		return fmt.Errorf("no such device")
	}
	if d := time.Since(time.Unix(at, 0)); d > time.Minute || d < -time.Minute {
		return fmt.Errorf("at is %v off", d)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || len(sig) != 64 {
		return fmt.Errorf("signature %q: %d bytes, %v", sig64, len(sig), err)
	}
	sum := sha256.Sum256(msg)
	if !ecdsa.Verify(key, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return fmt.Errorf("signature does not verify over %q", msg)
	}
	return nil
}

func (f *fakePortal) list(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User      string `json:"user"`
		Device    string `json:"device"`
		At        int64  `json:"at"`
		Signature string `json:"signature"`
	}
	if !fakeDecode(w, r, &req) {
		return
	}
	if req.User != "alice" || req.Device != "d1" {
		f.t.Errorf("pending: user %q device %q, want alice d1", req.User, req.Device)
	}
	if err := f.verify(cluster.PendingSigned(req.User, req.Device, time.Unix(req.At, 0)), req.Signature, req.At); err != nil {
		fakeReply(w, http.StatusForbidden, map[string]string{"error": "the request does not prove the device (was it removed?)"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	fakeReply(w, http.StatusOK, portal.PendingResponse{Pushes: append([]fakePending{}, f.pending...), DeviceName: f.name})
}

func (f *fakePortal) answer(w http.ResponseWriter, r *http.Request) {
	var req fakeAnswer
	if !fakeDecode(w, r, &req) {
		return
	}
	msg := cluster.PushSigned(req.Push, cluster.PushState(req.Decision), req.Number, time.Unix(req.At, 0))
	if err := f.verify(msg, req.Signature, req.At); err != nil {
		f.t.Errorf("answer: %v", err)
		fakeReply(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.pending, func(p fakePending) bool { return p.ID == req.Push })
	if i < 0 {
		fakeReply(w, http.StatusConflict, map[string]string{"error": "already answered"})
		return
	}
	p := f.pending[i]
	f.pending = slices.Delete(f.pending, i, i+1)
	f.answers = append(f.answers, req)
	if req.Decision == "approved" && p.Number && req.Number != f.number {
		fakeReply(w, http.StatusUnprocessableEntity, map[string]string{"state": "denied", "error": "wrong number"})
		return
	}
	fakeReply(w, http.StatusOK, map[string]string{"state": req.Decision})
}

func (f *fakePortal) add(p fakePending) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, p)
}

func (f *fakePortal) lastAnswer() (fakeAnswer, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.answers) == 0 {
		return fakeAnswer{}, 0
	}
	return f.answers[len(f.answers)-1], len(f.answers)
}

func TestAuthenticatorBrowser(t *testing.T) {
	vapid, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePortal{t: t, vapid: base64.RawURLEncoding.EncodeToString(vapid.PublicKey().Bytes()), number: "42"}
	srv := httptest.NewTLSServer(fake.handler())
	t.Cleanup(srv.Close) // after the browser's cleanup, which comes later
	now := time.Now()
	// The service is the RADIUS client's display name, as the portal
	// lists it.
	fake.add(fakePending{ID: "p1", User: "alice", Service: "Staff VPN", NAS: "asa-1", From: "192.0.2.10",
		Created: now.Add(-5 * time.Second), Expires: now.Add(2 * time.Minute), Number: true})

	shots := os.Getenv(browsertest.ArtifactsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	t.Logf("screenshots go to %s", shots)
	// The browser's own pushManager.subscribe(), which has no push service
	// to reach here.
	b := browsertest.Start(t, browsertest.TrustCertificate(srv.Certificate()))
	// What a user grants when the page asks to notify (headless Chromium
	// would deny the prompt, and the app would not subscribe at all).
	b.Run(t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: srv.URL})
		return err
	}))
	waitJS := func(t *testing.T, what, js string) {
		t.Helper()
		poll := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second))
		browsertest.Get(t, b, func(ctx context.Context, tg *chromedp.Target) (bool, error) {
			ok, err := poll(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return ok, err
		})
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		return browsertest.Get(t, b, chromedp.Text(chromedp.CSS(sel)))
	}
	// Each step builds on the one before: after a failure the rest would
	// only wait out their timeouts.
	step := func(name string, f func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, f)
		}
	}

	step("not set up yet", func(t *testing.T) {
		b.Run(t, chromedp.Navigate(srv.URL+"/app/"), chromedp.WaitVisible(chromedp.ID("app-setup")))
		if got := text(t, "#app-setup"); !strings.Contains(got, "not set up as an authenticator") {
			t.Errorf("#app-setup %q, want the not-set-up explanation", got)
		}
		if href := browsertest.Get(t, b, chromedp.AttributeValue(chromedp.CSS("#app-setup a"), "href")); href.Value != "/devices" {
			t.Errorf("#app-setup links to %+v, want /devices", href)
		}
	})

	step("enrol while the push service does not answer", func(t *testing.T) {
		b.Run(t,
			chromedp.Navigate(srv.URL+"/devices/add/app"),
			chromedp.SendKeys(chromedp.ID("device-name"), "Test phone"),
		)
		b.Screenshot(t, filepath.Join(shots, "authenticator-enrol.png"))
		start := time.Now()
		b.Run(t,
			chromedp.WaitEnabled(chromedp.ID("enroll-app")), // the script enables it
			chromedp.Click(chromedp.ID("enroll-app")),
			chromedp.WaitVisible(chromedp.CSS(`article.push[data-push="p1"]`)),
		)
		// The real subscribe() was raced: the fallback waited for it.
		if took := time.Since(start); took < subscribeTimeoutMS*time.Millisecond {
			t.Errorf("enrolling took %v, want at least the push service's %d ms", took, subscribeTimeoutMS)
		}
		if loc := browsertest.Get(t, b, chromedp.Location()); loc != srv.URL+"/app/" {
			t.Errorf("after enrolling the page is %s, want %s/app/", loc, srv.URL)
		}
		fake.mu.Lock()
		got := fake.enrolled
		fake.mu.Unlock()
		if got == nil {
			t.Fatal("the portal got no enrolment")
		}
		if got.Name != "Test phone" {
			t.Errorf("enrolled name %q, want %q", got.Name, "Test phone")
		}
		if got.Subscription != nil {
			t.Errorf("enrolled subscription %+v, want none: the push service never answered", got.Subscription)
		}
		if got := text(t, "#app-device"); got != "Test phone" {
			t.Errorf("#app-device %q, want %q", got, "Test phone")
		}
		// The authenticator says why it has no notifications.
		if notice := text(t, "#app-notice"); !strings.Contains(notice, "Notifications are off") ||
			!strings.Contains(notice, "push service did not answer within 2 seconds") || !strings.Contains(notice, "keep this page open") {
			t.Errorf("#app-notice %q, want notifications off because the push service did not answer", notice)
		}
		b.Screenshot(t, filepath.Join(shots, "authenticator-pending.png"))
	})

	step("card", func(t *testing.T) {
		card := text(t, `article.push[data-push="p1"]`)
		if got := text(t, "#push-p1-title"); got != "Login request: Staff VPN" {
			t.Errorf("card title %q, want the login request and the service's display name", got)
		}
		for _, want := range []string{"Staff VPN", "asa-1", "alice", "192.0.2.10", "Enter the number shown on your login screen", "Approve", "Deny", "This wasn't me"} {
			if !strings.Contains(card, want) {
				t.Errorf("card lacks %q:\n%s", want, card)
			}
		}
		attrs := browsertest.Get(t, b, chromedp.Attributes(chromedp.ID("number-p1")))
		for k, v := range map[string]string{"inputmode": "numeric", "autocomplete": "off", "maxlength": "2"} {
			if attrs[k] != v {
				t.Errorf("#number-p1 %s=%q, want %q", k, attrs[k], v)
			}
		}
		if label := text(t, `label[for="number-p1"]`); label == "" {
			t.Errorf("#number-p1 has no label")
		}
	})

	step("approve needs the number", func(t *testing.T) {
		b.Run(t, chromedp.Click(chromedp.CSS(`[data-push="p1"] [data-action="approve"]`)))
		waitJS(t, "number error", `document.querySelector('[data-push="p1"] .push-error').textContent.includes("number")`)
		if _, n := fake.lastAnswer(); n != 0 {
			t.Errorf("an approval without the number was sent")
		}
	})

	step("approve", func(t *testing.T) {
		b.Run(t,
			chromedp.SendKeys(chromedp.ID("number-p1"), "42"),
			chromedp.Click(chromedp.CSS(`[data-push="p1"] [data-action="approve"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`[data-push="p1"]`)),
		)
		if got := text(t, "#app-status"); !strings.Contains(got, "Approved") {
			t.Errorf("#app-status %q, want Approved", got)
		}
		a, n := fake.lastAnswer()
		if n != 1 || a.Push != "p1" || a.Device != "d1" || a.Decision != "approved" || a.Number != "42" {
			t.Errorf("answer %+v (%d answers), want p1 d1 approved 42", a, n)
		}
		b.Run(t, chromedp.WaitVisible(chromedp.ID("app-empty")))
	})

	step("fraud takes two presses", func(t *testing.T) {
		now := time.Now()
		fake.add(fakePending{ID: "p2", User: "alice", Service: "Mail", Created: now, Expires: now.Add(time.Minute)})
		b.Run(t,
			chromedp.WaitVisible(chromedp.CSS(`[data-push="p2"]`)), // the next poll, within 3 s
			chromedp.Click(chromedp.CSS(`[data-push="p2"] [data-action="fraud"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-push="p2"] [data-action="fraud-confirm"]`)),
		)
		if explain := text(t, `[data-push="p2"] .push-confirm`); !strings.Contains(explain, "locked") {
			t.Errorf("the fraud confirmation does not say the account is locked: %q", explain)
		}
		b.Screenshot(t, filepath.Join(shots, "authenticator-fraud-confirm.png"))
		if _, n := fake.lastAnswer(); n != 1 {
			t.Fatalf("the first press sent an answer")
		}
		// The first press moved the focus to the confirmation, so Enter
		// confirms: the card works from the keyboard.
		if got := browsertest.Get(t, b, chromedp.Evaluate[string](`document.activeElement.dataset.action`)); got != "fraud-confirm" {
			t.Errorf("focus on %q after the first press, want fraud-confirm", got)
		}
		b.Run(t,
			chromedp.KeyEvent("\r"),
			chromedp.WaitNotPresent(chromedp.CSS(`[data-push="p2"]`)),
		)
		if got := browsertest.Get(t, b, chromedp.Evaluate[string](`document.activeElement.id`)); got != "app-logins-title" {
			t.Errorf("focus on #%s after the answer, want the list's heading", got)
		}
		a, n := fake.lastAnswer()
		if n != 2 || a.Push != "p2" || a.Decision != "fraud" || a.Number != "" {
			t.Errorf("answer %+v (%d answers), want p2 fraud without a number", a, n)
		}
		if got := text(t, "#app-status"); !strings.Contains(got, "Reported") || !strings.Contains(got, "locked") {
			t.Errorf("#app-status %q, want the report and the lock", got)
		}
	})

	step("the key survives a reload", func(t *testing.T) {
		fake.mu.Lock()
		before := fake.lists
		fake.mu.Unlock()
		b.Run(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("app-empty")))
		fake.mu.Lock()
		after := fake.lists
		fake.mu.Unlock()
		if after <= before {
			t.Errorf("no signed pending list after the reload (%d, then %d)", before, after)
		}
		type stored struct {
			Extractable bool   `json:"extractable"`
			Type        string `json:"type"`
			Device      string `json:"device"`
		}
		got := browsertest.Get(t, b, chromedp.Evaluate[stored](`new Promise((resolve, reject) => {
  const open = indexedDB.open("twostep");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction("authenticator").objectStore("authenticator").get("device");
    get.onsuccess = () => resolve({extractable: get.result.key.extractable, type: get.result.key.type, device: get.result.device});
    get.onerror = () => reject(get.error);
  };
})`, chromedp.EvalAwaitPromise))
		if got != (stored{Extractable: false, Type: "private", Device: "d1"}) {
			t.Errorf("stored device %+v, want a non-extractable private key for d1", got)
		}
	})

	step("a rename in the portal reaches the app", func(t *testing.T) {
		fake.mu.Lock()
		fake.name = "Renamed phone"
		fake.mu.Unlock()
		waitJS(t, "the new name", `document.getElementById("app-device").textContent === "Renamed phone"`)
		// Kept for the next start, when the server may be out of reach.
		got := browsertest.Get(t, b, chromedp.Evaluate[string](`new Promise((resolve, reject) => {
  const open = indexedDB.open("twostep");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction("authenticator").objectStore("authenticator").get("device");
    get.onsuccess = () => resolve(get.result.name);
    get.onerror = () => reject(get.error);
  };
})`, chromedp.EvalAwaitPromise))
		if got != "Renamed phone" {
			t.Errorf("stored name %q, want Renamed phone", got)
		}
	})

	step("the app claims no sign-in", func(t *testing.T) {
		// Nobody is signed in to the portal in this browser: the device
		// works all the same, and says whose it is.
		body := browsertest.Get(t, b, chromedp.Evaluate[string](`document.body.innerText`))
		if strings.Contains(body, "Signed in") || strings.Contains(body, "Sign out") {
			t.Errorf("the app claims a sign-in:\n%s", body)
		}
		if got := text(t, "#app-whoami"); !strings.Contains(got, "Renamed phone") || !strings.Contains(got, "alice") {
			t.Errorf("#app-whoami %q, want the device and the account", got)
		}
	})

	step("a removal to confirm is no login request", func(t *testing.T) {
		now := time.Now()
		purpose := "Remove the device “Old phone”"
		fake.add(fakePending{ID: "p4", User: "alice", Service: "My Settings & Devices", NAS: purpose, Purpose: purpose,
			From: "192.0.2.10", Created: now, Expires: now.Add(time.Minute), Number: true})
		b.Run(t, chromedp.WaitVisible(chromedp.CSS(`[data-push="p4"]`)))
		if got := text(t, "#push-p4-title"); got != purpose {
			t.Errorf("card title %q, want %q", got, purpose)
		}
		if card := text(t, `[data-push="p4"]`); strings.Contains(card, "Login request") || strings.Contains(card, "Via") {
			t.Errorf("the removal reads as a login:\n%s", card)
		}
		b.Screenshot(t, filepath.Join(shots, "authenticator-confirm-removal.png"))
		b.Run(t,
			chromedp.SendKeys(chromedp.ID("number-p4"), "42"),
			chromedp.Click(chromedp.CSS(`[data-push="p4"] [data-action="approve"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(`[data-push="p4"]`)),
		)
		if got := text(t, "#app-status"); !strings.Contains(got, "Approved: "+purpose) {
			t.Errorf("#app-status %q, want the approval of the removal", got)
		}
	})

	step("a push wakes the page", func(t *testing.T) {
		// Collects what the worker posts, beside the page's own listener.
		b.Run(t, chromedp.Evaluate[chromedp.Void](`window.swMessages = [];
navigator.serviceWorker.addEventListener("message", (e) => window.swMessages.push(e.data));`))
		reg := swRegistration(t, b, srv.URL+"/app/")
		now := time.Now()
		fake.add(fakePending{ID: "p3", User: "alice", Service: "VPN", Created: now, Expires: now.Add(time.Minute)})
		payload := `{"tx":"p3","user":"alice","device":"d1","service":"VPN","from":"192.0.2.10","created":"` +
			now.Format(time.RFC3339) + `","expires":"` + now.Add(time.Minute).Format(time.RFC3339) + `","number":false}`
		b.Run(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: srv.URL, RegistrationID: reg, Data: payload})
			return err
		}))
		waitJS(t, "the worker's message", `window.swMessages.some((m) => m.type === "push" && m.tx === "p3")`)
		b.Run(t, chromedp.WaitVisible(chromedp.CSS(`[data-push="p3"]`)))
		type note struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Tag   string `json:"tag"`
		}
		notes := browsertest.Get(t, b, chromedp.Evaluate[[]note](`navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((ns) => ns.map((n) => ({title: n.title, body: n.body, tag: n.tag})))`, chromedp.EvalAwaitPromise))
		if want := (note{"Login request: VPN", "alice from 192.0.2.10", "p3"}); !slices.Contains(notes, want) {
			t.Errorf("notifications %+v, want %+v", notes, want)
		}

		// The notification of a push that confirms a removal says so.
		payload = `{"tx":"p5","user":"alice","device":"d1","service":"My Settings & Devices","nas":"Remove the device “Old phone”",` +
			`"purpose":"Remove the device “Old phone”","created":"` + now.Format(time.RFC3339) + `","expires":"` +
			now.Add(time.Minute).Format(time.RFC3339) + `","number":true}`
		b.Run(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: srv.URL, RegistrationID: reg, Data: payload})
			return err
		}))
		waitJS(t, "the worker's message", `window.swMessages.some((m) => m.type === "push" && m.tx === "p5")`)
		notes = browsertest.Get(t, b, chromedp.Evaluate[[]note](`navigator.serviceWorker.ready
  .then((r) => r.getNotifications())
  .then((ns) => ns.map((n) => ({title: n.title, body: n.body, tag: n.tag})))`, chromedp.EvalAwaitPromise))
		if want := (note{"Remove the device “Old phone”", "alice", "p5"}); !slices.Contains(notes, want) {
			t.Errorf("notifications %+v, want %+v", notes, want)
		}
	})

	step("enrol again without push", func(t *testing.T) {
		fake.mu.Lock()
		fake.vapid = ""
		fake.mu.Unlock()
		b.Run(t,
			chromedp.Navigate(srv.URL+"/devices/add/app"),
			chromedp.SendKeys(chromedp.ID("device-name"), "Second phone"),
			chromedp.WaitEnabled(chromedp.ID("enroll-app")), // the script enables it
			chromedp.Click(chromedp.ID("enroll-app")),
			chromedp.WaitVisible(chromedp.ID("app-notice")), // notifications are off: keep the page open
		)
		fake.mu.Lock()
		got := fake.enrolled
		fake.mu.Unlock()
		if got.Name != "Second phone" || got.Subscription != nil {
			t.Errorf("enrolment %+v, want Second phone without a subscription", got)
		}
		if got := text(t, "#app-device"); got != "Second phone" {
			t.Errorf("#app-device %q, want the new device", got)
		}
	})

	// Before the refusal below, which logs its 403 on purpose.
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors, exceptions or CSP violations: %v", errs)
	}

	step("a removed device is told so", func(t *testing.T) {
		fake.mu.Lock()
		fake.refuse = true
		fake.mu.Unlock()
		waitJS(t, "the refusal", `document.getElementById("app-status").textContent.includes("removed")`)
	})
}

// swRegistration returns the id of the service worker registration with
// the scope, as the ServiceWorker domain reports it.
func swRegistration(t *testing.T, b *browsertest.Browser, scope string) serviceworker.RegistrationID {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx(), 10*time.Second)
	defer cancel()
	updates := chromedp.Events(ctx, serviceworker.WorkerRegistrationUpdated)
	if _, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("ServiceWorker.enable: %v", err)
	}
	for ev, err := range updates {
		if err != nil {
			t.Fatalf("no service worker registration for %s: %v", scope, err)
		}
		for _, r := range ev.Registrations {
			if r.ScopeURL == scope && !r.IsDeleted {
				return r.RegistrationID
			}
		}
	}
	t.Fatalf("no service worker registration for %s", scope)
	return ""
}
