package portal

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"twostep/challenge"
	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/notify"
)

// "Add a new device": an authenticator app (QR code, confirmed by its
// first code), this phone as a web authenticator (a WebCrypto key and a
// Web Push subscription), or a hardware token from the inventory by its
// serial (when the admin allows it).

func (p *Portal) enrollRoutes(mux *http.ServeMux) {
	may := []cluster.SessionStage{cluster.StageSignedIn, cluster.StageEnroll}
	mux.HandleFunc("GET /devices/add", p.withSession(p.addPage, may...))
	mux.HandleFunc("GET /devices/add/totp", p.withSession(p.addTOTPPage, may...))
	mux.HandleFunc("POST /devices/add/totp", p.withSession(p.addTOTP, may...))
	mux.HandleFunc("GET /devices/add/app", p.withSession(p.addAppPage, may...))
	mux.HandleFunc("POST /devices/add/app", p.withSession(p.addApp, may...))
	mux.HandleFunc("GET /devices/add/token", p.withSession(p.addTokenPage, may...))
	mux.HandleFunc("POST /devices/add/token", p.withSession(p.addToken, may...))
}

// addData is the choice of device kinds.
type addData struct {
	App    bool
	Tokens bool
	First  bool // the session may add a device and nothing else
}

// A signed-in session adds a device only within these of its last second
// factor (a page shown, a form sent): whoever sits down at a browser left
// signed in must not slip in a device of their own.
const (
	recentFactor     = 10 * time.Minute
	recentFactorPost = 20 * time.Minute
)

// mayAdd reports whether s may add a device now. When its last second
// factor is too old, a page asks for one first (and false is returned).
func (p *Portal) mayAdd(w http.ResponseWriter, r *http.Request, s *visit) bool {
	if s.Stage != cluster.StageSignedIn {
		return true // enroll-only: the recovery passcode or the grace decided
	}
	age := p.cfg.Now().Sub(s.Factor)
	if r.Method == http.MethodGet && age <= recentFactor || r.Method != http.MethodGet && age <= recentFactorPost {
		return true
	}
	if r.Method != http.MethodGet {
		if wantsJSON(r) {
			replyJSON(w, http.StatusForbidden, appEnrolled{Error: "Confirm it's you again: reload the page."})
		} else {
			p.pages.error(w, http.StatusForbidden, "Confirm it's you again: go back to Add a new device.")
		}
		return false
	}
	s.Pending, s.Push, s.Number = &cluster.SessionAction{Kind: "add"}, "", ""
	if err := p.sessions.Update(r.Context(), s.Session); err != nil {
		p.unavailable(w, r, err)
		return false
	}
	http.Redirect(w, r, "/signin/factor", http.StatusSeeOther)
	return false
}

func (p *Portal) addPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.mayAdd(w, r, s) {
		return
	}
	v := &view{Title: "Add a new device", User: s.User, CSRF: s.CSRF, Data: addData{App: p.cfg.WebAuthenticator, Tokens: p.cfg.Tokens.SelfAssign, First: s.Stage == cluster.StageEnroll}}
	p.pages.render(w, http.StatusOK, "add.html", v)
}

// totpData is the authenticator app page's: the QR code, the link and
// the key are the secret, shown on this page only.
type totpData struct {
	QR     template.URL // data: URI of the PNG
	URI    template.URL // the otpauth: URI the QR code holds, for a link that opens the app on a phone
	Key    string       // base32, in groups of four
	Shown  string       // names the secret this page shows (not the secret)
	Issuer string
	Name   string
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// qrModulePixels is the QR code's pixels per module: about 300 pixels
// for an otpauth URI, shown at 16rem.
const qrModulePixels = 6

// newTOTP is what the portal enrolls: what every authenticator app
// honours.
func newTOTP(secret []byte) otp.TOTP {
	return otp.TOTP{Secret: secret, Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}
}

// confirmWindow accepts the code shown a step before or after ours, for
// a phone whose clock is a little off.
var confirmWindow = otp.Window{Back: 1, Ahead: 1}

func (p *Portal) addTOTPPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.mayAdd(w, r, s) {
		return
	}
	// A new secret each time the page is shown: reloading it forgets
	// the one before.
	secret, err := otp.NewTOTPSecret(rand.Reader, otp.SHA1)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	if err := p.sessions.SealEnroll(s.Session, secret); err != nil {
		p.unavailable(w, r, err)
		return
	}
	if err := p.sessions.Update(r.Context(), s.Session); err != nil {
		p.unavailable(w, r, err)
		return
	}
	p.renderTOTP(w, r, s, secret, http.StatusOK, "", "")
}

