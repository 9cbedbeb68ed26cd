package radiusd

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
)

func TestDictionaryEncode(t *testing.T) {
	d, err := NewDictionary("testdata/aruba.dictionary")
	if err != nil {
		t.Fatal(err)
	}
	vsa := func(vendor uint32, typ byte, v string) radius.Attribute {
		a, err := radius.NewVendorSpecific(vendor, append(radius.Attribute{typ, byte(len(v) + 2)}, v...))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	cases := []struct {
		name, attr, value string
		wantType          radius.Type
		want              radius.Attribute
		wantErr           string
	}{
		{"string", "Filter-Id", "vpn-acl", 11, radius.Attribute("vpn-acl"), ""},
		{"octets as text", "Class", "admins", 25, radius.Attribute("admins"), ""},
		{"octets as hex", "Class", "0x0a0b", 25, radius.Attribute{0x0a, 0x0b}, ""},
		{"integer", "Session-Timeout", "3600", 27, radius.Attribute{0, 0, 0x0e, 0x10}, ""},
		{"ipaddr", "Framed-IP-Address", "192.0.2.7", 8, radius.Attribute{192, 0, 2, 7}, ""},
		{"Cisco VSA", "Cisco-AVPair", "shell:priv-lvl=15", 26, vsa(9, 1, "shell:priv-lvl=15"), ""},
		{"Fortinet VSA", "Fortinet-Group-Name", "fw-admins", 26, vsa(12356, 1, "fw-admins"), ""},
		{"Palo Alto VSA", "PaloAlto-User-Group", "gp-users", 26, vsa(25461, 5, "gp-users"), ""},
		{"from a dictionary file", "Aruba-User-Role", "employee", 26, vsa(14823, 1, "employee"), ""},
		{"named integer value", "Aruba-Priv-Admin-User", "Yes", 26, vsa(14823, 3, "\x00\x00\x00\x01"), ""},
		{"unknown", "Nope-Attribute", "x", 0, nil, "unknown attribute"},
		{"bad integer", "Session-Timeout", "soon", 0, nil, "not a number"},
		{"bad address", "Framed-IP-Address", "2001:db8::1", 0, nil, "not an IPv4 address"},
		{"bad hex", "Class", "0xzz", 0, nil, "hex digits"},
		{"too long for a VSA", "Cisco-AVPair", strings.Repeat("x", 248), 0, nil, "1 to 247 fit"},
		{"empty", "Filter-Id", "", 0, nil, "1 to 253 fit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Encode(tc.attr, tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tc.wantType || string(got.Attribute) != string(tc.want) {
				t.Errorf("got type %d %x, want type %d %x", got.Type, got.Attribute, tc.wantType, tc.want)
			}
		})
	}
	if _, err := d.Encode("Nope", "x"); !errors.Is(err, ErrUnknownAttribute) {
		t.Errorf("got %v, want ErrUnknownAttribute", err)
	}
	if _, err := NewDictionary("testdata/missing.dict"); err == nil {
		t.Error("a missing dictionary file was accepted")
	}
}

// TestReplyAttributesPerClient: an Accept carries the Decision's
// attributes that the client is configured to receive; a Reject none.
func TestReplyAttributesPerClient(t *testing.T) {
	attrs := []challenge.Attribute{{Name: "Class", Value: "admins"}, {Name: "Fortinet-Group-Name", Value: "fw-admins"}, {Name: "Filter-Id", Value: "acl-admins"}}
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		if req.Password != "right" {
			return challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonBadPassword, Attributes: attrs}, nil
		}
		return challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonOK, Attributes: attrs}, nil
	})
	cases := []struct {
		name      string
		only      []string
		password  string
		wantClass bool
		wantVSA   bool
		wantFID   bool
	}{
		{"all by default", nil, "right", true, true, true},
		{"only the Fortinet group", []string{"Fortinet-Group-Name"}, "right", false, true, false},
		{"none", []string{}, "right", false, false, false},
		{"reject carries none", nil, "wrong", false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, auth, func(o *Options) {
				ct, err := NewClientTable([]Client{{Name: "nas1", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
					Secret: testSecret, ReplyAttributes: tc.only}})
				if err != nil {
					t.Fatal(err)
				}
				o.Clients = ct
			})
			p := h.exchange(request(t, testSecret, "alice", tc.password, nil), testSecret)
			if got := p.Get(rfc2865.Class_Type) != nil; got != tc.wantClass {
				t.Errorf("Class: got %v, want %v", got, tc.wantClass)
			}
			if got := p.Get(rfc2865.VendorSpecific_Type) != nil; got != tc.wantVSA {
				t.Errorf("Fortinet VSA: got %v, want %v", got, tc.wantVSA)
			}
			if got := rfc2865.FilterID_GetString(p) != ""; got != tc.wantFID {
				t.Errorf("Filter-Id: got %v, want %v", got, tc.wantFID)
			}
		})
	}
}

func TestUnencodableAttributeIsNoAccept(t *testing.T) {
	auth := newFakeAuth(func(context.Context, *challenge.Request) (challenge.Decision, error) {
		return challenge.Decision{Outcome: challenge.Accept, Attributes: []challenge.Attribute{{Name: "Session-Timeout", Value: "never"}}}, nil
	})
	h := newHarness(t, auth, nil)
	p := h.exchange(request(t, testSecret, "alice", "pw", nil), testSecret)
	if p.Code != radius.CodeAccessReject {
		t.Errorf("got %v, want Access-Reject", p.Code)
	}
}

func TestDropOnError(t *testing.T) {
	auth := newFakeAuth(func(context.Context, *challenge.Request) (challenge.Decision, error) {
		return challenge.Decision{}, errors.New("ldap: connection refused")
	})
	for _, drop := range []bool{false, true} {
		h := newHarness(t, auth, func(o *Options) {
			ct, err := NewClientTable([]Client{{Name: "nas1", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				Secret: testSecret, DropOnError: drop}})
			if err != nil {
				t.Fatal(err)
			}
			o.Clients = ct
		})
		req := request(t, testSecret, "alice", testPassword, nil)
		if drop {
			h.expectDrop(req, causeUnavailable)
			// The retransmission is decided again, not answered from a cache.
			h.expectDrop(req, causeUnavailable)
			logs := h.waitLog(`"decision":"drop"`, 2)
			if strings.Contains(logs, testPassword) || strings.Contains(logs, string(testSecret)) {
				t.Errorf("the drop log holds the password or secret:\n%s", logs)
			}
			continue
		}
		if p := h.exchange(req, testSecret); p.Code != radius.CodeAccessReject || rfc2865.ReplyMessage_GetString(p) != msgUnavailable {
			t.Errorf("reject mode: got %v %q, want Access-Reject %q", p.Code, rfc2865.ReplyMessage_GetString(p), msgUnavailable)
		}
	}
}
