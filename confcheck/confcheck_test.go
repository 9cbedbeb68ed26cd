package confcheck

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestProblems(t *testing.T) {
	var ps Problems
	if ps.Err() != nil {
		t.Fatalf("no problems: got %v, want nil", ps.Err())
	}
	var sub Problems
	sub.Add("urls[1]", "scheme must be %s", "ldaps")
	sub.Add("", "the section as a whole")
	ps.Add("backend", "unknown backend %q", "nis")
	ps.Include("ldap", fmt.Errorf("wrapped: %w", sub.Err()))
	ps.Include("file", errors.New("not a Problems"))
	ps.Include("ignored", nil)
	want := `backend: unknown backend "nis"; ldap.urls[1]: scheme must be ldaps; ldap: the section as a whole; file: not a Problems`
	if got := ps.Err().Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ path, field, want string }{
		{"", "clients", "clients"},
		{"clients", "", "clients"},
		{"clients", "[2].name", "clients[2].name"},
		{"portal", "session.ttl", "portal.session.ttl"},
	}
	for _, tt := range tests {
		if got := Join(tt.path, tt.field); got != tt.want {
			t.Errorf("Join(%q, %q): got %q, want %q", tt.path, tt.field, got, tt.want)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want, problem string
	}{
		{"10.0.0.1", "10.0.0.1/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:10.0.0.1", "10.0.0.1/32", ""},
		{"10.1.0.0/16", "10.1.0.0/16", ""},
		{"2001:db8::/64", "2001:db8::/64", ""},
		{"10.0.0.1/8", "", `"10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?`},
		{"not-an-ip", "", `"not-an-ip" is neither an address nor a CIDR prefix`},
		{"10.0.0.0/33", "", `"10.0.0.0/33" is not a CIDR prefix`},
		{"proxy.example.edu", "", "neither an address nor a CIDR prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePrefix(tt.in)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("got %v, %v, want an error saying %q", got, err, tt.problem)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Errorf("got %v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.1/8", "::ffff:10.0.0.0/104", "2001:db8::/64", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p {
			t.Fatalf("%q: accepted %v, which is not a masked prefix", s, p)
		}
		if !strings.Contains(s, "/") && p.Bits() != p.Addr().BitLen() {
			t.Fatalf("%q: an address became %v", s, p)
		}
		if _, err := netip.ParsePrefix(p.String()); err != nil {
			t.Fatalf("%q: %v does not read back: %v", s, p, err)
		}
	})
}

func TestHostPort(t *testing.T) {
	tests := []struct{ in, problem string }{
		{"127.0.0.1:1812", ""},
		{"[::1]:1812", ""},
		{":1812", ""},
		{"localhost:0", ""},
		{"127.0.0.1", "not host:port (use [::1]:1812 for IPv6)"},
		{"127.0.0.1:radius", "port must be a number from 0 to 65535"},
		{"127.0.0.1:70000", "port must be a number from 0 to 65535"},
	}
	for _, tt := range tests {
		err := HostPort(tt.in)
		if tt.problem == "" && err != nil || tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)) {
			t.Errorf("HostPort(%q): got %v, want %q", tt.in, err, tt.problem)
		}
	}
}
