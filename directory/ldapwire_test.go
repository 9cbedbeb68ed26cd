package directory

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// bindResponse encodes a BindResponse with message ID id.
func bindResponse(id int64, code int64, diag string) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindResponse, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	env.AppendChild(op)
	return env.Bytes()
}

// TestConnBind runs a bind against a scripted server: it reads the
// request, checks it, and answers with reply (nil: no answer).
func TestConnBind(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		password string
		reply    []byte
		wantCode uint16 // 0: success
		wantErr  string
		broken   bool // the connection must be closed afterwards
	}{
		{"success", "pw", bindResponse(1, 0, ""), 0, "", false},
		{"invalid credentials", "pw", bindResponse(1, 49, "80090308: LdapErr: data 52e"), ldap.LDAPResultInvalidCredentials, "data 52e", false},
		{"notice of disconnection", "pw", bindResponse(0, 52, "bye"), ldap.ErrorNetwork, "response to message 0", true},
		{"another message", "pw", bindResponse(7, 0, ""), ldap.ErrorNetwork, "want 1", true},
		{"not a sequence", "pw", []byte{0x04, 0x00}, ldap.ErrorNetwork, "want a SEQUENCE", true},
		{"too long", "pw", []byte{0x30, 0x84, 0x02, 0x00, 0x00, 0x00}, ldap.ErrorNetwork, "more than", true},
		{"no answer", "pw", nil, ldap.ErrorNetwork, "timed out", true},
		{"empty password", "", nil, ldap.ErrorEmptyPassword, "empty password", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			done := make(chan error, 1)
			go func() {
				done <- func() error {
					if tt.password == "" {
						return nil
					}
					p, err := ber.ReadPacket(bufio.NewReader(server))
					if err != nil {
						return err
					}
					if len(p.Children) != 3 || p.Children[1].Tag != ldap.ApplicationBindRequest {
						return errors.New("not a bind request with controls")
					}
					if got := p.Children[1].Children[1].Value; got != "uid=alice" {
						return errors.New("bind DN " + got.(string))
					}
					if tt.reply != nil {
						_, err = server.Write(tt.reply)
					}
					return err
				}()
			}()
			c := newConn(client)
			defer c.Close()
			c.SetTimeout(200 * time.Millisecond)
			_, err := c.bind("uid=alice", tt.password, encodeControls([]ldap.Control{ldap.NewControlBeheraPasswordPolicy()}))
			if serr := <-done; serr != nil {
				t.Fatalf("server: %v", serr)
			}
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantCode != 0 && !ldap.IsErrorWithCode(err, tt.wantCode):
				t.Fatalf("got %v, want LDAP code %d", err, tt.wantCode)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("got %v, want it to mention %q", err, tt.wantErr)
			}
			if got := c.IsClosing(); got != tt.broken {
				t.Errorf("IsClosing: got %v, want %v", got, tt.broken)
			}
		})
	}
}

// TestEncodeBind compares the hand-written BindRequest with asn1-ber's,
// across the lengths where BER changes form.
func TestEncodeBind(t *testing.T) {
	controls := []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
	for _, id := range []int64{1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 1 << 31} {
		for _, n := range []int{1, 0x7f, 0x80, 0xff, 0x100, 0x10000} {
			for _, ctls := range [][]ldap.Control{nil, controls} {
				dn, pw := strings.Repeat("d", n), strings.Repeat("p", min(n, 300))
				env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
				env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
				op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "")
				op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, ""))
				op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, ""))
				op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, ""))
				env.AppendChild(op)
				if ctls != nil {
					c := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
					c.AppendChild(ctls[0].Encode())
					env.AppendChild(c)
				}
				got, want := encodeBind(id, dn, pw, encodeControls(ctls)), env.Bytes()
				if !bytes.Equal(got, want) {
					t.Errorf("id %d, length %d, controls %v: got % x, want % x", id, n, ctls != nil, got[:min(len(got), 16)], want[:min(len(want), 16)])
				}
			}
		}
	}
}

// TestIsBindSuccess checks the short cut for a plain success against the
// full decoding.
func TestIsBindSuccess(t *testing.T) {
	for _, id := range []int64{1, 0x7f, 0x80, 0x8000} {
		if !isBindSuccess(bindResponse(id, 0, ""), id) {
			t.Errorf("id %d: success not recognised", id)
		}
		for _, raw := range [][]byte{bindResponse(id+1, 0, ""), bindResponse(id, 49, ""), bindResponse(id, 0, "x")} {
			if isBindSuccess(raw, id) {
				t.Errorf("id %d: % x taken for success", id, raw)
			}
		}
	}
}

// searchAnswer encodes the answers of a search to message id: one entry
// uid=alice with memberOf values, a reference, then done with code.
func searchAnswer(id int64, code int64) []byte {
	msg := func(op *ber.Packet) []byte {
		env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
		env.AppendChild(op)
		return env.Bytes()
	}
	entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
	entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=x", ""))
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	attr.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "memberOf", ""))
	vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
	vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn=a", ""))
	vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "cn=b", ""))
	attr.AppendChild(vals)
	attrs.AppendChild(attr)
	entry.AppendChild(attrs)
	ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "")
	ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "ldap://other/", ""))
	done := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")
	done.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	done.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return slices.Concat(msg(entry), msg(ref), msg(done))
}

// TestConnSearch runs a search against a scripted server: the entries and
// referrals come back as go-ldap's Search returns them, with an error
// result too (sizeLimitExceeded), and the connection stays usable.
func TestConnSearch(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		code     int64
		wantCode uint16 // 0: success
	}{
		{"success", 0, 0},
		{"size limit exceeded", ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultSizeLimitExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			done := make(chan error, 1)
			go func() {
				done <- func() error {
					p, err := ber.ReadPacket(bufio.NewReader(server))
					if err != nil {
						return err
					}
					if p.Children[1].Tag != ldap.ApplicationSearchRequest {
						return errors.New("not a search request")
					}
					_, err = server.Write(searchAnswer(1, tt.code))
					return err
				}()
			}()
			c := newConn(client)
			defer c.Close()
			c.SetTimeout(time.Second)
			res, err := c.search(ldap.NewSearchRequest("dc=x", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
				2, 0, false, "(uid=alice)", []string{"memberOf"}, nil))
			if serr := <-done; serr != nil {
				t.Fatalf("server: %v", serr)
			}
			if tt.wantCode == 0 && err != nil || tt.wantCode != 0 && !ldap.IsErrorWithCode(err, tt.wantCode) {
				t.Fatalf("got %v, want code %d", err, tt.wantCode)
			}
			if len(res.Entries) != 1 || res.Entries[0].DN != "uid=alice,dc=x" ||
				!slices.Equal(res.Entries[0].GetAttributeValues("memberOf"), []string{"cn=a", "cn=b"}) {
				t.Errorf("got entries %+v", res.Entries)
			}
			if !slices.Equal(res.Referrals, []string{"ldap://other/"}) {
				t.Errorf("got referrals %v, want ldap://other/", res.Referrals)
			}
			if c.IsClosing() {
				t.Error("connection closed after a complete answer")
			}
		})
	}
}
