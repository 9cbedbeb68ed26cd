package ldapclient

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"twostep/internal/leakcheck"
)

// ldapMessage encodes an LDAPMessage with message ID id carrying op.
func ldapMessage(id int64, op *ber.Packet) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	env.AppendChild(op)
	return env.Bytes()
}

// resultOp encodes an LDAPResult operation with application tag tag.
func resultOp(tag ber.Tag, code int64, diag string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	return op
}

// bindResponse encodes a BindResponse with message ID id.
func bindResponse(id int64, code int64, diag string) []byte {
	return ldapMessage(id, resultOp(ldap.ApplicationBindResponse, code, diag))
}

// ppolicyAccountLocked is the password policy response control's error
// accountLocked (draft-behera-ldap-password-policy).
const ppolicyAccountLocked = 1

// lockedBindResponse encodes a BindResponse with message ID id that
// carries a password policy response control saying accountLocked.
func lockedBindResponse(id int64, code int64, diag string) []byte {
	env := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	env.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	env.AppendChild(resultOp(ldap.ApplicationBindResponse, code, diag))
	value := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	value.AppendChild(ber.NewInteger(ber.ClassContext, ber.TypePrimitive, 1, ppolicyAccountLocked, "error"))
	ctl := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	ctl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, ldap.ControlTypeBeheraPasswordPolicy, ""))
	ctl.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(value.Bytes()), ""))
	ctls := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "")
	ctls.AppendChild(ctl)
	env.AppendChild(ctls)
	return env.Bytes()
}

// noticeOfDisconnection encodes the unsolicited notification a server
// sends before it hangs up (RFC 4511 §4.4.1).
func noticeOfDisconnection() []byte {
	op := resultOp(ldap.ApplicationExtendedResponse, ldap.LDAPResultUnavailable, "shutting down")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, "1.3.6.1.4.1.1466.20036", ""))
	return ldapMessage(0, op)
}

// accountLocked reports whether res carries a password policy control
// saying accountLocked, which the LDAP backend reads as a locked account.
func accountLocked(res *ldap.SimpleBindResult) bool {
	if res == nil {
		return false
	}
	for _, c := range res.Controls {
		if pp, ok := c.(*ldap.ControlBeheraPasswordPolicy); ok && pp.Error == ppolicyAccountLocked {
			return true
		}
	}
	return false
}

