package portal

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
)

// Sign-in is two steps, as for the VPN: the directory password, then a
// second factor ("Send me a Push", "Enter a Passcode"), or a recovery
// passcode from the help desk for a user who lost every device. Each
// step's session lives in the cluster; the token is replaced when the
// stage rises.

func (p *Portal) signInRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /signin", p.signInPage)
	mux.HandleFunc("POST /signin", p.signIn)
	factor := []cluster.SessionStage{cluster.StagePassword, cluster.StageSignedIn}
	mux.HandleFunc("GET /signin/factor", p.withSession(p.factorPage, factor...))
	mux.HandleFunc("POST /signin/passcode", p.withSession(p.passcode, factor...))
	mux.HandleFunc("POST /signin/push", p.withSession(p.sendPush, factor...))
	mux.HandleFunc("GET /signin/push", p.withSession(p.pushPage, factor...))
	mux.HandleFunc("POST /signin/recovery", p.withSession(p.recovery, cluster.StagePassword))
	mux.HandleFunc("POST /signin/cancel", p.withSession(p.cancel, cluster.StageSignedIn))
	mux.HandleFunc("POST /signout", p.withSession(p.signOut, cluster.StagePassword, cluster.StageEnroll, cluster.StageSignedIn))
}

// remoteIP is the browser's address, for rate limits, logs and the push
// the device shows (see clientIP).
func (p *Portal) remoteIP(r *http.Request) string { return clientIP(r, p.proxies) }

// clientIP is the address of r's sender: the connection's, or, from a
// trusted proxy, the last address in X-Forwarded-For that is not a
// trusted proxy's (the ones before it could be written by the browser
// itself).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !isTrusted(host, trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // a malformed hop: nothing before it can be believed
		}
		if !isTrusted(hop, trusted) {
			return a.Unmap().String()
		}
	}
	return host
}

