package portal_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"twostep/portal"
)

// TestErrorPages: what has no page, the wrong method, a cross-site form
// and a body no page sends get the portal's own page, under its headers,
// with a way back; never Go's line of plain text.
func TestErrorPages(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000})
	b := w.browser()
	b.get("/signin")
	tests := []struct {
		name, method, path, contentType, site string
		status                                int
		want, allow                           string
	}{
		{"no such page", "GET", "/nope", "", "", http.StatusNotFound, "There is no page at this address", ""},
		{"no such asset", "GET", "/assets/nope.css", "", "", http.StatusNotFound, "There is no page at this address", ""},
		{"no asset listing", "GET", "/assets/", "", "", http.StatusNotFound, "There is no page at this address", ""},
		{"wrong method", "POST", "/devices", "application/x-www-form-urlencoded", "same-origin", http.StatusMethodNotAllowed, "does not take this kind", "GET"},
		{"cross-site form", "POST", "/signout", "application/x-www-form-urlencoded", "cross-site", http.StatusForbidden, "came from another site", ""},
		{"upload", "POST", "/signin", "multipart/form-data; boundary=x", "same-origin", http.StatusUnsupportedMediaType, "No page of the portal sends", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, b.url(tt.path), strings.NewReader("csrf="+b.csrf()))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.site != "" {
				req.Header.Set("Sec-Fetch-Site", tt.site)
			}
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for h, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Content-Security-Policy": "default-src 'none'",
				"Allow":                   tt.allow,
			} {
				if got := resp.Header.Get(h); !strings.Contains(got, want) || want == "" && got != "" {
					t.Errorf("%s %q, want %q", h, got, want)
				}
			}
			for _, want := range []string{tt.want, `href="/assets/portal.css"`, `<a href="/devices" id="back">`} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the page lacks %q:\n%s", want, body)
				}
			}
		})
	}
}
