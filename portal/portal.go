package portal

import (
	"embed"
	"io/fs"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/loglimit"
)

//go:embed assets templates
var files embed.FS

// Config is the self-service portal's behaviour. The zero value is
// usable: each default is in its field's comment.
type Config struct {
	// Issuer names the service in authenticator apps (the otpauth
	// issuer); default "twostep".
	Issuer string
	// SessionTTL bounds a sign-in's whole life; default 8 hours.
	SessionTTL time.Duration
	// Idle ends a session after this long without a request; default 15
	// minutes.
	Idle time.Duration
	// Attempts is how many wrong second factors one sign-in takes before
	// the user must start again; default 5 (the account's lockout counts
	// them too).
	Attempts int
	// SignInsPerMinute bounds, on this node, the sign-in steps (password
	// and codes) of one user name from one address, and the passwords
	// that did not sign in of one user name from anywhere; default 10.
	SignInsPerMinute int
	// AddressSignInsPerMinute bounds the sign-in steps of one address
	// whatever the names, on this node: the ceiling of a NAT; default 10
	// × SignInsPerMinute.
	AddressSignInsPerMinute int
	// AnswersPerMinute bounds the push answers one address may post to
	// the approval API on the portal's origin; default
	// DefaultAnswersPerMinute.
	AnswersPerMinute int
	// SelfAssignTokens lets users take a hardware token from the
	// inventory by its serial and a code from it; default false (the
	// help desk assigns tokens).
	SelfAssignTokens bool
	// WebAuthenticator offers "This phone" (the web authenticator) under
	// Add a new device; it needs push approval on.
	WebAuthenticator bool
	// VAPIDPublicKey is the Web Push key (base64url of the point) the
	// web authenticator subscribes with; empty: no notifications, the
	// app shows waiting logins when it is opened.
	VAPIDPublicKey string
	// SubscribeTimeout bounds the web authenticator's wait for the
	// browser's push service when it subscribes (a network that blocks
	// the service leaves the browser waiting for good); past it, the
	// phone is added as an in-app device, which shows waiting logins
	// when it is opened. Default 15 seconds.
	SubscribeTimeout time.Duration
	// TrustedProxies are the reverse proxies in front of the portal whose
	// X-Forwarded-For names the browser; none by default (the
	// connection's address counts).
	TrustedProxies []netip.Prefix
	// PushServices are the hosts (and their subdomains) a web
	// authenticator's push subscription may point to; default
	// DefaultPushServices.
	PushServices []string
	// Metrics counts the refusals of the rate limits; nil counts nothing.
	Metrics *Metrics
	// Logs lets through the log lines outsiders can cause, at most one a
	// second per cause; default a loglimit.Limiter of the portal's own.
	Logs *loglimit.Limiter
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Issuer == "" {
		c.Issuer = "twostep"
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.Idle <= 0 {
		c.Idle = 15 * time.Minute
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.SignInsPerMinute <= 0 {
		c.SignInsPerMinute = 10
	}
	if c.AddressSignInsPerMinute <= 0 {
		c.AddressSignInsPerMinute = 10 * c.SignInsPerMinute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logs == nil {
		c.Logs = loglimit.New(c.Now)
	}
	if len(c.PushServices) == 0 {
		c.PushServices = DefaultPushServices
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = 15 * time.Second
	}
	return c
}

// Portal serves the self-service pages ("My Settings & Devices"), the
// web authenticator and the push approval API on one origin.
type Portal struct {
	cfg      Config
	engine   *challenge.Engine
	accounts *cluster.Accounts
	sessions *cluster.Sessions
	log      zerolog.Logger
	pages    *pages
	limits   *limiter
	logs     *loglimit.Limiter
}

// New returns the portal. engine decides sign-ins as it decides logins;
// accounts keeps the devices; sessions keeps sign-ins in the cluster, so
// that any node serves the next request.
func New(cfg Config, engine *challenge.Engine, accounts *cluster.Accounts, sessions *cluster.Sessions, log zerolog.Logger) (*Portal, error) {
	cfg = cfg.withDefaults()
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Portal{cfg: cfg, engine: engine, accounts: accounts, sessions: sessions, log: log,
		pages: pg, limits: newLimiter(time.Minute, cfg.Now), logs: cfg.Logs}, nil
}

// contentSecurityPolicy allows the portal's own scripts, styles and
// workers and nothing else: no inline script, no other origin, no
// framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler returns every route of the portal.
func (p *Portal) Handler() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", p.staticFiles(assets)))
	mux.HandleFunc("GET /app/sw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Service-Worker-Allowed", "/app/")
		http.ServeFileFS(w, r, assets, "sw.js")
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "icon-192.png")
	})
	mux.HandleFunc("GET /app/{$}", p.authenticatorPage)
	mux.HandleFunc("GET /{$}", p.home)
	p.signInRoutes(mux)
	p.deviceRoutes(mux)
	// The approval API on the portal's origin too, so that the web
	// authenticator talks to the origin it was installed from.
	api := NewPushAPI(p.engine, APIConfig{AnswersPerMinute: p.cfg.AnswersPerMinute, TrustedProxies: p.cfg.TrustedProxies,
		Metrics: p.cfg.Metrics, Logs: p.logs, Now: p.cfg.Now}, p.log)
	mux.Handle("POST "+AnswerPath, api)
	mux.Handle("POST "+PendingPath, api)
	// Go's cross-origin protection refuses a POST that a browser marks
	// as coming from another site (Sec-Fetch-Site, Origin); the session's
	// CSRF token is the second check.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(p.crossSite))
	return pageHeaders(p.limitBodies(cop.Handler(p.routes(mux))))
}

// routes serves mux, and the portal's own page where mux has no route
// (Go's would be a line of plain text with no way back): 404, or 405
// with Allow for a path that takes other methods.
func (p *Portal) routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r) // which sets the path's wildcards
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if m == r.Method {
				continue
			}
			other := r.Clone(r.Context())
			other.Method = m
			if _, pattern := mux.Handler(other); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			p.notFound(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		p.pages.error(w, http.StatusMethodNotAllowed, "This address does not take this kind of request.")
	})
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.pages.errorPage(w, http.StatusNotFound, "Page not found", "There is no page at this address.", backToDevices)
}

// crossSite answers a POST that the browser says another site sent: a
// page elsewhere that tries to act in the user's session.
func (p *Portal) crossSite(w http.ResponseWriter, r *http.Request) {
	p.pages.error(w, http.StatusForbidden, "This request came from another site and was refused: nothing was changed. "+
		"Open the portal yourself to make changes.")
}

// staticFiles serves the files of dir; a missing one, or a directory,
// gets the portal's 404 page.
func (p *Portal) staticFiles(dir fs.FS) http.Handler {
	serve := http.FileServerFS(dir)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if fi, err := fs.Stat(dir, name); err != nil || fi.IsDir() {
			p.notFound(w, r)
			return
		}
		serve.ServeHTTP(w, r)
	})
}

// pageHeaders sets what every answer of the portal carries.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if len(r.URL.Path) < 8 || r.URL.Path[:8] != "/assets/" {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

// authenticatorPage is the web authenticator. Its header says who is
// signed in to the portal in this browser, if anybody: the device itself
// keeps working after a sign-out, its key is not a session.
func (p *Portal) authenticatorPage(w http.ResponseWriter, r *http.Request) {
	v := &view{}
	if s, err := p.session(r); err == nil && s != nil && s.Stage != cluster.StagePassword {
		v.User, v.CSRF = s.User, s.CSRF
	}
	p.pages.render(w, http.StatusOK, "app.html", v)
}
