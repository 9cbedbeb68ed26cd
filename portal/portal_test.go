package portal_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/directory"
	"twostep/internal/logbuf"
	"twostep/notify"
	"twostep/portal"
	"twostep/portal/browsertest"
)

// syncBuffer is the shared logbuf.Buffer.
type syncBuffer = logbuf.Buffer

// fakeDirectory knows two users, alice and bob, both with password "pw".
type fakeDirectory struct{}

func (fakeDirectory) Authenticate(_ context.Context, user, password string) (directory.Result, error) {
	if user != "alice" && user != "bob" {
		return directory.Result{Status: directory.UnknownUser}, nil
	}
	if password != "pw" {
		return directory.Result{Status: directory.BadPassword}, nil
	}
	return directory.Result{Status: directory.OK, User: directory.User{Name: user}}, nil
}

type nopNotifier struct{}

func (nopNotifier) Notify(context.Context, notify.Target, notify.Message) error { return nil }

// world is two portal nodes sharing one store.
type world struct {
	t        *testing.T
	accounts *cluster.Accounts
	store    cluster.Store
	nodes    []*httptest.Server
	clock    atomic.Int64 // the portal's clock, as an offset from now
	logs     syncBuffer   // what both nodes log
}

func newWorld(t *testing.T, cfg portal.Config) *world {
	return newWorldWith(t, cfg, challenge.Passcodes{Lockout: cluster.LockoutPolicy{Attempts: 10}})
}

func newWorldWith(t *testing.T, cfg portal.Config, pc challenge.Passcodes) *world {
	t.Helper()
	keyFile, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	w := &world{t: t, accounts: cluster.NewAccounts(store, keys), store: store}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(w.clock.Load())) }
	}
	for range 2 {
		ps := cluster.NewPushes(store, keys)
		t.Cleanup(ps.Close)
		engine := challenge.NewEngine(fakeDirectory{}, challenge.Policy{},
			challenge.WithPasscodes(pc, w.accounts, cluster.NewChallenges(store, keys)),
			challenge.WithPush(challenge.PushConfig{Timeout: time.Minute}, ps, nopNotifier{}),
			challenge.WithAudit(cluster.NewAudit(store, 0), "test"))
		p, err := portal.New(cfg, engine, w.accounts, cluster.NewSessions(store, keys), zerolog.New(&w.logs))
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
	// A client of its own: the server's Client is shared, and so would
	// be its cookie jar.
	c := &http.Client{Transport: w.nodes[0].Client().Transport, Jar: jar}
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

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfAttrRE = regexp.MustCompile(`data-csrf="([^"]+)"`)
)

// csrfAttr is the token the last page gave its script.
func (b *visitor) csrfAttr() string {
	m := csrfAttrRE.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no data-csrf on the page:\n%s", b.last)
	}
	return m[1]
}

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

var (
	keyRE   = regexp.MustCompile(`id="totp-key">([^<]+)<`)
	shownRE = regexp.MustCompile(`name="shown" value="([^"]+)"`)
)