func (p *Portal) renderTOTP(w http.ResponseWriter, r *http.Request, s *visit, secret []byte, status int, name, msg string) {
	uri := newTOTP(secret).URI(p.cfg.Issuer, s.User)
	qr, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	// Whole pixels per module: a scaled-down code blurs its edges, and
	// phones (and decoders) misread it.
	png, err := qr.PNG(-qrModulePixels)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	if name == "" {
		name = p.suggestName(r, s, "Authenticator app")
	}
	d := totpData{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)),
		URI:    template.URL(uri), // otpauth: is no scheme html/template lets through on its own
		Key:    groups(b32.EncodeToString(secret), 4),
		Shown:  secretName(secret),
		Issuer: p.cfg.Issuer, Name: name,
	}
	p.pages.render(w, status, "add-totp.html", &view{Title: "Add an authenticator app", User: s.User, CSRF: s.CSRF, Error: msg, Data: d})
}

// suggestName offers base, or "base 2", … when the user has it already.
func (p *Portal) suggestName(r *http.Request, s *visit, base string) string {
	acct, err := p.account(r, s)
	if err != nil {
		return base
	}
	name := base
	for i := 2; ; i++ {
		taken := false
		for _, d := range acct.Devices {
			taken = taken || strings.EqualFold(d.Name, name)
		}
		if !taken {
			return name
		}
		name = fmt.Sprintf("%s %d", base, i)
	}
}

// secretName tells the secrets shown apart without showing them: a
// keyed page must send back the name of the secret it showed.
func secretName(secret []byte) string {
	sum := sha256.Sum256(append([]byte("twostep enroll page\x00"), secret...))
	return hex.EncodeToString(sum[:8])
}

func groups(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%n == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (p *Portal) addTOTP(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.mayAdd(w, r, s) {
		return
	}
	secret, err := p.sessions.OpenEnroll(s.Session)
	if err != nil {
		// Reloaded elsewhere, or the session moved on: start again.
		http.Redirect(w, r, "/devices/add/totp", http.StatusSeeOther)
		return
	}
	name, nerr := deviceName(r.PostFormValue("name"))
	if nerr != nil {
		p.renderTOTP(w, r, s, secret, http.StatusBadRequest, r.PostFormValue("name"), nerr.Error())
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("shown")), []byte(secretName(secret))) != 1 {
		// The page was shown again meanwhile (another tab, a reload): the
		// code the user typed belongs to a QR code that is gone.
		p.renderTOTP(w, r, s, secret, http.StatusConflict, name,
			"This page was opened again in another tab or window, with a new QR code. Scan this one, or remove the entry you added from the app.")
		return
	}
	if !p.allowSignIn(w, r, s.User, false) {
		p.renderTOTP(w, r, s, secret, http.StatusTooManyRequests, name, msgTooMany)
		return
	}
	now := p.cfg.Now()
	t := newTOTP(secret)
	step, ok := t.Check(typed(r.PostFormValue("code")), now, -1, confirmWindow)
	if !ok {
		p.renderTOTP(w, r, s, secret, http.StatusUnprocessableEntity, name,
			"That code is not the one your app shows for this key. Check that the app added the new entry, then type its current code.")
		return
	}
	// The confirming code is spent with the device: it cannot log in as
	// well.
	dev, err := p.addDevice(r, s, "authenticator app", cluster.Device{
		Name: name, Type: cluster.TOTP, Created: now,
		Algorithm: string(t.Algorithm), Digits: t.Digits, Period: t.Period, Secret: secret, Spent: step,
	})
	if msg := addError(err); msg != "" {
		p.renderTOTP(w, r, s, secret, http.StatusConflict, name, msg)
		return
	}
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	s.Enroll = nil
	p.added(w, r, s, dev, "authenticator app")
}

