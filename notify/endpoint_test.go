package notify_test

import (
	"strings"
	"testing"

	"twostep/notify"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		raw       string
		allowHTTP bool
		origin    string // "" when refused
	}{
		{"https://push.example.net/wpush/v2/abc", false, "https://push.example.net"},
		{"HTTPS://Push.Example.NET:443/abc?x=1", false, "https://push.example.net"},
		{"https://push.example.net:8443/abc", false, "https://push.example.net:8443"},
		{"https://user:pass@ntfy.example.net/topic", false, "https://ntfy.example.net"},
		{"https://[2001:db8::1]/abc", false, "https://[2001:db8::1]"},
		{"https://[2001:db8::1]:8443/abc", false, "https://[2001:db8::1]:8443"},
		{"http://127.0.0.1:8080/topic", false, "http://127.0.0.1:8080"},
		{"http://127.0.0.2/topic", false, "http://127.0.0.2"},
		{"http://[::1]:80/topic", false, "http://[::1]"},
		{"http://localhost:2586/topic", false, "http://localhost:2586"},
		{"http://ntfy.example.net/topic", false, ""},
		{"http://ntfy.example.net/topic", true, "http://ntfy.example.net"},
		{"http://10.0.0.1/topic", false, ""},
		{"ftp://example.net/topic", true, ""},
		{"https:///nohost", false, ""},
		{"/relative/topic", false, ""},
		{"", false, ""},
		{"https://example.net/%zz-topic", false, ""},
		{"https://exa mple.net/topic", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := notify.ParseEndpoint(tc.raw, tc.allowHTTP)
			if tc.origin == "" {
				if err == nil {
					t.Fatalf("got origin %q, want an error", got)
				}
				if strings.Contains(err.Error(), "topic") {
					t.Errorf("error %q shows the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.origin {
				t.Errorf("got %q, want %q", got, tc.origin)
			}
		})
	}
}

// FuzzParseEndpoint: whatever the endpoint, the error shows no more than
// the origin, so a path or query (where the secrets are) never leaks.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"https://push.example.net/a/b?c=d", "http://127.0.0.1:1/x", "http://h/%zz", "https://[::1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		const marker = "SECRETMARK"
		origin, err := notify.ParseEndpoint(raw+"/"+marker+"?"+marker, false)
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("error %q leaks the path", err)
		}
		if strings.Contains(origin, marker) {
			t.Errorf("origin %q holds the path", origin)
		}
	})
}