// isTrusted reports whether ip is one of the trusted proxies'.
func isTrusted(ip string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pfx := range trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

const msgTooMany = "Too many attempts. Wait a minute, then try again."

func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	if s, err := p.session(r); err == nil && s != nil && s.Stage == cluster.StageSignedIn {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	v := &view{Title: "Sign in", Page: "signin", Data: rememberedUser(r)}
	switch r.URL.Query().Get("done") {
	case "signedout":
		v.Notice = "You are signed out."
	case "first":
		v.Notice = "Your device is ready. Sign in again and confirm with it to manage your devices."
	}
	p.pages.render(w, http.StatusOK, "signin.html", v)
}

func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	user := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	v := &view{Title: "Sign in", Page: "signin", Data: user}
	if !p.allowSignIn(w, r, user, true) {
		p.cfg.Metrics.signIn(signInThrottled)
		v.Error = msgTooMany
		p.pages.render(w, http.StatusTooManyRequests, "signin.html", v)
		return
	}
	pu, d, err := p.engine.PortalPassword(r.Context(), user, password)
	if err != nil {
		p.cfg.Metrics.signIn(signInError)
		p.unavailable(w, r, err)
		return
	}
	// Anybody can send wrong passwords: their lines go out at most once a
	// second (with the count held back); a right one is always logged.
	var ev *zerolog.Event
	if d.Outcome == challenge.Accept {
		// The per-user limit counts the passwords that did not sign in.
		p.limits.refund(userLimitKey(user))
		ev = p.log.Info()
	} else {
		ev = p.logs.Event(&p.log, zerolog.InfoLevel, "signin_rejected")
	}
	ev.Str("user", user).Str("remote", p.remoteIP(r)).Str("outcome", d.Outcome.String()).
		Str("reason", string(d.Reason)).Msg("portal sign-in: password")
	if d.Outcome != challenge.Accept {
		p.cfg.Metrics.signIn(refusal(d, signInPasswordRefused))
		v.Error = d.Message
		if v.Error == "" {
			v.Error = "Wrong user name or password."
		}
		p.pages.render(w, http.StatusUnauthorized, "signin.html", v)
		return
	}
	now := p.cfg.Now()
	s := &cluster.Session{User: pu.Name, Stage: cluster.StagePassword, Created: now,
		Expires: now.Add(p.cfg.Session.TTL), Idle: p.cfg.Session.Idle, Attempts: p.cfg.Attempts}
	next := "/signin/factor"
	if pu.MayEnroll {
		// No device yet, and the policy lets such users in with the
		// password: they may add their first device, and only that.
		s.Stage, s.Grace, next = cluster.StageEnroll, true, "/devices/add"
	}
	token, err := p.sessions.Create(r.Context(), s)
	if err != nil {
		p.cfg.Metrics.signIn(signInError)
		p.unavailable(w, r, err)
		return
	}
	if s.Stage == cluster.StageEnroll {
		p.cfg.Metrics.signIn(signedIn)
	}
	p.setCookie(w, token)
	clearUserCookie(w)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// factorView is what the second-factor page offers.
type factorView struct {
	Push     []deviceView // push devices: "Send me a Push"
	Passcode bool         // a device that shows codes, or bypass codes
	Recovery bool         // the recovery passcode form (sign-in only)
	Confirm  string       // the action a second factor confirms, in words
}

func (p *Portal) factorPage(w http.ResponseWriter, r *http.Request, s *visit) {
	p.renderFactor(w, r, s, http.StatusOK, "")
}

func (p *Portal) renderFactor(w http.ResponseWriter, r *http.Request, s *visit, status int, msg string) {
	if s.Stage == cluster.StageSignedIn && s.Pending == nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	acct, err := p.accounts.Load(r.Context(), s.User)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	fv := factorView{Recovery: s.Stage == cluster.StagePassword}
	for _, b := range acct.Bypass {
		fv.Passcode = fv.Passcode || b.Usable(p.cfg.Now())
	}
	for _, d := range acct.Devices {
		if d.Type == cluster.PushApp {
			fv.Push = append(fv.Push, viewOf(d, acct))
		} else {
			fv.Passcode = true
		}
	}
	title := "Choose how to confirm it's you"
	if s.Pending != nil {
		title = "Confirm it's you"
		fv.Confirm = p.describePending(acct, s.Pending)
	}
	p.pages.render(w, status, "factor.html", &view{Title: title, Page: "factor", User: userIfSignedIn(s), CSRF: s.CSRF, Error: msg, Data: fv})
}

func userIfSignedIn(s *visit) string {
	if s.Stage == cluster.StagePassword {
		return ""
	}
	return s.User
}

// typed returns a code as typed, without the spaces and dashes people
// put between groups of digits.
func typed(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}

// throttled answers 429 on the factor page when this attempt is over the
// sign-in limit.
func (p *Portal) throttled(w http.ResponseWriter, r *http.Request, s *visit) bool {
	if p.allowSignIn(w, r, s.User, false) {
		return false
	}
	if signingIn(s) {
		p.cfg.Metrics.signIn(signInThrottled)
	}
	p.renderFactor(w, r, s, http.StatusTooManyRequests, msgTooMany)
	return true
}

func (p *Portal) passcode(w http.ResponseWriter, r *http.Request, s *visit) {
	if p.throttled(w, r, s) {
		return
	}
	d, err := p.engine.PortalPasscode(r.Context(), s.User, typed(r.PostFormValue("code")))
	p.factorResult(w, r, s, d, err, "passcode")
}

func (p *Portal) recovery(w http.ResponseWriter, r *http.Request, s *visit) {
	if p.throttled(w, r, s) {
		return
	}
	d, err := p.engine.PortalRecovery(r.Context(), s.User, typed(r.PostFormValue("code")))
	p.factorResult(w, r, s, d, err, "recovery")
}

// factorResult goes on after a second factor was checked: to the
// settings (or the confirmed action) when it was right, back to the
// choice with the reason when it was not, and to a new sign-in when the
// attempts are spent.
func (p *Portal) factorResult(w http.ResponseWriter, r *http.Request, s *visit, d challenge.Decision, err error, kind string) {
	count := func(result string) {
		if signingIn(s) {
			p.cfg.Metrics.signIn(result)
		}
	}
	if err != nil {
		count(signInError)
		p.unavailable(w, r, err)
		return
	}
	ev := p.log.Info()
	switch {
	case errors.Is(d.Err, cluster.ErrTampered):
		// A record edited in etcd without the key file: an admin must
		// look now.
		ev = p.log.Error().AnErr("problem", d.Err)
	case d.Err != nil:
		ev = p.log.Warn().AnErr("problem", d.Err)
	}
	ev.Str("user", s.User).Str("remote", p.remoteIP(r)).Str("factor", kind).Str("outcome", d.Outcome.String()).
		Str("reason", string(d.Reason)).Msg("portal sign-in: second factor")
	switch d.Outcome {
	case challenge.Accept:
		count(signedIn)
		p.factorDone(w, r, s, d.Reason == challenge.ReasonRecovery)
	case challenge.Ask:
		http.Redirect(w, r, "/signin/push", http.StatusSeeOther)
	default:
		count(refusal(d, signInFactorRefused))
		msg := d.Message
		if msg == "" {
			msg = "Wrong passcode."
		}
		s.Attempts--
		s.Push, s.Number = "", ""
		if s.Attempts <= 0 || d.Reason == challenge.ReasonLockedOut || d.Reason == challenge.ReasonPushFraud {
			_ = p.sessions.Delete(r.Context(), s.Session)
			clearCookie(w)
			p.pages.render(w, http.StatusUnauthorized, "signin.html", &view{Title: "Sign in", Page: "signin", Error: msg + " Sign in again."})
			return
		}
		if err := p.sessions.Update(r.Context(), s.Session); err != nil {
			p.unavailable(w, r, err)
			return
		}
		p.renderFactor(w, r, s, http.StatusUnauthorized, msg)
	}
}

// factorDone raises the session's stage (under a new token) or carries
// out the action the factor confirmed.
func (p *Portal) factorDone(w http.ResponseWriter, r *http.Request, s *visit, recovery bool) {
	s.Push, s.Number, s.Attempts, s.Factor = "", "", p.cfg.Attempts, p.cfg.Now().UTC()
	if s.Pending != nil && s.Stage == cluster.StageSignedIn {
		a := s.Pending
		s.Pending = nil
		if err := p.sessions.Update(r.Context(), s.Session); err != nil {
			p.unavailable(w, r, err)
			return
		}
		p.confirmed(w, r, s, a)
		return
	}
	s.Stage, s.Pending = cluster.StageSignedIn, nil
	next := "/devices"
	if recovery {
		s.Stage, next = cluster.StageEnroll, "/devices/add"
	}
	token, err := p.sessions.Rotate(r.Context(), s.Session)
	if err != nil {
		p.unavailable(w, r, err)
		return
	}
	p.setCookie(w, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (p *Portal) sendPush(w http.ResponseWriter, r *http.Request, s *visit) {
	if p.throttled(w, r, s) {
		return
	}
	purpose := "Sign in to " + challenge.PortalService
	if s.Pending != nil {
		purpose = p.pendingPurpose(r, s)
	}
	pp, d, err := p.engine.PortalPush(r.Context(), s.User, r.PostFormValue("device"), p.remoteIP(r), purpose)
	if err == nil && d.Outcome == challenge.Ask {
		s.Push, s.Number = pp.ID, pp.Number
		if err := p.sessions.Update(r.Context(), s.Session); err != nil {
			p.unavailable(w, r, err)
			return
		}
	}
	p.factorResult(w, r, s, d, err, "push")
}

// pushView is the page that waits for the device.
type pushView struct {
	Number string
	Device string
}

func (p *Portal) pushPage(w http.ResponseWriter, r *http.Request, s *visit) {
	if s.Push == "" {
		http.Redirect(w, r, "/signin/factor", http.StatusSeeOther)
		return
	}
	d, err := p.engine.PortalPushResult(r.Context(), s.User, s.Push)
	if err == nil && d.Outcome == challenge.Ask {
		p.pages.render(w, http.StatusOK, "push.html", &view{Title: "Check your device", User: userIfSignedIn(s), CSRF: s.CSRF,
			Refresh: 2, Data: pushView{Number: s.Number, Device: d.Device}})
		return
	}
	p.factorResult(w, r, s, d, err, "push")
}

// cancel drops the action waiting for a second factor. A push for it
// that is approved later confirms nothing: the action is gone.
func (p *Portal) cancel(w http.ResponseWriter, r *http.Request, v *visit) {
	gone := false
	s := v.Session
	err := cluster.Retry(r.Context(), "cancel an action of "+s.User, func(ctx context.Context) error {
		if s == nil {
			// Another request of this browser wrote first: read it again.
			var err error
			if s, err = p.session(r); err != nil || s == nil {
				gone = true
				return nil
			}
		}
		s.Pending, s.Push, s.Number = nil, "", ""
		err := p.sessions.Update(ctx, s)
		if errors.Is(err, cluster.ErrConflict) {
			s = nil
		}
		return err
	})
	switch {
	case gone:
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
	case err != nil:
		p.unavailable(w, r, err)
	default:
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	}
}

func (p *Portal) signOut(w http.ResponseWriter, r *http.Request, s *visit) {
	if err := p.sessions.Delete(r.Context(), s.Session); err != nil {
		p.unavailable(w, r, err)
		return
	}
	clearCookie(w)
	clearUserCookie(w)
	http.Redirect(w, r, "/signin?done=signedout", http.StatusSeeOther)
}

// signingIn reports whether s is a sign-in under way (a second factor
// due), not a signed-in user confirming an action.
func signingIn(s *visit) bool { return s.Stage == cluster.StagePassword }

// refusal is the sign-in result of a refused step: locked_out for a
// locked account, otherwise result.
func refusal(d challenge.Decision, result string) string {
	if d.Reason == challenge.ReasonLockedOut {
		return signInLockedOut
	}
	return result
}
