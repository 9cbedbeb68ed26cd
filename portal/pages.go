package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// view is what every page template gets.
type view struct {
	Title  string
	User   string // the signed-in user, shown in the header; empty before sign-in
	CSRF   string
	Error  string // shown in an alert
	Notice string // shown in a status line
	Page   string // the body's data-page, which tells the script what to do
	Data   any    // the page's own
	// Refresh, when positive, reloads the page after so many seconds
	// (waiting for a push works without JavaScript).
	Refresh int
	// Script loads the web authenticator's script.
	Script bool
	// VAPID is the Web Push key the authenticator subscribes with.
	VAPID string
	// SubscribeTimeout, in milliseconds, bounds the authenticator's wait
	// for the browser's push service.
	SubscribeTimeout int64
}

// pages holds the parsed templates: each page with the layout, and the
// authenticator's own page alone.
type pages struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pg := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		var t *template.Template
		switch base {
		case "layout.html":
			continue
		case "app.html":
			t, err = template.New(base).Funcs(funcs).ParseFS(files, n)
		default:
			t, err = template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		}
		if err != nil {
			return nil, fmt.Errorf("portal: template %s: %w", base, err)
		}
		pg.byName[base] = t
	}
	return pg, nil
}

// render writes page name with v; a template failure is a plain 500
// (the page is rendered to a buffer first, so nothing half-written
// goes out).
func (pg *pages) render(w http.ResponseWriter, status int, name string, v *view) {
	t := pg.byName[name]
	var buf bytes.Buffer
	var err error
	if t == nil {
		err = fmt.Errorf("no template %s", name)
	} else if name == "app.html" {
		err = t.ExecuteTemplate(&buf, name, v)
	} else {
		err = t.ExecuteTemplate(&buf, "layout.html", v)
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// backLink is where an error page leads back to.
type backLink struct {
	Href, Text string
}

var (
	backToDevices = backLink{"/devices", "Back to My Settings & Devices"}
	backToSignIn  = backLink{"/signin", "Sign in"}
)

// error shows msg on a page of its own, with a way back to the settings
// (which sends a browser that is not signed in to the sign-in).
func (pg *pages) error(w http.ResponseWriter, status int, msg string) {
	pg.errorPage(w, status, "Something went wrong", msg, backToDevices)
}

func (pg *pages) errorPage(w http.ResponseWriter, status int, title, msg string, back backLink) {
	pg.render(w, status, "error.html", &view{Title: title, Error: msg, Data: back})
}
