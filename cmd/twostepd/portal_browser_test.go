package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"layeh.com/radius"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/notify"
	"twostep/portal/browsertest"
)

// TestPortalInBrowser is the self-service story end to end, in headless
// Chromium against two twostepd processes sharing etcd: a user who lost
// every device opens the help desk's activation link, signs in with the
// password and the recovery passcode, adds an authenticator app by its
// QR code and logs in over RADIUS with its codes, adds the web
// authenticator (a WebCrypto key and a Web Push subscription), approves
// a RADIUS push in it, then removes the app (confirmed by a verified push
// approved in the authenticator) and sees its codes refused on both
// nodes.
//
// With TWOSTEP_SCREENSHOTS=DIR the main pages are saved there as PNGs
// (make screenshots writes docs/screenshots/).
func TestPortalInBrowser(t *testing.T) {
	svc, vapidFile := webPushService(t)
	cert, certFile, keyFile := portalCertificate(t, t.TempDir())
	pushPorts, portalPorts := []int{freePort(t), freePort(t)}, []int{freePort(t), freePort(t)}
	n := startNodesExtra(t, nil, func(i int) string {
		return fmt.Sprintf(`push:
  listen: "127.0.0.%[1]d:%[2]d"
  webpush: {vapid_key_file: %[3]s, subject: "mailto:helpdesk@example.edu"}
portal:
  listen: "127.0.0.%[1]d:%[4]d"
  tls: {cert_file: %[5]s, key_file: %[6]s}
  sign_ins_per_minute: 100
  push_services: ["127.0.0.1"]   # the test's Web Push service
`, i+1, pushPorts[i], vapidFile, portalPorts[i], certFile, keyFile)
	}, "secure", "secure")
	origin := fmt.Sprintf("https://127.0.0.1:%d", portalPorts[0])

	shots := os.Getenv("TWOSTEP_SCREENSHOTS")
	shot := func(t *testing.T, b *browsertest.Browser, name string) {
		if shots != "" {
			b.Screenshot(t, filepath.Join(shots, name))
		}
	}
	sub := svc.Subscribe()
	b := browsertest.Start(t, browsertest.TrustCertificate(cert), browsertest.InitScript(fakeSubscription(sub)))
	// What a user grants when the authenticator asks to notify.
	b.Run(t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: origin})
		return err
	}))
	text := func(t *testing.T, sel string) string {
		t.Helper()
		return browsertest.Get(t, b, chromedp.Text(chromedp.CSS(sel)))
	}
	ctx := context.Background()

	t.Run("activation link, password, recovery passcode", func(t *testing.T) {
		code, _, err := n.accounts.IssueRecovery(ctx, clusterUser, time.Hour, 9, "help desk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b.Run(t,
			chromedp.Navigate(origin+"/signin#recovery="+code),
			chromedp.WaitVisible(chromedp.ID("activation")),
		)
		if loc := browsertest.Get(t, b, chromedp.Location()); strings.Contains(loc, code) {
			t.Errorf("the passcode stayed in the address bar: %s", loc)
		}
		b.Run(t,
			chromedp.SendKeys(chromedp.ID("username"), clusterUser),
			chromedp.SendKeys(chromedp.ID("password"), clusterPassword),
		)
		shot(t, b, "signin.png")
		b.Run(t,
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("recovery")),
		)
		// The script that fills it runs once the page is parsed, which
		// may be after the field shows.
		browsertest.Get(t, b, chromedp.Poll[bool](`document.getElementById("recovery").value !== ""`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(10*time.Second)))
		if got := browsertest.Get(t, b, chromedp.Value(chromedp.ID("recovery"))); got != code {
			t.Errorf("recovery field %q, want the link's passcode", got)
		}
		b.Run(t,
			chromedp.Click(chromedp.ID("recovery-submit")),
			chromedp.WaitVisible(chromedp.ID("add-totp")),
		)
		shot(t, b, "add-device.png")
	})

	var totp otp.TOTP
	var usedStep int64
	t.Run("authenticator app by QR code, then RADIUS logins with its codes", func(t *testing.T) {
		b.Run(t,
			chromedp.Click(chromedp.ID("add-totp")),
			chromedp.WaitVisible(chromedp.ID("qr")),
		)
		shot(t, b, "add-authenticator-app.png")
		src := browsertest.Get(t, b, chromedp.AttributeValue(chromedp.ID("qr"), "src"))
		png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src.Value, "data:image/png;base64,"))
		if err != nil {
			t.Fatalf("QR image: %v", err)
		}
		uri, err := browsertest.DecodeQR(png)
		if err != nil {
			t.Fatalf("decode the QR code: %v", err)
		}
		var account string
		if totp, _, account, err = otp.ParseTOTPURI(uri); err != nil || account != clusterUser {
			t.Fatalf("QR code %q: account %q, %v", uri, account, err)
		}
		// The code of the step before confirms (the page allows one step
		// of drift), so that the current one is left for the login. Not
		// near a step's end: typing on a loaded machine may take seconds,
		// and two steps later that code is too old.
		awayFromStepEnd(totp, 10*time.Second)
		b.Run(t,
			chromedp.SetValue(chromedp.ID("device-name"), "work phone"),
			chromedp.SendKeys(chromedp.ID("code"), totp.Code(totp.Step(time.Now())-1)),
			chromedp.Click(chromedp.ID("add-totp-submit")),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if got := text(t, "#notice"); !strings.Contains(got, "Your new device is ready") {
			t.Errorf("notice %q", got)
		}
		usedStep = totp.Step(time.Now())
		code := totp.Code(usedStep)
		for _, node := range n.all {
			a := login(t, node.radius, clusterUser, clusterPassword+","+code, nil)
			if node == n.a && a.code != radius.CodeAccessAccept {
				t.Fatalf("login with the app's code on %s: %v %q", node.radius, a.code, a.message)
			}
			// The same code on the second node is a replay.
			if node == n.b && a.code != radius.CodeAccessReject {
				t.Fatalf("the same code again on %s: %v, want a reject", node.radius, a.code)
			}
		}
	})

	var appDevice string
	t.Run("web authenticator enrolls and approves a RADIUS push", func(t *testing.T) {
		b.Run(t,
			chromedp.Navigate(origin+"/devices/add"),
			chromedp.Click(chromedp.ID("add-app")),
			chromedp.WaitVisible(chromedp.ID("enroll-app")),
		)
		shot(t, b, "add-this-phone.png")
		b.Run(t,
			chromedp.WaitEnabled(chromedp.ID("enroll-app")), // the script enables it
			chromedp.Click(chromedp.ID("enroll-app")),
			chromedp.WaitVisible(chromedp.ID("app-device")),
		)
		acct, err := n.accounts.Load(ctx, clusterUser)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range acct.Devices {
			if d.Type == cluster.PushApp {
				appDevice = d.ID
				pd, _ := d.PushDevice()
				if pd.Kind != notify.KindWebPush || pd.Endpoint != sub.Endpoint {
					t.Errorf("registered %s at %q, want the browser's Web Push subscription", pd.Kind, pd.Endpoint)
				}
			}
		}
		if appDevice == "" {
			t.Fatal("no push device stored")
		}
		done := make(chan answer, 1)
		go func() { done <- login(t, n.b.radius, clusterUser, clusterPassword+",push", nil) }()
		select {
		case m := <-svc.Messages():
			if m.Device != appDevice {
				t.Errorf("Web Push for device %s, want %s", m.Device, appDevice)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no Web Push within 10s; refused: %v", svc.Rejected())
		}
		// The app finds the waiting login (it polls while open).
		card := `article.push[data-push]`
		b.Run(t, chromedp.WaitVisible(chromedp.CSS(card)))
		shot(t, b, "authenticator.png")
		// The client's display name, not its name in the logs ("nas").
		if got := text(t, card+" .push-title"); got != "Login request: "+clusterService {
			t.Errorf("card title %q, want the login request and the client's display name", got)
		}
		if got := text(t, card); !strings.Contains(got, clusterService) || !strings.Contains(got, clusterUser) {
			t.Errorf("the card does not say which service and user: %q", got)
		}
		b.Run(t, chromedp.Click(chromedp.CSS(card+` [data-action="approve"]`)))
		select {
		case a := <-done:
			if a.code == radius.CodeAccessChallenge {
				// The NAS's wait (nas_timeout 1s, 3 retries) ended before
				// the approval: "Approve…, then press Enter", as a user
				// on a slow phone would see. Enter, now that it is approved.
				if !strings.Contains(a.message, "press Enter") {
					t.Fatalf("challenge %q, want the press-Enter prompt", a.message)
				}
				a = login(t, n.b.radius, clusterUser, "", a.state)
			}
			if a.code != radius.CodeAccessAccept {
				t.Fatalf("RADIUS after the approval: %v %q", a.code, a.message)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no RADIUS answer within 20s of the approval")
		}
	})

	t.Run("remove the app, confirmed by a verified push; its codes fail on every node", func(t *testing.T) {
		acct, err := n.accounts.Load(ctx, clusterUser)
		if err != nil {
			t.Fatal(err)
		}
		var app string
		for _, d := range acct.Devices {
			if d.Type == cluster.TOTP {
				app = d.ID
			}
		}
		row := fmt.Sprintf(`li.device[data-device="%s"]`, app)
		b.Run(t,
			chromedp.Navigate(origin+"/devices"),
			chromedp.WaitVisible(chromedp.CSS(row)),
		)
		shot(t, b, "my-settings-and-devices.png")
		b.Run(t,
			chromedp.Click(chromedp.CSS(row+` [data-action="remove"]`)),
			chromedp.WaitVisible(chromedp.ID("confirm")),
		)
		shot(t, b, "confirm-removal.png")
		b.Run(t,
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`button.push-to[data-device="%s"]`, appDevice))),
			chromedp.WaitVisible(chromedp.ID("push-number")),
		)
		shot(t, b, "send-me-a-push.png")
		number := text(t, "#push-number")
		// On the phone: the authenticator shows the request and asks for
		// the number.
		card := `article.push[data-push]`
		b.Run(t,
			chromedp.Navigate(origin+"/app/"),
			chromedp.WaitVisible(chromedp.CSS(card+` input[inputmode="numeric"]`)),
		)
		if got := text(t, card); !strings.Contains(got, challenge.PortalService) {
			t.Errorf("the card does not name the portal: %q", got)
		}
		if got, want := text(t, card+" .push-title"), "Remove the device “work phone”"; got != want {
			t.Errorf("card title %q, want %q: the push confirms a removal, it is no login", got, want)
		}
		b.Run(t,
			chromedp.SendKeys(chromedp.CSS(card+` input[inputmode="numeric"]`), number),
			chromedp.Click(chromedp.CSS(card+` [data-action="approve"]`)),
			chromedp.WaitNotPresent(chromedp.CSS(card)),
			// Back in the portal, the waiting page sees the approval.
			chromedp.Navigate(origin+"/signin/push"),
			chromedp.WaitVisible(chromedp.ID("notice")),
		)
		if got := text(t, "#notice"); !strings.Contains(got, "removed") {
			t.Errorf("notice %q, want the removal", got)
		}
		if acct, _ := n.accounts.Load(ctx, clusterUser); len(acct.Devices) != 1 {
			t.Fatalf("%d devices after the removal, want the authenticator alone", len(acct.Devices))
		}
		// A fresh code, never used: only the removal refuses it.
		for totp.Step(time.Now()) == usedStep {
			time.Sleep(200 * time.Millisecond)
		}
		code := totp.Code(totp.Step(time.Now()))
		for _, node := range n.all {
			a := login(t, node.radius, clusterUser, clusterPassword+","+code, nil)
			if a.code != radius.CodeAccessReject {
				t.Errorf("the removed app's code on %s: %v, want a reject", node.radius, a.code)
			}
		}
	})

	if errs := b.ConsoleErrors(); len(errs) > 0 {
		t.Errorf("the pages logged errors (a CSP violation, a failed script): %v", errs)
	}
}