// TestConnBind runs a bind against a scripted server: it reads the
// request, checks it, and answers with reply (nil: no answer), then
// hangs up if told to.
func TestConnBind(t *testing.T) {
	leakcheck.Check(t)
	long := strings.Repeat("x", 300) // lengths in the long form
	tests := []struct {
		name     string
		dn       string // "": uid=alice
		password string
		msgID    int64 // of the connection's last request
		refused  bool  // the client must send nothing
		reply    []byte
		hangUp   bool
		wantCode uint16 // 0 with no wantErr: success
		wantErr  string
		broken   bool // the connection must be closed afterwards
		stale    bool // the error must be errStale
		locked   bool // the answer must carry the password policy's accountLocked
	}{
		{name: "success", password: "pw", reply: bindResponse(1, 0, "")},
		{name: "invalid credentials", password: "pw", reply: bindResponse(1, 49, "80090308: LdapErr: data 52e"),
			wantCode: ldap.LDAPResultInvalidCredentials, wantErr: "data 52e"},
		{name: "success in the long form", password: "pw",
			reply: []byte{0x30, 0x81, 0x0d, 0x02, 0x01, 0x01, 0x61, 0x81, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}},
		{name: "success with a long message", password: "pw", reply: bindResponse(1, 0, long)},
		{name: "locked, with controls and a long message", password: "pw", reply: lockedBindResponse(1, 49, long),
			wantCode: ldap.LDAPResultInvalidCredentials, wantErr: long, locked: true},
		{name: "success with data after it", password: "pw", reply: slices.Concat(bindResponse(1, 0, ""), bindResponse(1, 0, "")),
			broken: true},
		{name: "failure with data after it", password: "pw", reply: slices.Concat(bindResponse(1, 49, ""), []byte{0x30}),
			wantCode: ldap.LDAPResultInvalidCredentials, broken: true},
		{name: "notice of disconnection", password: "pw", reply: noticeOfDisconnection(), hangUp: true,
			wantCode: ldap.ErrorNetwork, wantErr: "response to message 0", broken: true, stale: true},
		{name: "another message", password: "pw", reply: bindResponse(7, 0, ""),
			wantCode: ldap.ErrorNetwork, wantErr: "want 1", broken: true},
		{name: "search result", password: "pw", reply: ldapMessage(1, resultOp(ldap.ApplicationSearchResultDone, 0, "")),
			wantCode: ldap.ErrorNetwork, wantErr: "want Bind Response", broken: true},
		{name: "extended response", password: "pw", reply: ldapMessage(1, resultOp(ldap.ApplicationExtendedResponse, 0, "")),
			wantCode: ldap.ErrorNetwork, wantErr: "want Bind Response", broken: true},
		{name: "bind response of two fields", password: "pw", reply: []byte{0x30, 0x0a, 0x02, 0x01, 0x01, 0x61, 0x05, 0x0a, 0x01, 0x00, 0x04, 0x00},
			wantCode: ldap.ErrorNetwork, wantErr: "malformed Bind Response", broken: true},
		{name: "not a sequence", password: "pw", reply: []byte{0x04, 0x00},
			wantCode: ldap.ErrorNetwork, wantErr: "want a SEQUENCE", broken: true},
		{name: "too long", password: "pw", reply: []byte{0x30, 0x84, 0x02, 0x00, 0x00, 0x00},
			wantCode: ldap.ErrorNetwork, wantErr: "more than", broken: true},
		{name: "longest length", password: "pw", reply: []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
			wantCode: ldap.ErrorNetwork, wantErr: "4294967295 bytes, more than", broken: true},
		{name: "length of five octets", password: "pw", reply: []byte{0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00},
			wantCode: ldap.ErrorNetwork, wantErr: "length of 5 octets", broken: true},
		{name: "no answer", password: "pw",
			wantCode: ldap.ErrorNetwork, wantErr: "timed out", broken: true},
		{name: "hung up", password: "pw", hangUp: true,
			wantCode: ldap.ErrorNetwork, wantErr: "EOF", broken: true, stale: true},
		{name: "hung up after one byte", password: "pw", reply: []byte{0x30}, hangUp: true,
			wantCode: ldap.ErrorNetwork, wantErr: "EOF", broken: true},
		{name: "hung up in the answer", password: "pw", reply: bindResponse(1, 0, "")[:5], hangUp: true,
			wantCode: ldap.ErrorNetwork, wantErr: "unexpected EOF", broken: true},
		{name: "last message ID", password: "pw", msgID: math.MaxInt32 - 1, reply: bindResponse(math.MaxInt32, 0, "")},
		{name: "message IDs used up", password: "pw", msgID: math.MaxInt32, refused: true,
			wantCode: ldap.ErrorNetwork, wantErr: "message IDs used up", broken: true, stale: true},
		{name: "empty password", password: "", refused: true, wantCode: ldap.ErrorEmptyPassword, wantErr: "empty password"},
		{name: "empty DN", dn: "-", password: "pw", refused: true, wantErr: "empty bind DN"},
		{name: "DN too long", dn: strings.Repeat("d", maxBindField+1), password: "pw", refused: true, wantErr: "more than 65536"},
		{name: "password too long", password: strings.Repeat("p", maxBindField+1), refused: true, wantErr: "more than 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dn := cmp.Or(tt.dn, "uid=alice")
			if dn == "-" {
				dn = ""
			}
			client, server := net.Pipe()
			defer server.Close()
			done := make(chan error, 1)
			go func() {
				done <- func() error {
					if tt.refused {
						return nil
					}
					p, err := ber.ReadPacket(bufio.NewReader(server))
					if err != nil {
						return err
					}
					if len(p.Children) != 3 || p.Children[1].Tag != ldap.ApplicationBindRequest {
						return errors.New("not a bind request with controls")
					}
					if got := p.Children[1].Children[1].Value; got != dn {
						return fmt.Errorf("bind DN %v", got)
					}
					if tt.reply != nil {
						_, err = server.Write(tt.reply)
					}
					if tt.hangUp {
						server.Close()
					}
					return err
				}()
			}()
			c := newConn(client)
			defer c.Close()
			c.msgID = tt.msgID
			c.SetTimeout(200 * time.Millisecond)
			res, err := c.Bind(dn, tt.password, EncodeControls([]ldap.Control{ldap.NewControlBeheraPasswordPolicy()}))
			if serr := <-done; serr != nil {
				t.Fatalf("server: %v", serr)
			}
			switch {
			case tt.wantCode == 0 && tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantCode != 0 && !ldap.IsErrorWithCode(err, tt.wantCode):
				t.Fatalf("got %v, want LDAP code %d", err, tt.wantCode)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want it to mention %q", err, tt.wantErr)
			}
			if got := errors.Is(err, errStale); got != tt.stale {
				t.Errorf("errStale: got %v, want %v", got, tt.stale)
			}
			if got := c.IsClosing(); got != tt.broken {
				t.Errorf("IsClosing: got %v, want %v", got, tt.broken)
			}
			if got := accountLocked(res); got != tt.locked {
				t.Errorf("accountLocked: got %v, want %v", got, tt.locked)
			}
		})
	}
}