// addDevice stores d, a device of kind how, for s's user, with its
// audit event. A session that the password alone opened (the enrollment
// grace) adds the first device only, in one transaction: once the user
// has a device, the password is not enough.
func (p *Portal) addDevice(r *http.Request, s *visit, how string, d cluster.Device) (cluster.Device, error) {
	accounts := p.as(r, s, how)
	if s.Grace {
		return accounts.AddFirstDevice(r.Context(), s.User, d)
	}
	return accounts.AddDevice(r.Context(), s.User, d)
}

// wantsJSON tells the web authenticator's enrollment (a JSON call) from
// a page's form.
func wantsJSON(r *http.Request) bool { return r.Header.Get("Content-Type") == "application/json" }

// addError turns the refusals of adding a device into words, or "" for
// other errors.
func addError(err error) string {
	switch {
	case errors.Is(err, cluster.ErrHasDevices):
		return "Your account has a device already: sign in again, and confirm with it."
	case errors.Is(err, cluster.ErrDeviceName):
		return "You have a device with that name already: choose another."
	case errors.Is(err, cluster.ErrDeviceLimit):
		return "You have as many devices as allowed: remove one first."
	case errors.Is(err, cluster.ErrDuplicateSeed):
		return "This device is enrolled already."
	case errors.Is(err, cluster.ErrConflict):
		return "Your devices changed meanwhile: try again."
	}
	return ""
}

// added finishes an enrollment (its audit event committed with it):
// log, and for a session that could only enroll, the full settings from
// now on.
func (p *Portal) added(w http.ResponseWriter, r *http.Request, s *visit, dev cluster.Device, kind string) {
	p.log.Info().Str("user", s.User).Str("device", dev.ID).Str("kind", kind).Str("remote", p.remoteIP(r)).Msg("portal: device added")
	if s.Grace {
		// The password alone opened this session: it ends with the first
		// device, and the next sign-in confirms with that device; its
		// form has the user name filled in.
		_ = p.sessions.Delete(r.Context(), s.Session)
		clearCookie(w)
		setUserCookie(w, s.User)
		if wantsJSON(r) {
			replyJSON(w, http.StatusOK, appEnrolled{User: s.User, Device: dev.ID, Name: dev.Name})
			return
		}
		http.Redirect(w, r, "/signin?done=first", http.StatusSeeOther)
		return
	}
	if s.Stage == cluster.StageEnroll {
		// A recovery passcode opened it: the help desk vouched for the
		// user, who now has a device of their own.
		s.Stage, s.Factor = cluster.StageSignedIn, p.cfg.Now().UTC()
		token, err := p.sessions.Rotate(r.Context(), s.Session)
		if err != nil {
			p.unavailable(w, r, err)
			return
		}
		p.setCookie(w, token)
	} else if err := p.sessions.Update(r.Context(), s.Session); err != nil && !errors.Is(err, cluster.ErrConflict) {
		p.unavailable(w, r, err)
		return
	}
	if wantsJSON(r) {
		replyJSON(w, http.StatusOK, appEnrolled{User: s.User, Device: dev.ID, Name: dev.Name})
		return
	}
	http.Redirect(w, r, "/devices?done=added", http.StatusSeeOther)
}

func (p *Portal) addAppPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.mayAdd(w, r, s) {
		return
	}
	p.pages.render(w, http.StatusOK, "add-app.html", &view{Title: "Add this phone as an authenticator", User: s.User, CSRF: s.CSRF,
		Page: "enroll-app", Script: true, VAPID: p.cfg.VAPIDPublicKey, SubscribeTimeout: p.cfg.SubscribeTimeout.Milliseconds(),
		Data: p.suggestName(r, s, "This phone")})
}