// awayFromStepEnd waits, when fewer than margin are left of the current
// TOTP step, for the next one to begin.
func awayFromStepEnd(t otp.TOTP, margin time.Duration) {
	now := time.Now()
	next := time.Unix((t.Step(now)+1)*int64(t.Period/time.Second), 0)
	if left := next.Sub(now); left < margin {
		time.Sleep(left + 100*time.Millisecond)
	}
}

// fakeSubscription replaces the browser's Web Push subscription (which
// needs Google's push service, out of reach here) with the test push
// service's: the daemons then deliver real, encrypted Web Push messages
// to it. This test is about that delivery; what the web authenticator
// does with the browser's own subscribe(), which never answers here, the
// portal package's browser tests show (TestPortalBrowser,
// TestAuthenticatorBrowser).
func fakeSubscription(t notify.Target) string {
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`(() => {
  const endpoint = %q, p256dh = %q, auth = %q;
  const bytes = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "==".slice((s.length + 2) %% 4 || 2)), (c) => c.charCodeAt(0)).buffer;
  const sub = {
    endpoint, expirationTime: null, options: {userVisibleOnly: true},
    getKey: (name) => bytes(name === "p256dh" ? p256dh : auth),
    toJSON: () => ({endpoint, expirationTime: null, keys: {p256dh, auth}}),
    unsubscribe: () => Promise.resolve(true),
  };
  if (self.PushManager) {
    PushManager.prototype.subscribe = function () { return Promise.resolve(sub); };
    PushManager.prototype.getSubscription = function () { return Promise.resolve(null); };
  }
})();`, t.Endpoint, enc(t.P256DH), enc(t.Auth))
}

// portalCertificate writes a self-signed certificate for the nodes'
// portals (127.0.0.1 and 127.0.0.2) and returns it with its files.
func portalCertificate(t *testing.T, dir string) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "twostep test portal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "portal.crt"), filepath.Join(dir, "portal.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, certFile, keyFile
}
