package portal_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/notify"
	"twostep/portal"
	"twostep/portal/browsertest"
)

// TestPortalBrowser drives the real portal (two nodes, one store) in
// Debian's headless Chromium, on a phone's viewport: error pages, the
// look of a disabled button, the first device of a grace session (the
// key's groups, the authenticator app link, the user name filled in
// after), an activation link opened in a tab that shows the sign-in
// already, "Add this phone" while the browser's push service does not
// answer (its real pushManager.subscribe()), a rename and a removal as
// the authenticator shows them, and the sign-out as it sees it.
func TestPortalBrowser(t *testing.T) {
	vapid, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const subscribeTimeout = 2 * time.Second
	w := newWorldWith(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true,
		VAPIDPublicKey: base64.RawURLEncoding.EncodeToString(vapid.PublicKey().Bytes()), SubscribeTimeout: subscribeTimeout},
		challenge.Passcodes{Lockout: cluster.LockoutPolicy{Attempts: 10}, Unenrolled: challenge.Unenrolled{Allow: true, Grace: 24 * time.Hour}})
	origin := w.nodes[0].URL
	ctx := context.Background()

	// alice has an authenticator app, so her password alone opens no grace
	// session; bob has no device yet.
	oldApp, err := w.accounts.AddDevice(ctx, "alice", cluster.Device{Name: "Old app", Type: cluster.TOTP, Created: time.Now(),
		Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: []byte("12345678901234567890")})
	if err != nil {
		t.Fatal(err)
	}

	// Another site, whose form posts to the portal.
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(rw, `<!DOCTYPE html><html lang="en"><head><title>elsewhere</title><link rel="icon" href="data:,"></head><body>
<form method="post" action="%s/signout"><input type="hidden" name="csrf" value="x"><button id="go">Go</button></form></body></html>`, origin)
	}))
	t.Cleanup(elsewhere.Close)

	shots := os.Getenv(browsertest.ArtifactsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	b := browsertest.Start(t, browsertest.TrustCertificate(w.nodes[0].Certificate()))
	// What a user grants when "Add this phone" asks to notify: the app
	// then calls the browser's own pushManager.subscribe().
	b.Run(t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin})
		return err
	}))
	text := func(t *testing.T, sel string) string {
		t.Helper()
		return browsertest.Get(t, b, chromedp.Text(chromedp.CSS(sel)))
	}
	eval := func(t *testing.T, js string) string {
		t.Helper()
		return browsertest.Get(t, b, chromedp.Evaluate[string](js))
	}
	waitJS := func(t *testing.T, what, js string) {
		t.Helper()
		poll := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))
		browsertest.Get(t, b, func(ctx context.Context, tg *chromedp.Target) (bool, error) {
			ok, err := poll(ctx, tg)
			if err != nil {
				err = fmt.Errorf("waiting for %s: %w", what, err)
			}
			return ok, err
		})
	}
	// Each step builds on the one before.
	step := func(name string, f func(t *testing.T)) {
		if !t.Failed() {
			t.Run(name, f)
		}
	}

	step("a disabled button looks disabled", func(t *testing.T) {
		b.Run(t, chromedp.Navigate(origin+"/signin"), chromedp.WaitVisible(chromedp.ID("signin")))
		style := `(() => { const s = getComputedStyle(document.getElementById("signin")); return s.opacity + " " + s.cursor + " " + s.filter; })()`
		enabled := eval(t, style)
		b.Run(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("signin").disabled = true`))
		disabled := eval(t, style)
		b.Run(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("signin").disabled = false`))
		if enabled == disabled || !strings.Contains(disabled, "not-allowed") {
			t.Errorf("the sign-in button's opacity, cursor and filter: %q enabled, %q disabled; want them to differ", enabled, disabled)
		}
	})

	var bobTOTP otp.TOTP
	step("the first device of a grace session", func(t *testing.T) {
		b.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), "bob"),
			chromedp.SendKeys(chromedp.ID("password"), "pw"),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("add-totp")),
			chromedp.Click(chromedp.ID("add-totp")),
			chromedp.WaitVisible(chromedp.ID("qr")),
		)
		b.Screenshot(t, filepath.Join(shots, "portal-add-authenticator-app.png"))
		// On a phone: a link that opens the authenticator app with the
		// QR code's URI.
		href := browsertest.Get(t, b, chromedp.AttributeValue(chromedp.ID("otpauth"), "href"))
		if !strings.HasPrefix(href.Value, "otpauth://totp/") || !strings.Contains(href.Value, "bob") {
			t.Errorf("#otpauth href %+v, want the otpauth URI", href)
		}
		if shown := eval(t, `getComputedStyle(document.getElementById("otpauth")).display`); shown == "none" {
			t.Errorf("the authenticator app link is hidden on a phone")
		}
		// The key wraps between its groups of four, never inside one.
		type group struct {
			Text  string `json:"text"`
			Lines int    `json:"lines"`
		}
		groups := browsertest.Get(t, b, chromedp.Evaluate[[]group](`(() => {
  const node = document.getElementById("totp-key").firstChild, out = [];
  for (const m of node.textContent.matchAll(/\S+/g)) {
    const tops = new Set();
    for (let i = m.index; i < m.index + m[0].length; i++) {
      const r = document.createRange();
      r.setStart(node, i);
      r.setEnd(node, i + 1);
      tops.add(Math.round(r.getBoundingClientRect().top));
    }
    out.push({text: m[0], lines: tops.size});
  }
  return out;
})()`))
		keyLines := browsertest.Get(t, b, chromedp.Evaluate[int](`Math.round(document.getElementById("totp-key").getBoundingClientRect().height /
  parseFloat(getComputedStyle(document.getElementById("totp-key")).lineHeight))`))
		if len(groups) != 8 || keyLines < 2 {
			t.Errorf("the key is %d groups on %d lines, want 8 groups wrapped on a phone: %+v", len(groups), keyLines, groups)
		}
		for _, g := range groups {
			if g.Lines != 1 {
				t.Errorf("group %s of the key is broken over %d lines", g.Text, g.Lines)
			}
		}
		var err error
		bobTOTP.Secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(text(t, "#totp-key"), " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		bobTOTP.Digits, bobTOTP.Period = 6, 30*time.Second

		// On a computer's wide screen the link has nothing to open.
		b.Run(t, chromedp.EmulateViewport(1280, 800))
		shown := eval(t, `getComputedStyle(document.getElementById("otpauth")).display`)
		b.Run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
		if shown != "none" {
			t.Errorf("the authenticator app link shows on a wide screen (display %s)", shown)
		}

		b.Run(t,
			chromedp.SendKeys(chromedp.ID("code"), bobTOTP.Code(bobTOTP.Step(time.Now()))),
			chromedp.Click(chromedp.ID("add-totp-submit")),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if got := text(t, "#notice"); !strings.Contains(got, "Sign in again") {
			t.Errorf("#notice %q, want the next sign-in", got)
		}
		if got := browsertest.Get(t, b, chromedp.Value(chromedp.ID("username"))); got != "bob" {
			t.Errorf("the sign-in after the first device has user name %q, want bob", got)
		}
	})

	step("an activation link opened in a tab on the sign-in", func(t *testing.T) {
		code, _, err := w.accounts.IssueRecovery(ctx, "alice", time.Hour, 9, "help desk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Run(t,
			chromedp.Navigate(origin+"/signin"),
			chromedp.WaitVisible(chromedp.ID("signin")),
			chromedp.Evaluate[chromedp.Void](`window.samePage = true`),
			chromedp.Navigate(origin+"/signin#recovery="+code),
			chromedp.WaitVisible(chromedp.ID("activation")),
		)
		if eval(t, `String(window.samePage)`) != "true" {
			t.Fatalf("the page was loaded again: the fragment change is not what this step tests")
		}
		if loc := browsertest.Get(t, b, chromedp.Location()); strings.Contains(loc, code) {
			t.Errorf("the passcode stayed in the address bar: %s", loc)
		}
		b.Run(t,
			chromedp.SetValue(chromedp.ID("username"), "alice"),
			chromedp.SendKeys(chromedp.ID("password"), "pw"),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("recovery")),
		)
		// The script that fills it runs once the page is parsed, which
		// may be after the field shows.
		waitJS(t, "the recovery field filled", `document.getElementById("recovery").value !== ""`)
		if got := browsertest.Get(t, b, chromedp.Value(chromedp.ID("recovery"))); got != code {
			t.Fatalf("recovery field %q, want the link's passcode", got)
		}
		b.Run(t,
			chromedp.Click(chromedp.ID("recovery-submit")),
			chromedp.WaitVisible(chromedp.ID("add-app")),
		)
	})

	var appDevice string
	step("add this phone while the push service does not answer", func(t *testing.T) {
		b.Run(t,
			chromedp.Click(chromedp.ID("add-app")),
			chromedp.WaitVisible(chromedp.ID("enroll-app")),
		)
		// The button is enabled by the page's script, once it can enroll.
		b.Run(t, chromedp.WaitEnabled(chromedp.ID("enroll-app")))
		start := time.Now()
		b.Run(t,
			chromedp.Click(chromedp.ID("enroll-app")),
			chromedp.WaitVisible(chromedp.ID("app-empty")),
		)
		// The real subscribe() was raced: the fallback waited for it.
		if took := time.Since(start); took < subscribeTimeout {
			t.Errorf("adding the phone took %v, want at least the %v the push service is given", took, subscribeTimeout)
		}
		if got := text(t, "#app-notice"); !strings.Contains(got, "push service did not answer") {
			t.Errorf("#app-notice %q, want notifications off because the push service did not answer", got)
		}
		b.Screenshot(t, filepath.Join(shots, "portal-app-without-notifications.png"))
		acct, err := w.accounts.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range acct.Devices {
			if d.Type == cluster.PushApp {
				appDevice = d.ID
				if pd, _ := d.PushDevice(); pd.Kind != notify.KindApp || pd.Endpoint != "" {
					t.Errorf("the phone was added as %q at %q, want an in-app device", pd.Kind, pd.Endpoint)
				}
			}
		}
		if appDevice == "" {
			t.Fatalf("no push device among %+v", acct.Devices)
		}
		// Signed in to the portal in this browser: the header says so.
		if got := text(t, "#app-signed-in"); got != "alice" {
			t.Errorf("#app-signed-in %q, want alice", got)
		}
	})

	step("a rename in the portal reaches the authenticator", func(t *testing.T) {
		row := fmt.Sprintf(`li.device[data-device="%s"]`, appDevice)
		b.Run(t,
			chromedp.Navigate(origin+"/devices"),
			chromedp.WaitVisible(chromedp.CSS(row)),
			chromedp.SetValue(chromedp.ID("name-"+appDevice), "Alice's phone"),
			chromedp.Click(chromedp.CSS(row+` form[action="/devices/rename"] button`)),
			chromedp.WaitVisible(chromedp.ID("notice")),
			chromedp.Navigate(origin+"/app/"),
		)
		waitJS(t, "the new name", `document.getElementById("app-device").textContent === "Alice's phone"`)
	})

	step("a removal to confirm is no login request", func(t *testing.T) {
		row := fmt.Sprintf(`li.device[data-device="%s"]`, oldApp.ID)
		b.Run(t,
			chromedp.Navigate(origin+"/devices"),
			chromedp.Click(chromedp.CSS(row+` [data-action="remove"]`)),
			chromedp.WaitVisible(chromedp.ID("confirm")),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.push-to[data-device="%s"]`, appDevice))),
			chromedp.WaitVisible(chromedp.ID("push-number")),
		)
		number := text(t, "#push-number")
		card := `article.push[data-push]`
		b.Run(t,
			chromedp.Navigate(origin+"/app/"),
			chromedp.WaitVisible(chromedp.CSS(card)),
		)
		if got, want := text(t, card+" .push-title"), "Remove the device “Old app”"; got != want {
			t.Errorf("card title %q, want %q", got, want)
		}
		if got := text(t, card); strings.Contains(got, "Login request") || !strings.Contains(got, challenge.PortalService) {
			t.Errorf("the card reads as a login, or does not name the portal:\n%s", got)
		}
		b.Screenshot(t, filepath.Join(shots, "portal-app-confirm-removal.png"))
		b.Run(t,
			chromedp.SendKeys(chromedp.CSS(card+` input[inputmode="numeric"]`), number),
			chromedp.Click(chromedp.CSS(card+` [data-action="approve"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(card)),
			chromedp.Navigate(origin+"/signin/push"),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if acct, _ := w.accounts.Load(ctx, "alice"); len(acct.Devices) != 1 {
			t.Errorf("%d devices after the removal, want the phone alone", len(acct.Devices))
		}
	})

	step("after the sign-out the authenticator claims no sign-in", func(t *testing.T) {
		b.Run(t,
			chromedp.Navigate(origin+"/devices"),
			chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)),
			chromedp.WaitVisible(chromedp.ID("signin")),
			chromedp.Navigate(origin+"/app/"),
			chromedp.WaitVisible(chromedp.ID("app-empty")),
		)
		if body := eval(t, `document.body.innerText`); strings.Contains(body, "Signed in") || strings.Contains(body, "Sign out") || strings.Contains(body, "\nalice\n") {
			t.Errorf("after the sign-out the authenticator claims a sign-in:\n%s", body)
		}
		if got := text(t, "#app-whoami"); !strings.Contains(got, "Alice's phone") || !strings.Contains(got, "alice") {
			t.Errorf("#app-whoami %q, want the device and whose it is", got)
		}
	})

	// Before the error pages, whose 403 and 404 the console reports.
	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("console errors, exceptions or CSP violations: %v", errs)
	}

	errorPage := func(t *testing.T, wantTitle, wantText string) {
		t.Helper()
		if got := text(t, "h1"); got != wantTitle {
			t.Errorf("h1 %q, want %q", got, wantTitle)
		}
		if got := text(t, "#error"); !strings.Contains(got, wantText) {
			t.Errorf("#error %q, want %q", got, wantText)
		}
		if href := browsertest.Get(t, b, chromedp.AttributeValue(chromedp.ID("back"), "href")); href.Value != "/devices" {
			t.Errorf("the way back %+v, want /devices", href)
		}
		// The portal's style sheet applies (the page is not Go's text).
		if bg := eval(t, `getComputedStyle(document.querySelector("header.bar")).backgroundColor`); bg != "rgb(11, 92, 173)" {
			t.Errorf("header background %s, want the portal's", bg)
		}
	}

	step("a page that does not exist", func(t *testing.T) {
		b.Run(t, chromedp.Navigate(origin+"/no/such/page"), chromedp.WaitVisible(chromedp.ID("back")))
		errorPage(t, "Page not found", "There is no page at this address")
		b.Screenshot(t, filepath.Join(shots, "portal-not-found.png"))
		b.Run(t, chromedp.Click(chromedp.ID("back")), chromedp.WaitVisible(chromedp.ID("signin")))
	})

	step("a form sent from another site", func(t *testing.T) {
		b.Run(t,
			chromedp.Navigate(elsewhere.URL+"/"),
			chromedp.Click(chromedp.ID("go")),
			chromedp.WaitVisible(chromedp.ID("back")),
		)
		if loc := browsertest.Get(t, b, chromedp.Location()); loc != origin+"/signout" {
			t.Errorf("page %s, want the portal's answer to the form", loc)
		}
		errorPage(t, "Something went wrong", "came from another site")
	})
}