// TestConnStartTLS runs StartTLS against a scripted server that answers
// with reply; every case fails before the TLS handshake.
func TestConnStartTLS(t *testing.T) {
	leakcheck.Check(t)
	tests := []struct {
		name     string
		reply    []byte
		wantCode uint16
		wantErr  string
		broken   bool
	}{
		{"refused", ldapMessage(1, resultOp(ldap.ApplicationExtendedResponse, ldap.LDAPResultUnavailable, "no TLS here")),
			ldap.LDAPResultUnavailable, "no TLS here", false},
		{"data after the response", slices.Concat(ldapMessage(1, resultOp(ldap.ApplicationExtendedResponse, 0, "")), []byte{0x16, 0x03, 0x01}),
			ldap.ErrorUnexpectedResponse, "data after the StartTLS response", true},
		{"bind response", bindResponse(1, 0, ""),
			ldap.ErrorNetwork, "want Extended Response", true},
		{"notice of disconnection", noticeOfDisconnection(),
			ldap.ErrorNetwork, "response to message 0", true},
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
					if p.Children[1].Tag != ldap.ApplicationExtendedRequest {
						return errors.New("not an extended request")
					}
					_, err = server.Write(tt.reply)
					return err
				}()
			}()
			c := newConn(client)
			defer c.Close()
			c.SetTimeout(time.Second)
			err := c.startTLS(context.Background(), &tls.Config{ServerName: "ldap.example"})
			if serr := <-done; serr != nil {
				t.Fatalf("server: %v", serr)
			}
			if !ldap.IsErrorWithCode(err, tt.wantCode) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want LDAP code %d mentioning %q", err, tt.wantCode, tt.wantErr)
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
				got, want := encodeBind(id, dn, pw, EncodeControls(ctls)), env.Bytes()
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

// searchEntry encodes a SearchResultEntry uid=alice with memberOf values.
func searchEntry() *ber.Packet {
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
	return entry
}

// searchAnswer encodes the answers of a search to message id: one entry
// uid=alice with memberOf values, a reference, then done with code.
func searchAnswer(id int64, code int64) []byte {
	ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "")
	ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "ldap://other/", ""))
	return slices.Concat(ldapMessage(id, searchEntry()), ldapMessage(id, ref),
		ldapMessage(id, resultOp(ldap.ApplicationSearchResultDone, code, "")))
}

