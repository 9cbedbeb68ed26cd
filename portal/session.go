package portal

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"twostep/cluster"
)

// cookieName has the __Host- prefix: the browser keeps it only when it
// was set Secure, on this host, for every path, so no sibling domain
// can plant or read it.
const cookieName = "__Host-twostep"

// setCookie hands the browser its session token. The cookie has no
// expiry of its own: it ends with the browser (a shared PC forgets it),
// and the session's own expiry is in the cluster.
func (p *Portal) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// userCookieName carries the user name from a grace session, which ends
// with the account's first device, to the sign-in that must follow: its
// form has the name filled in. It proves nothing and opens nothing.
const userCookieName = "__Host-twostep-user"

// userCookieAge is how long the name waits for that sign-in: short, so
// that a shared browser does not offer the last user's name for long.
const userCookieAge = 5 * time.Minute

// maxRememberedUser bounds the name read back from the cookie.
const maxRememberedUser = 256

func setUserCookie(w http.ResponseWriter, user string) {
	http.SetCookie(w, &http.Cookie{Name: userCookieName, Value: base64.RawURLEncoding.EncodeToString([]byte(user)), Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(userCookieAge / time.Second)})
}

func clearUserCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: userCookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// rememberedUser is the user name setUserCookie left, or "".
func rememberedUser(r *http.Request) string {
	c, err := r.Cookie(userCookieName)
	if err != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > maxRememberedUser || !utf8.Valid(b) || bytes.ContainsFunc(b, unicode.IsControl) {
		return ""
	}
	return string(b)
}

// session returns the browser's valid session, or nil. A store failure
// is an error for the caller to show; a missing, forged or expired
// session is nil (a forged one is logged).
func (p *Portal) session(r *http.Request) (*cluster.Session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	s, err := p.sessions.Get(r.Context(), c.Value)
	switch {
	case errors.Is(err, cluster.ErrSessionGone):
		return nil, nil
	case errors.Is(err, cluster.ErrTampered):
		// A record that fails its check: somebody wrote to etcd without
		// the key file. Its cookie can be sent again and again: a line a
		// second.
		p.logs.Event(&p.log, zerolog.ErrorLevel, "session_refused").Str("error", err.Error()).
			Str("remote", p.remoteIP(r)).Msg("portal: session record refused")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	if !s.Valid(now) {
		return nil, nil
	}
	// The idle clock moves at most once a minute (a quarter of a short
	// idle time): a write per page view would cost the cluster more than
	// it buys, and a session in use must not end.
	if now.Sub(s.Seen) > min(time.Minute, s.Idle/4) {
		s.Seen = now.UTC()
		if err := p.sessions.Update(r.Context(), s); err != nil && !errors.Is(err, cluster.ErrConflict) {
			return nil, err
		}
	}
	return s, nil
}

// checkCSRF compares the form's or header's token with the session's in
// constant time.
func checkCSRF(r *http.Request, s *cluster.Session) bool {
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.CSRF)) == 1
}

// withSession runs h for a browser whose session has reached one of
// stages; others go to the sign-in page. For a POST the CSRF token must
// match. A signed-in or enroll-only session of a locked account ends:
// "This wasn't me" and the help desk's lock stop a session that a stolen
// password and one approval opened.
func (p *Portal) withSession(h func(http.ResponseWriter, *http.Request, *visit), stages ...cluster.SessionStage) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.session(r)
		if err != nil {
			p.unavailable(w, r, err)
			return
		}
		ok := s != nil
		if ok {
			ok = false
			for _, st := range stages {
				ok = ok || s.Stage == st
			}
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
			} else {
				p.pages.errorPage(w, http.StatusForbidden, "Something went wrong", "Your session has ended. Sign in again.", backToSignIn)
			}
			return
		}
		if r.Method == http.MethodPost && !checkCSRF(r, s) {
			p.log.Warn().Str("user", s.User).Str("path", r.URL.Path).Str("remote", r.RemoteAddr).Msg("portal: CSRF token missing or wrong")
			p.pages.error(w, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.")
			return
		}
		v := &visit{Session: s}
		if s.Stage != cluster.StagePassword {
			acct, err := p.accounts.Load(r.Context(), s.User)
			if err != nil {
				p.unavailable(w, r, err)
				return
			}
			// The handler reads the account as loaded here: one read per
			// page, not two.
			v.acct = acct
			if acct.Lockout.Locked(p.cfg.Now()) {
				_ = p.sessions.Delete(r.Context(), s)
				clearCookie(w)
				p.log.Info().Str("user", s.User).Str("remote", p.remoteIP(r)).Msg("portal: session of a locked account ended")
				p.pages.render(w, http.StatusForbidden, "signin.html", &view{Title: "Sign in", Page: "signin",
					Error: "Your account is locked. Contact the help desk."})
				return
			}
		}
		h(w, r, v)
	}
}

// visit is one request of a browser with a session: the session, and the
// account withSession loaded for it (nil before the second factor).
type visit struct {
	*cluster.Session
	acct *cluster.Account
}

// account returns s's account: as withSession loaded it for this
// request, or read now.
func (p *Portal) account(r *http.Request, s *visit) (*cluster.Account, error) {
	if acct := s.acct; acct != nil && acct.Name == strings.ToLower(s.User) {
		return acct, nil
	}
	return p.accounts.Load(r.Context(), s.User)
}

// unavailable answers a request the cluster could not serve; a session
// changed by another request meanwhile gets its own answer.
func (p *Portal) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, cluster.ErrConflict) {
		p.pages.error(w, http.StatusConflict, "This page changed in another tab or window. Reload it, then try again.")
		return
	}
	// Every request fails alike while the cluster is down, signed in or
	// not: a line a second says so.
	p.logs.Event(&p.log, zerolog.ErrorLevel, "unavailable").Err(err).Str("path", r.URL.Path).Msg("portal")
	p.pages.error(w, http.StatusServiceUnavailable, "The service is unavailable. Try again in a few minutes.")
}

// maxForm bounds a page's form: names, codes and tokens fit in far less.
const maxForm = 16 << 10

// limitBodies caps what a POST may send and refuses the kinds of body no
// page sends (a multipart upload would be parsed into memory and disk).
func (p *Portal) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/api/") {
			ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if ct != "application/x-www-form-urlencoded" && ct != "application/json" {
				p.pages.error(w, http.StatusUnsupportedMediaType, "No page of the portal sends this kind of form.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		}
		h.ServeHTTP(w, r)
	})
}