// appEnrollment is what the web authenticator posts to enroll: its key
// and, when the browser gave one, its Web Push subscription.
type appEnrollment struct {
	Name         string           `json:"name"`
	PublicKey    string           `json:"public_key"` // base64url of the 65-byte point
	Subscription *appSubscription `json:"subscription"`
}

type appSubscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256DH string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

type appEnrolled struct {
	User   string `json:"user"`
	Device string `json:"device"`
	Name   string `json:"name"`
	Error  string `json:"error,omitempty"`
}

func (p *Portal) addApp(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.mayAdd(w, r, s) {
		return
	}
	var req appEnrollment
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
	if err := dec.Decode(&req); err != nil {
		replyJSON(w, http.StatusBadRequest, appEnrolled{Error: "The request is not an enrollment: " + errorText(err)})
		return
	}
	pd, name, err := pushDeviceOf(req, p.cfg.PushServices)
	if err != nil {
		replyJSON(w, http.StatusBadRequest, appEnrolled{Error: err.Error()})
		return
	}
	dev, err := cluster.NewPushDevice(name, pd, p.cfg.Now())
	if err == nil {
		dev, err = p.addDevice(r, s, "web authenticator", dev)
	}
	if msg := addError(err); msg != "" {
		replyJSON(w, http.StatusConflict, appEnrolled{Error: msg})
		return
	}
	if err != nil {
		p.log.Error().Err(err).Msg("portal: add web authenticator")
		replyJSON(w, http.StatusServiceUnavailable, appEnrolled{Error: "The service is unavailable. Try again in a few minutes."})
		return
	}
	p.added(w, r, s, dev, "web authenticator")
}

// pushDeviceOf checks an enrollment: a P-256 key, and a subscription at
// an https push service with keys of the right sizes.
func pushDeviceOf(req appEnrollment, services []string) (cluster.PushDevice, string, error) {
	name, err := deviceName(req.Name)
	if err != nil {
		return cluster.PushDevice{}, "", err
	}
	key, err := base64.RawURLEncoding.DecodeString(req.PublicKey)
	if err == nil {
		_, err = ecdsa.ParseUncompressedPublicKey(elliptic.P256(), key)
	}
	if err != nil {
		return cluster.PushDevice{}, "", userError("The device's key is not a P-256 public key.")
	}
	pd := cluster.PushDevice{PublicKey: key, Kind: notify.KindApp}
	if sub := req.Subscription; sub != nil {
		u, err := url.Parse(sub.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(sub.Endpoint) > 1024 {
			return cluster.PushDevice{}, "", userError("The browser's push subscription has no https endpoint.")
		}
		if !knownPushService(u.Hostname(), services) {
			// Every push would make the nodes post to this address: only
			// the browsers' push services are taken.
			return cluster.PushDevice{}, "", userError(fmt.Sprintf("This browser's push service (%s) is not one this portal allows; ask the help desk.", u.Hostname()))
		}
		dh, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(sub.Keys.P256DH, "="))
		auth, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(sub.Keys.Auth, "="))
		if err1 != nil || err2 != nil || len(dh) != 65 || len(auth) != 16 {
			return cluster.PushDevice{}, "", userError("The browser's push subscription keys are malformed.")
		}
		pd.Kind, pd.Endpoint, pd.P256DH, pd.Auth = notify.KindWebPush, sub.Endpoint, dh, auth
	}
	return pd, name, nil
}

func (p *Portal) addTokenPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.cfg.Tokens.SelfAssign {
		p.pages.error(w, http.StatusNotFound, "Hardware tokens are handed out by the help desk: ask them to assign one to you.")
		return
	}
	p.pages.render(w, http.StatusOK, "add-token.html", &view{Title: "Add a hardware token", User: s.User, CSRF: s.CSRF,
		Data: p.suggestName(r, s, "Token")})
}

