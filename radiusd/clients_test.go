package radiusd

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(ps ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestNewClientTableErrors(t *testing.T) {
	secret := []byte("a-good-long-secret")
	long := bytes.Repeat([]byte("s"), 65)
	tests := []struct {
		name    string
		clients []Client
		want    string // substring of the error; "" means no error
	}{
		{"valid", []Client{{Name: "a", Networks: prefixes("10.0.0.0/8"), Secret: secret}}, ""},
		{"empty table", nil, ""},
		{"overlap is fine", []Client{
			{Name: "a", Networks: prefixes("10.0.0.0/8"), Secret: secret},
			{Name: "b", Networks: prefixes("10.1.0.0/16"), Secret: secret},
		}, ""},
		{"same prefix twice", []Client{
			{Name: "a", Networks: prefixes("10.0.0.0/8"), Secret: secret},
			{Name: "b", Networks: prefixes("10.0.0.0/8"), Secret: secret},
		}, `prefix 10.0.0.0/8 already listed for client "a"`},
		{"same prefix unmasked", []Client{
			{Name: "a", Networks: prefixes("10.0.0.0/8", "10.1.2.3/8"), Secret: secret},
		}, "already listed"},
		{"same prefix mapped", []Client{
			{Name: "a", Networks: prefixes("10.0.0.0/8", "::ffff:10.0.0.0/104"), Secret: secret},
		}, "already listed"},
		{"empty secret", []Client{{Name: "a", Networks: prefixes("10.0.0.0/8")}}, "empty secret"},
		{"secret too long", []Client{{Name: "a", Networks: prefixes("10.0.0.0/8"), Secret: long}}, "longer than 64"},
		{"no networks", []Client{{Name: "a", Secret: secret}}, "no networks"},
		{"invalid prefix", []Client{{Name: "a", Networks: []netip.Prefix{{}}, Secret: secret}}, "invalid prefix"},
		{"empty name", []Client{{Networks: prefixes("10.0.0.0/8"), Secret: secret}}, "empty name"},
		{"name twice", []Client{
			{Name: "a", Networks: prefixes("10.0.0.0/8"), Secret: secret},
			{Name: "a", Networks: prefixes("10.1.0.0/16"), Secret: secret},
		}, "name listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClientTable(tt.clients)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), string(long))) {
				t.Errorf("error %q quotes a secret", err)
			}
		})
	}
	t.Run("every problem at once", func(t *testing.T) {
		_, err := NewClientTable([]Client{{Name: "a"}, {Name: "b"}})
		if n := strings.Count(err.Error(), "\n") + 1; n != 4 {
			t.Errorf("got %d problems in %q, want 4", n, err)
		}
	})
}

func TestClientTableLookup(t *testing.T) {
	ct, err := NewClientTable([]Client{
		{Name: "wide", Networks: prefixes("10.0.0.0/8", "2001:db8::/32"), Secret: []byte("secret-wide")},
		{Name: "narrow", Networks: prefixes("10.1.0.0/16"), Secret: []byte("secret-narrow")},
		{Name: "host", Networks: prefixes("10.1.2.3/32", "2001:db8::1/128"), Secret: []byte("secret-host")},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want string // "" means no client
	}{
		{"10.9.9.9", "wide"},
		{"10.1.9.9", "narrow"},
		{"10.1.2.3", "host"},
		{"::ffff:10.1.2.3", "host"},
		{"::ffff:10.1.9.9", "narrow"},
		{"2001:db8::1", "host"},
		{"2001:db8::2", "wide"},
		{"fe80::1%eth0", ""},
		{"192.0.2.1", ""},
		{"2001:db9::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			c, ok := ct.Lookup(netip.MustParseAddr(tt.addr))
			got := ""
			if ok {
				got = c.Name
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("nil table", func(t *testing.T) {
		var nilTable *ClientTable
		if _, ok := nilTable.Lookup(netip.MustParseAddr("10.0.0.1")); ok {
			t.Error("got a client from a nil table")
		}
	})
}

func TestClientTableCopies(t *testing.T) {
	secret := []byte("a-good-long-secret")
	nets := prefixes("10.0.0.0/8")
	ct, err := NewClientTable([]Client{{Name: "a", Networks: nets, Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	secret[0] = 'X'
	nets[0] = netip.MustParsePrefix("192.0.2.0/24")
	c, ok := ct.Lookup(netip.MustParseAddr("10.0.0.1"))
	if !ok || string(c.Secret) != "a-good-long-secret" {
		t.Errorf("the table shares memory with its input")
	}
}

func TestClientTableWeak(t *testing.T) {
	ct, err := NewClientTable([]Client{
		{Name: "short", Networks: prefixes("10.0.0.1/32"), Secret: []byte("123456789012")}, // 12: weak
		{Name: "ok", Networks: prefixes("10.0.0.2/32"), Secret: []byte("1234567890123")},   // 13
		{Name: "tiny", Networks: prefixes("10.0.0.3/32"), Secret: []byte("x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ct.Weak(), []string{"short", "tiny"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
