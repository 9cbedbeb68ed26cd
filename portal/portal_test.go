package portal_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/directory"
	"twostep/notify"
	"twostep/portal"
)

// fakeDirectory knows one user, alice, with password "pw".
type fakeDirectory struct{}

func (fakeDirectory) Authenticate(_ context.Context, user, password string) (directory.Result, error) {
	if user != "alice" {
		return directory.Result{Status: directory.UnknownUser}, nil
	}
	if password != "pw" {
		return directory.Result{Status: directory.BadPassword}, nil
	}
	return directory.Result{Status: directory.OK, User: directory.User{Name: "alice"}}, nil
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, notify.Target, notify.Message) error { return nil }

// world is two portal nodes sharing one store.
type world struct {
	t        *testing.T
	accounts *cluster.Accounts
	nodes    []*httptest.Server
}

func newWorld(t *testing.T, cfg portal.Config) *world {
	t.Helper()
	keyFile, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	store := cluster.NewMemory()
	w := &world{t: t, accounts: cluster.NewAccounts(store, keys)}
	for range 2 {
		ps := cluster.NewPushes(store, keys)
		t.Cleanup(ps.Close)
		engine := challenge.NewEngine(fakeDirectory{}, challenge.Policy{},
			challenge.WithPasscodes(challenge.Passcodes{}, w.accounts, cluster.NewChallenges(store, keys)),
			challenge.WithPush(challenge.PushConfig{Timeout: time.Minute}, ps, nopNotifier{}),
			challenge.WithAudit(cluster.NewAudit(store, 0), "test"))
		p, err := portal.New(cfg, engine, w.accounts, cluster.NewSessions(store, keys), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewTLSServer(p.Handler())
		t.Cleanup(srv.Close)
		w.nodes = append(w.nodes, srv)
	}
	return w
}

// visitor is a cookie jar that may talk to either node (they share the
// host 127.0.0.1, so the cookie goes to both, as behind a load
// balancer).
type visitor struct {
	t      *testing.T
	w      *world
	client *http.Client
	node   int
	last   string // the last page's body
}

func (w *world) browser() *visitor {
	jar, _ := cookiejar.New(nil)
	c := w.nodes[0].Client()
	c.Jar = jar
	c.CheckRedirect = nil
	return &visitor{t: w.t, w: w, client: c}
}

func (b *visitor) url(path string) string { return b.w.nodes[b.node].URL + path }

func (b *visitor) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.url(path))
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *visitor) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.w.nodes[b.node].URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.read(resp)
}