// shown is the name of the secret the last page showed.
func (b *visitor) shown() string {
	m := shownRE.FindStringSubmatch(b.last)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestPortalFlows(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true, Tokens: portal.TokensConfig{SelfAssign: true}})
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
		// An enroll-only session cannot reach the settings, nor change
		// anything but adding a device.
		if _, body := b.get("/devices"); !strings.Contains(body, `id="add-totp"`) || strings.Contains(body, `data-action="remove"`) {
			t.Fatal("an enroll-only session reached the settings")
		}
		for _, path := range []string{"/devices/rename", "/devices/remove", "/devices/default"} {
			if code, _ := b.post(path, url.Values{"csrf": {b.csrf()}, "device": {"x"}, "name": {"y"}}); code != http.StatusForbidden {
				t.Errorf("enroll-only POST %s: %d, want 403", path, code)
			}
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
		totp := otp.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
		wrong := "000000"
		if totp.Code(totp.Step(time.Now())) == wrong {
			wrong = "111111"
		}
		shown := b.shown()
		if code, _ := b.post("/devices/add/totp", url.Values{"name": {"phone"}, "shown": {shown}, "code": {wrong}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("wrong first code: %d, want 422", code)
		}
		b.node = 0
		// A page shown again elsewhere makes this one's code stale.
		other := w.browser()
		other.client.Jar = b.client.Jar
		other.get("/devices/add/totp")
		if code, body := b.post("/devices/add/totp", url.Values{"name": {"phone"}, "shown": {shown}, "code": {totp.Code(totp.Step(time.Now()))}}); code != http.StatusConflict || !strings.Contains(body, "another tab") {
			t.Fatalf("a code from a replaced page: %d, want 409", code)
		}
		m = keyRE.FindStringSubmatch(b.last)
		secret, _ = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		totp = otp.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
		code, body = b.post("/devices/add/totp", url.Values{"name": {"phone"}, "shown": {b.shown()}, "code": {totp.Code(totp.Step(time.Now()))}})
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
		for i := range 5 {
			code, body = c.post("/signin/passcode", url.Values{"code": {fmt.Sprintf("12345%d", i)}})
		}
		if code != http.StatusUnauthorized || !strings.Contains(body, "Sign in again") {
			t.Fatalf("after 5 wrong codes: %d:\n%s", code, body)
		}
		acct, _ := w.accounts.Load(context.Background(), "alice")
		if acct.Lockout.Failures != 5 {
			t.Errorf("lockout failures %d, want 5", acct.Lockout.Failures)
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
	})
	t.Run("the session cookie", func(t *testing.T) {
		c := w.browser()
		c.get("/signin")
		form := url.Values{"username": {"alice"}, "password": {"pw"}}
		req, _ := http.NewRequest(http.MethodPost, c.url("/signin"), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		set := resp.Header.Get("Set-Cookie")
		for _, want := range []string{"__Host-twostep=", "Path=/", "Secure", "HttpOnly", "SameSite=Strict"} {
			if !strings.Contains(set, want) {
				t.Errorf("Set-Cookie %q lacks %q", set, want)
			}
		}
		if strings.Contains(set, "Expires") || strings.Contains(set, "Max-Age") {
			t.Errorf("Set-Cookie %q outlives the browser", set)
		}
	})
	t.Run("a locked account's session ends", func(t *testing.T) {
		b.get("/devices")
		if err := w.accounts.Lock(context.Background(), "alice", cluster.LockAdmin, time.Now()); err != nil {
			t.Fatal(err)
		}
		code, body := b.get("/devices")
		if code != http.StatusForbidden || !strings.Contains(body, "locked") {
			t.Fatalf("after the lock: %d:\n%s", code, body)
		}
		if _, err := w.accounts.Unlock(context.Background(), "alice"); err != nil {
			t.Fatal(err)
		}
		if _, body := b.get("/devices"); !strings.Contains(body, `id="password"`) {
			t.Fatal("the session came back after the unlock")
		}
	})
}

// signedIn is a visitor signed in with a bypass code.
func (w *world) signedIn() *visitor {
	b := w.browser()
	b.signIn()
	if code, body := b.post("/signin/passcode", url.Values{"code": {b.bypass()}}); code != 200 || !strings.Contains(body, "My Settings") {
		w.t.Fatalf("sign-in: %d:\n%s", code, body)
	}
	return b
}

func TestAddingNeedsARecentFactor(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true})
	b := w.signedIn()
	if _, body := b.get("/devices/add"); !strings.Contains(body, `id="add-totp"`) {
		t.Fatal("a fresh sign-in cannot add a device")
	}
	w.clock.Store(int64(11 * time.Minute))
	code, body := b.get("/devices/add")
	if code != 200 || !strings.Contains(body, `id="confirm"`) || !strings.Contains(body, "Add a new device") {
		t.Fatalf("11 minutes later: %d, want the confirmation:\n%s", code, body)
	}
	if code, body = b.post("/signin/passcode", url.Values{"code": {b.bypass()}}); code != 200 || !strings.Contains(body, `id="add-totp"`) {
		t.Fatalf("after confirming: %d:\n%s", code, body)
	}
}

func TestGraceEnrollment(t *testing.T) {
	w := newWorldWith(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true},
		challenge.Passcodes{Unenrolled: challenge.Unenrolled{Allow: true, Grace: 24 * time.Hour}})
	attacker, user := w.browser(), w.browser()
	for _, v := range []*visitor{attacker, user} {
		v.get("/signin")
		if code, body := v.post("/signin", url.Values{"username": {"alice"}, "password": {"pw"}}); code != 200 || !strings.Contains(body, `id="add-totp"`) {
			t.Fatalf("grace sign-in: %d, want Add a new device:\n%s", code, body)
		}
	}
	addTOTP := func(v *visitor) (int, string) {
		_, body := v.get("/devices/add/totp")
		m := keyRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no key on the page:\n%s", body)
		}
		secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
		totp := otp.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
		return v.post("/devices/add/totp", url.Values{"name": {"phone"}, "shown": {v.shown()}, "code": {totp.Code(totp.Step(time.Now()))}})
	}
	// The user adds the first device: the session ends with it, and the
	// sign-in that follows has the user name filled in.
	if code, body := addTOTP(user); code != 200 || !strings.Contains(body, "Sign in again and confirm with it") {
		t.Fatalf("first device: %d:\n%s", code, body)
	} else if !strings.Contains(body, `id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="alice"`) {
		t.Errorf("the sign-in after the first device has no user name:\n%s", body)
	}
	if _, body := attacker.get("/signin"); strings.Contains(body, `value="alice"`) {
		t.Errorf("another browser's sign-in has the user name filled in")
	}
	if _, body := user.get("/devices/add"); !strings.Contains(body, `id="password"`) {
		t.Fatal("the grace session outlived the first device")
	}
	// The session the password alone opened earlier adds nothing now.
	if code, body := addTOTP(attacker); code != http.StatusConflict || !strings.Contains(body, "has a device already") {
		t.Fatalf("a second device through an old grace session: %d:\n%s", code, body)
	}
	if acct, _ := w.accounts.Load(context.Background(), "alice"); len(acct.Devices) != 1 {
		t.Fatalf("%d devices, want 1", len(acct.Devices))
	}
}

