package portal

import (
	"embed"
	"fmt"
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

// Portal serves the self-service pages ("My Settings & Devices"), the
// web authenticator and the push approval API on one origin.
type Portal struct {
	cfg      Config
	proxies  []netip.Prefix // cfg.TrustedProxies
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
//
// New reads cfg's settings as the portal section's Validate does (a bad
// trusted proxy is an error); its listener, URL and TLS files are the
// caller's.
func New(cfg Config, engine *challenge.Engine, accounts *cluster.Accounts, sessions *cluster.Sessions, log zerolog.Logger) (*Portal, error) {
	cfg = cfg.withDefaults()
	proxies, err := cfg.proxies()
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Portal{cfg: cfg, proxies: proxies, engine: engine, accounts: accounts, sessions: sessions, log: log,
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
	api := securityHeaders(newPushAPI(p.engine, APIConfig{AnswersPerMinute: p.cfg.AnswersPerMinute, TrustedProxies: p.proxies,
		Metrics: p.cfg.Metrics, Logs: p.logs, Now: p.cfg.Now}, p.log))
	mux.Handle("POST "+AnswerPath, api)
	mux.Handle("POST "+PendingPath, api)
	// Go's cross-origin protection refuses a POST that a browser marks
	// as coming from another site (Sec-Fetch-Site, Origin); the session's
	// CSRF token is the second check.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(p.crossSite))
	return p.cfg.Metrics.countRequests(mux, pageHeaders(p.limitBodies(cop.Handler(p.routes(mux)))))
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
