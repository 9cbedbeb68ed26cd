package portal

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"sync"
	"time"

	"twostep/cluster"
)

// cookieName has the __Host- prefix: the browser keeps it only when it
// was set Secure, on this host, for every path, so no sibling domain
// can plant or read it.
const cookieName = "__Host-twostep"

// setCookie hands the browser its session token.
func (p *Portal) setCookie(w http.ResponseWriter, token string, s *cluster.Session) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Expires: s.Expires,
	})
}

func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// session returns the browser's valid session, or nil. A store failure
// is an error for the caller to show; a missing, forged or expired
// session is nil.
func (p *Portal) session(r *http.Request) (*cluster.Session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	s, err := p.sessions.Get(r.Context(), c.Value)
	if errors.Is(err, cluster.ErrSessionGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := p.cfg.Now()
	if !s.Valid(now) {
		return nil, nil
	}
	if now.Sub(s.Seen) > time.Minute {
		// The idle clock moves at most once a minute: a write per page
		// view would cost the cluster more than it buys.
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
// match.
func (p *Portal) withSession(h func(http.ResponseWriter, *http.Request, *cluster.Session), stages ...cluster.SessionStage) http.HandlerFunc {
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
				p.pages.error(w, http.StatusForbidden, "Your session has ended. Sign in again.")
			}
			return
		}
		if r.Method == http.MethodPost && !checkCSRF(r, s) {
			p.log.Warn().Str("user", s.User).Str("path", r.URL.Path).Str("remote", r.RemoteAddr).Msg("portal: CSRF token missing or wrong")
			p.pages.error(w, http.StatusForbidden, "This form has expired. Go back, reload the page and try again.")
			return
		}
		h(w, r, s)
	}
}

// unavailable answers a request the cluster could not serve.
func (p *Portal) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Error().Err(err).Str("path", r.URL.Path).Msg("portal")
	p.pages.error(w, http.StatusServiceUnavailable, "The service is unavailable. Try again in a few minutes.")
}

// limiter counts attempts per key (a source address, a user name) in a
// fixed window, on this node: it slows a guesser down cheaply, while the
// cluster-wide lockout stops one.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	counts map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int, per time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: per, now: now, counts: map[string]*window{}}
}

// allow counts one attempt for each key and reports whether all are
// within the limit.
func (l *limiter) allow(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.counts) > 10000 {
		for k, w := range l.counts {
			if now.Sub(w.start) >= l.window {
				delete(l.counts, k)
			}
		}
	}
	ok := true
	for _, k := range keys {
		w := l.counts[k]
		if w == nil || now.Sub(w.start) >= l.window {
			w = &window{start: now}
			l.counts[k] = w
		}
		w.n++
		ok = ok && w.n <= l.max
	}
	return ok
}