// TestConnSearch runs a search against a scripted server: the entries and
// referrals come back as go-ldap's Search returns them, with an error
// result too (sizeLimitExceeded), and the connection stays usable.
func TestConnSearch(t *testing.T) {
	leakcheck.Check(t)
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
			res, err := c.Search(ldap.NewSearchRequest("dc=x", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
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

// TestConnSearchBroken runs searches whose answers a server should not
// send, or that stop half way: each closes the connection, but for an
// IntermediateResponse, which is skipped.
func TestConnSearchBroken(t *testing.T) {
	leakcheck.Check(t)
	intermediate := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationIntermediateResponse, nil, "")
	intermediate.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.4203.1.9.1.4", ""))
	done := ldapMessage(1, resultOp(ldap.ApplicationSearchResultDone, 0, ""))
	tests := []struct {
		name        string
		msgID       int64 // of the connection's last request
		refused     bool  // the client must send nothing
		reply       []byte
		hangUp      bool
		stall       bool   // the server answers part, then says nothing more
		wantErr     string // "": success
		wantEntries int
		broken      bool // the connection must be closed afterwards
		stale       bool // the error must be errStale
	}{
		{name: "intermediate response", reply: slices.Concat(ldapMessage(1, searchEntry()), ldapMessage(1, intermediate), done),
			wantEntries: 1},
		{name: "notice of disconnection first", reply: noticeOfDisconnection(), hangUp: true,
			wantErr: "response to message 0", broken: true, stale: true},
		{name: "notice of disconnection mid-search", reply: slices.Concat(ldapMessage(1, searchEntry()), noticeOfDisconnection()), hangUp: true,
			wantErr: "response to message 0", wantEntries: 1, broken: true},
		{name: "hung up mid-search", reply: ldapMessage(1, searchEntry()), hangUp: true,
			wantErr: "EOF", wantEntries: 1, broken: true},
		{name: "stalled mid-search", reply: ldapMessage(1, searchEntry()), stall: true,
			wantErr: "timed out", wantEntries: 1, broken: true},
		{name: "bind response", reply: bindResponse(1, 0, ""),
			wantErr: "search answered with Bind Response", broken: true},
		{name: "extended response", reply: slices.Concat(ldapMessage(1, searchEntry()), ldapMessage(1, resultOp(ldap.ApplicationExtendedResponse, 0, ""))),
			wantErr: "search answered with Extended Response", wantEntries: 1, broken: true},
		{name: "context-specific operation", reply: ldapMessage(1, ber.Encode(ber.ClassContext, ber.TypeConstructed, ldap.ApplicationSearchResultDone, nil, "")),
			wantErr: "search answered with class", broken: true},
		{name: "done of one field", reply: []byte{0x30, 0x08, 0x02, 0x01, 0x01, 0x65, 0x03, 0x0a, 0x01, 0x00},
			wantErr: "malformed Search Result Done", broken: true},
		{name: "data after done", reply: slices.Concat(done, []byte{0x30, 0x00}),
			broken: true},
		{name: "message IDs used up", msgID: math.MaxInt32, refused: true,
			wantErr: "message IDs used up", broken: true, stale: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			served := make(chan error, 1)
			go func() {
				served <- func() error {
					if tt.refused {
						return nil
					}
					p, err := ber.ReadPacket(bufio.NewReader(server))
					if err != nil {
						return err
					}
					if p.Children[1].Tag != ldap.ApplicationSearchRequest {
						return errors.New("not a search request")
					}
					_, err = server.Write(tt.reply)
					if tt.hangUp {
						server.Close()
					}
					return err
				}()
			}()
			c := newConn(client)
			defer c.Close()
			c.msgID = tt.msgID
			c.SetTimeout(time.Second)
			if tt.stall {
				c.SetTimeout(200 * time.Millisecond)
			}
			if tt.stall {
				c.SetTimeout(200 * time.Millisecond)
			}
			res, err := c.Search(ldap.NewSearchRequest("dc=x", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
				2, 0, false, "(uid=alice)", []string{"memberOf"}, nil))
			if serr := <-served; serr != nil {
				t.Fatalf("server: %v", serr)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (!ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want a network error mentioning %q", err, tt.wantErr)
			}
			if got := errors.Is(err, errStale); got != tt.stale {
				t.Errorf("errStale: got %v, want %v", got, tt.stale)
			}
			if res != nil && len(res.Entries) != tt.wantEntries {
				t.Errorf("got %d entries, want %d", len(res.Entries), tt.wantEntries)
			}
			if got := c.IsClosing(); got != tt.broken {
				t.Errorf("IsClosing: got %v, want %v", got, tt.broken)
			}
		})
	}
}

// TestAppendBERHeader checks each form of a definite length, and that
// berTLVLen counts it.
func TestAppendBERHeader(t *testing.T) {
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x04, 0x00}},
		{0x7f, []byte{0x04, 0x7f}},
		{0x80, []byte{0x04, 0x81, 0x80}},
		{0xff, []byte{0x04, 0x81, 0xff}},
		{0x100, []byte{0x04, 0x82, 0x01, 0x00}},
		{0xffff, []byte{0x04, 0x82, 0xff, 0xff}},
		{0x10000, []byte{0x04, 0x83, 0x01, 0x00, 0x00}},
		{0xffffff, []byte{0x04, 0x83, 0xff, 0xff, 0xff}},
		{0x1000000, []byte{0x04, 0x84, 0x01, 0x00, 0x00, 0x00}},
		{0x7fffffff, []byte{0x04, 0x84, 0x7f, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%#x", tt.n), func(t *testing.T) {
			if got := appendBERHeader(nil, 0x04, tt.n); !bytes.Equal(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
			if got, want := berTLVLen(tt.n), len(tt.want)+tt.n; got != want {
				t.Errorf("berTLVLen: got %d, want %d", got, want)
			}
		})
	}
}