func TestAppEnrollmentChecks(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true})
	b := w.signedIn()
	b.get("/devices/add/app")
	csrf := b.csrfAttr()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	enroll := func(csrf, endpoint string) int {
		body := fmt.Sprintf(`{"name":"phone","public_key":%q,"subscription":{"endpoint":%q,"keys":{"p256dh":%q,"auth":%q}}}`,
			base64.RawURLEncoding.EncodeToString(pub), endpoint, base64.RawURLEncoding.EncodeToString(pub), base64.RawURLEncoding.EncodeToString(make([]byte, 16)))
		req, _ := http.NewRequest(http.MethodPost, b.url("/devices/add/app"), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := enroll("forged", "https://fcm.googleapis.com/fcm/send/x"); code != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", code)
	}
	if code := enroll(csrf, "https://10.0.0.5:8443/anything"); code != http.StatusBadRequest {
		t.Errorf("a push endpoint on a private address: %d, want 400", code)
	}
	if code := enroll(csrf, "https://fcm.googleapis.com/fcm/send/x"); code != http.StatusOK {
		t.Errorf("a browser's push service: %d, want 200", code)
	}
	// A multipart body is refused before it is read.
	req, _ := http.NewRequest(http.MethodPost, b.url("/signin"), strings.NewReader("--x--"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("multipart sign-in: %d, want 415", resp.StatusCode)
	}
}

func TestTokenSelfAssignment(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, Tokens: portal.TokensConfig{SelfAssign: true}})
	secret := make([]byte, 20)
	rand.Read(secret)
	if err := w.accounts.ImportTokens(context.Background(), []cluster.Token{{Serial: "TK-1", Type: cluster.TOTP, Algorithm: "SHA1",
		Digits: 6, Period: 30 * time.Second, Secret: secret}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	totp := otp.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
	b := w.signedIn()
	b.get("/devices/add/token")
	wrong := "000000"
	if totp.Code(totp.Step(time.Now())) == wrong {
		wrong = "111111"
	}
	_, unknown := b.post("/devices/add/token", url.Values{"serial": {"NOPE"}, "name": {"token"}, "code": {"222222"}})
	code, bad := b.post("/devices/add/token", url.Values{"serial": {"TK-1"}, "name": {"token"}, "code": {wrong}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong code: %d, want 422", code)
	}
	if msg := regexp.MustCompile(`id="error">([^<]+)<`); msg.FindString(unknown) != msg.FindString(bad) {
		t.Errorf("an unknown serial and a wrong code answer differently:\n%s\n%s", msg.FindString(unknown), msg.FindString(bad))
	}
	acct, _ := w.accounts.Load(context.Background(), "alice")
	if acct.Lockout.Failures != 2 || len(acct.Devices) != 0 {
		t.Fatalf("after two wrong tries: %d failures, %d devices; want 2 and 0", acct.Lockout.Failures, len(acct.Devices))
	}
	if tok, _ := w.accounts.Token(context.Background(), "TK-1"); tok.State != cluster.TokenUnassigned {
		t.Fatalf("token state %s after a wrong code, want unassigned", tok.State)
	}
	if code, body := b.post("/devices/add/token", url.Values{"serial": {"TK-1"}, "name": {"token"}, "code": {totp.Code(totp.Step(time.Now()))}}); code != 200 || !strings.Contains(body, "Your new device is ready") {
		t.Fatalf("right code: %d:\n%s", code, body)
	}
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

func TestTrustedProxies(t *testing.T) {
	// Three attempts per address, each for another name: the address's
	// ceiling is what counts.
	signIn := func(t *testing.T, w *world, forwarded string, i int) int {
		b := w.browser()
		form := url.Values{"username": {fmt.Sprintf("user%d", i)}, "password": {"nope"}}
		req, _ := http.NewRequest(http.MethodPost, b.url("/signin"), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", forwarded)
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("behind a trusted proxy, each browser has its own limit", func(t *testing.T) {
		w := newWorld(t, portal.Config{AddressSignInsPerMinute: 3, TrustedProxies: loopbackProxyNet})
		for i := range 3 {
			signIn(t, w, "203.0.113.9, 198.51.100.1", i)
		}
		if code := signIn(t, w, "203.0.113.9, 198.51.100.1", 3); code != http.StatusTooManyRequests {
			t.Errorf("4th from 198.51.100.1: %d, want 429", code)
		}
		// The browser may write the first hops itself: only the last
		// untrusted one counts.
		if code := signIn(t, w, "203.0.113.10, 198.51.100.2", 4); code != http.StatusUnauthorized {
			t.Errorf("first from 198.51.100.2: %d, want 401 (wrong password, not limited)", code)
		}
	})
	t.Run("an untrusted peer's header is ignored", func(t *testing.T) {
		w := newWorld(t, portal.Config{AddressSignInsPerMinute: 3})
		for i := range 3 {
			signIn(t, w, fmt.Sprintf("198.51.100.%d", i), i)
		}
		if code := signIn(t, w, "198.51.100.99", 3); code != http.StatusTooManyRequests {
			t.Errorf("4th from 127.0.0.1 with a made-up header: %d, want 429", code)
		}
	})
}

// TestEnrollmentQRCodes reads the QR code of many enrollment pages as a
// phone would: each must hold the otpauth URI of the key shown beside it.
func TestEnrollmentQRCodes(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000})
	b := w.signedIn()
	qrRE := regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`)
	linkRE := regexp.MustCompile(`id="otpauth" href="([^"]+)"`)
	for i := range 40 {
		_, body := b.get("/devices/add/totp")
		m, k := qrRE.FindStringSubmatch(body), keyRE.FindStringSubmatch(body)
		if m == nil || k == nil {
			t.Fatalf("page %d has no QR code or key", i)
		}
		png, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		uri, err := browsertest.DecodeQR(png)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		totp, _, account, err := otp.ParseTOTPURI(uri)
		if err != nil || account != "alice" {
			t.Fatalf("page %d: %q: %v", i, uri, err)
		}
		if got, want := b32.EncodeToString(totp.Secret), strings.ReplaceAll(k[1], " ", ""); got != want {
			t.Fatalf("page %d: the QR code holds key %s, the page shows %s", i, got, want)
		}
		// "Open in the authenticator app" holds the same URI.
		if l := linkRE.FindStringSubmatch(body); l == nil || html.UnescapeString(l[1]) != uri {
			t.Fatalf("page %d: the app link %q, want the QR code's %q", i, l, uri)
		}
	}
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TestAuthenticatorPage: the web authenticator's page names who is
// signed in to the portal in this browser, and nobody after the sign-out
// (the device's key is not a session); the enrolment page tells the app
// how long to wait for the browser's push service.
func TestAuthenticatorPage(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true})
	b := w.signedIn()
	if _, body := b.get("/devices/add/app"); !strings.Contains(body, `data-subscribe-timeout="15000"`) {
		t.Errorf("the enrolment page does not give the push service's 15 s:\n%s", body)
	}
	if _, body := b.get("/app/"); !strings.Contains(body, `id="app-signed-in">alice<`) || !strings.Contains(body, `action="/signout"`) {
		t.Errorf("signed in, the authenticator's header does not say so:\n%s", body)
	}
	b.post("/signout", url.Values{})
	if _, body := b.get("/app/"); strings.Contains(body, "app-signed-in") || strings.Contains(body, "Sign out") || strings.Contains(body, "Signed in") {
		t.Errorf("signed out, the authenticator claims a sign-in:\n%s", body)
	}
}

// TestTamperedSession raises a signed-in session's attempts in the store,
// as somebody without the key file would: the browser is signed out, and
// the log says why at error level.
func TestTamperedSession(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000})
	b := w.browser()
	b.signIn()
	entries, err := w.store.List(context.Background(), "sessions/")
	if err != nil || len(entries) != 1 {
		t.Fatalf("sessions: %d, %v", len(entries), err)
	}
	forged := strings.Replace(string(entries[0].Value), `"attempts":`, `"attempts":9`, 1)
	if _, err := w.store.Commit(context.Background(), cluster.Txn{Then: []cluster.Op{cluster.Put(entries[0].Key, []byte(forged))}}); err != nil {
		t.Fatal(err)
	}
	if _, body := b.get("/signin/factor"); !strings.Contains(body, `id="password"`) {
		t.Errorf("a tampered session still signs in:\n%s", body)
	}
	logs := w.logs.String()
	if !strings.Contains(logs, `"cause":"session_refused"`) || !strings.Contains(logs, `"level":"error"`) || !strings.Contains(logs, "integrity") {
		t.Errorf("log:\n%s\nwant an error line with cause session_refused", logs)
	}
}