// addToken assigns an inventory token to the user, who proves holding it
// with a code it shows: the code is checked before anything is stored,
// a wrong one counts toward the lockout, and an unknown serial gets the
// same answer as a wrong code (the inventory is nobody's business).
func (p *Portal) addToken(w http.ResponseWriter, r *http.Request, s *visit) {
	if !p.cfg.Tokens.SelfAssign {
		p.pages.error(w, http.StatusNotFound, "Hardware tokens are handed out by the help desk: ask them to assign one to you.")
		return
	}
	if !p.mayAdd(w, r, s) {
		return
	}
	render := func(status int, msg string) {
		p.pages.render(w, status, "add-token.html", &view{Title: "Add a hardware token", User: s.User, CSRF: s.CSRF,
			Error: msg, Data: r.PostFormValue("name")})
	}
	if !p.allowSignIn(w, r, s.User, false) {
		render(http.StatusTooManyRequests, msgTooMany)
		return
	}
	name, err := deviceName(r.PostFormValue("name"))
	if err != nil {
		render(http.StatusBadRequest, err.Error())
		return
	}
	if s.Grace {
		// The token path has no first-device transaction: check, and
		// let the rare race go to the help desk's audit.
		acct, err := p.accounts.Load(r.Context(), s.User)
		if err != nil {
			p.unavailable(w, r, err)
			return
		}
		if len(acct.Devices) > 0 {
			render(http.StatusConflict, addError(cluster.ErrHasDevices))
			return
		}
	}
	serial, code := strings.TrimSpace(r.PostFormValue("serial")), typed(r.PostFormValue("code"))
	now := p.cfg.Now()
	dev, err := p.as(r, s, "").AssignTokenIf(r.Context(), serial, s.User, name, now, func(d cluster.Device, next uint64) (int64, bool) {
		return tokenCode(d, code, next, now)
	})
	switch {
	case errors.Is(err, cluster.ErrNoToken), errors.Is(err, cluster.ErrTokenState), errors.Is(err, cluster.ErrTokenCheck),
		errors.Is(err, cluster.ErrLocked):
		// A wrong serial or code counts as a wrong passcode; a locked
		// account gets its lock's answer (PortalFailure counts nothing
		// then). Either way the answer waits for the count.
		d, ferr := p.engine.PortalFailure(r.Context(), s.User, code)
		if ferr != nil {
			p.unavailable(w, r, ferr)
			return
		}
		if d.Reason != challenge.ReasonBadPasscode && d.Reason != challenge.ReasonLockedOut {
			p.unavailable(w, r, fmt.Errorf("portal: a wrong token code not counted: %s", d.Reason))
			return
		}
		msg := "That serial number and code do not match a token you can take. Check the number on the back, press the button and type the new code."
		if d.Reason == challenge.ReasonLockedOut {
			msg = d.Message
		}
		render(http.StatusUnprocessableEntity, msg)
		return
	case addError(err) != "":
		render(http.StatusConflict, addError(err))
		return
	case err != nil:
		p.unavailable(w, r, err)
		return
	}
	p.added(w, r, s, dev, "hardware token "+serial)
}

// tokenCode checks code against the token d about to be assigned (an
// HOTP token's next counter is next) and returns the step or counter to
// record as used.
func tokenCode(d cluster.Device, code string, next uint64, now time.Time) (int64, bool) {
	if d.Type == cluster.HOTP {
		n, ok := otp.HOTP{Secret: d.Secret, Algorithm: otp.Algorithm(d.Algorithm), Digits: d.Digits}.
			Check(code, next, otp.DefaultHOTPWindow)
		return int64(n) - 1, ok
	}
	t := otp.TOTP{Secret: d.Secret, Algorithm: otp.Algorithm(d.Algorithm), Digits: d.Digits, Period: d.Period}
	return t.Check(code, now, -1, confirmWindow)
}

// DefaultPushServices are the Web Push services of the browsers: Chrome
// and Edge's, Firefox's, Safari's and Windows'.
var DefaultPushServices = []string{
	"fcm.googleapis.com", "android.googleapis.com", "updates.push.services.mozilla.com",
	"push.apple.com", "notify.windows.com",
}

// knownPushService reports whether host is one of services or below one.
func knownPushService(host string, services []string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, s := range services {
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}