func (b *visitor) read(resp *http.Response) (int, string) {
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	return resp.StatusCode, b.last
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the last page's forms.
func (b *visitor) csrf() string {
	m := csrfRE.FindStringSubmatch(b.last)
	if m == nil {
		return "none"
	}
	return m[1]
}

func (b *visitor) signIn() {
	b.t.Helper()
	b.get("/signin")
	if code, body := b.post("/signin", url.Values{"username": {"alice"}, "password": {"pw"}}); code != 200 || !strings.Contains(body, "confirm it&#39;s you") {
		b.t.Fatalf("sign-in: %d, want the second-factor page:\n%s", code, body)
	}
}

func (b *visitor) bypass() string {
	b.t.Helper()
	code, _, err := b.w.accounts.IssueBypass(context.Background(), "alice", cluster.BypassSpec{MaxUses: 1, TTL: time.Hour, Digits: 9}, time.Now())
	if err != nil {
		b.t.Fatal(err)
	}
	return code
}

var keyRE = regexp.MustCompile(`id="totp-key">([^<]+)<`)

func TestPortalFlows(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true, SelfAssignTokens: true})
	b := w.browser()

	t.Run("signed out pages send to sign-in", func(t *testing.T) {
		if code, body := b.get("/devices"); code != 200 || !strings.Contains(body, `id="password"`) {
			t.Fatalf("GET /devices: %d, want the sign-in page", code)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		code, body := b.post("/signin", url.Values{"username": {"alice"}, "password": {"nope"}})
		if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
			t.Fatalf("got %d:\n%s", code, body)
		}
	})
	t.Run("no device, no bypass: recovery only", func(t *testing.T) {
		b.signIn()
		if strings.Contains(b.last, `id="code"`) {
			t.Fatal("a passcode form for a user with no device")
		}
	})
	t.Run("recovery passcode lets a device be added, then signs in", func(t *testing.T) {
		rc, _, err := w.accounts.IssueRecovery(context.Background(), "alice", time.Hour, 9, "help desk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if code, body := b.post("/signin/recovery", url.Values{"code": {rc[:3] + " " + rc[3:]}}); code != 200 || !strings.Contains(body, "Add a new device") {
			t.Fatalf("recovery: %d:\n%s", code, body)
		}
		// An enroll-only session cannot reach the settings.
		if _, body := b.get("/devices"); !strings.Contains(body, "Add a new device") {
			t.Fatal("an enroll-only session reached the settings")
		}
		// The next request lands on the other node: sessions are shared.
		b.node = 1
		code, body := b.get("/devices/add/totp")
		m := keyRE.FindStringSubmatch(body)
		if code != 200 || m == nil || !strings.Contains(body, `src="data:image/png;base64,`) {
			t.Fatalf("authenticator page: %d:\n%s", code, body)
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		totp := challenge.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
		wrong := "000000"
		if totp.Code(totp.Step(time.Now())) == wrong {
			wrong = "111111"
		}
		if code, _ := b.post("/devices/add/totp", url.Values{"name": {"phone"}, "code": {wrong}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("wrong first code: %d, want 422", code)
		}
		b.node = 0
		code, body = b.post("/devices/add/totp", url.Values{"name": {"phone"}, "code": {totp.Code(totp.Step(time.Now()))}})
		if code != 200 || !strings.Contains(body, "My Settings &amp; Devices") || !strings.Contains(body, "Your new device is ready") {
			t.Fatalf("confirm: %d:\n%s", code, body)
		}
		acct, _ := w.accounts.Load(context.Background(), "alice")
		if len(acct.Devices) != 1 || acct.Devices[0].Name != "phone" {
			t.Fatalf("devices: %+v", acct.Devices)
		}
	})
	t.Run("a form without its CSRF token is refused", func(t *testing.T) {
		b.get("/devices")
		code, _ := b.post("/devices/rename", url.Values{"csrf": {"forged"}, "device": {"phone"}, "name": {"x"}})
		if code != http.StatusForbidden {
			t.Fatalf("forged CSRF: %d, want 403", code)
		}
	})
	t.Run("a cross-site post is refused", func(t *testing.T) {
		b.get("/devices")
		req, _ := http.NewRequest(http.MethodPost, b.url("/signout"), strings.NewReader("csrf="+b.csrf()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-site: %d, want 403", resp.StatusCode)
		}
	})
	t.Run("remove needs a second factor", func(t *testing.T) {
		acct, _ := w.accounts.Load(context.Background(), "alice")
		id := acct.Devices[0].ID
		b.get("/devices")
		code, body := b.post("/devices/remove", url.Values{"device": {id}})
		if code != 200 || !strings.Contains(body, "Confirm it") || !strings.Contains(body, html.EscapeString("“phone”")) {
			t.Fatalf("remove: %d:\n%s", code, body)
		}
		if acct, _ := w.accounts.Load(context.Background(), "alice"); len(acct.Devices) != 1 {
			t.Fatal("removed before the second factor")
		}
		code, body = b.post("/signin/passcode", url.Values{"code": {b.bypass()}})
		if code != 200 || !strings.Contains(body, "The device was removed") {
			t.Fatalf("confirm: %d:\n%s", code, body)
		}
		if acct, _ := w.accounts.Load(context.Background(), "alice"); len(acct.Devices) != 0 {
			t.Fatal("not removed")
		}
	})
	t.Run("sign out ends the session on every node", func(t *testing.T) {
		b.get("/devices")
		b.post("/signout", url.Values{})
		b.node = 1
		if _, body := b.get("/devices"); !strings.Contains(body, `id="password"`) {
			t.Fatal("still signed in after sign-out")
		}
		b.node = 0
	})
	t.Run("bypass code signs in", func(t *testing.T) {
		b.signIn()
		if code, body := b.post("/signin/passcode", url.Values{"code": {b.bypass()}}); code != 200 || !strings.Contains(body, "My Settings") {
			t.Fatalf("bypass: %d:\n%s", code, body)
		}
	})
	t.Run("wrong codes end the sign-in", func(t *testing.T) {
		c := w.browser()
		c.signIn()
		var code int
		var body string
		for range 5 {
			code, body = c.post("/signin/passcode", url.Values{"code": {"123456"}})
		}
		if code != http.StatusUnauthorized || !strings.Contains(body, "Sign in again") {
			t.Fatalf("after 5 wrong codes: %d:\n%s", code, body)
		}
		if _, err := w.accounts.Unlock(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("security headers", func(t *testing.T) {
		resp, err := b.client.Get(b.url("/signin"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for h, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'",
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-store",
		} {
			if got := resp.Header.Get(h); !strings.Contains(got, want) {
				t.Errorf("%s: %q, want it to hold %q", h, got, want)
			}
		}
		for _, c := range b.client.Jar.Cookies(resp.Request.URL) {
			if c.Name != "__Host-twostep" {
				t.Errorf("cookie %q", c.Name)
			}
		}
	})
}

func TestSignInRateLimit(t *testing.T) {
	w := newWorld(t, portal.Config{})
	b := w.browser()
	var code int
	for range 11 {
		code, _ = b.post("/signin", url.Values{"csrf": {"x"}, "username": {"alice"}, "password": {"nope"}})
	}
	if code != http.StatusTooManyRequests {
		t.Fatalf("11th attempt in a minute: %d, want 429", code)
	}
}
