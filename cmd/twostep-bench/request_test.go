package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"strings"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

const testSecret = "a-test-secret-of-some-length"

// layehMA computes a Message-Authenticator the way RFC 3579 describes it,
// through layeh's own encoder: the packet with the attribute zeroed and,
// for a response, the request authenticator in the header.
func layehMA(t *testing.T, p *radius.Packet) []byte {
	t.Helper()
	q := *p
	q.Attributes = append(radius.Attributes(nil), p.Attributes...)
	q.Set(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
	b, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, p.Secret)
	m.Write(b)
	return m.Sum(nil)
}

func TestBuildParsesWithLayeh(t *testing.T) {
	tests := []struct {
		name     string
		user     user
		withMA   bool
		pwBlocks int
	}{
		{"short password", user{"alice", "secret"}, true, 1},
		{"empty password", user{"bob", ""}, true, 1},
		{"16-byte password", user{"carol", strings.Repeat("x", 16)}, true, 1},
		{"17-byte password", user{"dave", strings.Repeat("y", 17)}, true, 2},
		{"128-byte password", user{"erin", strings.Repeat("z", 128)}, true, 8},
		{"password with colon and spaces", user{"frank", "a b:c"}, true, 1},
		{"without Message-Authenticator", user{"grace", "pw"}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := newTemplate(tt.user, tt.withMA)
			if err != nil {
				t.Fatal(err)
			}
			s := newSigner([]byte(testSecret))
			auth := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
			pkt := s.build(make([]byte, maxPacket), tpl, 42, &auth)

			p, err := radius.Parse(pkt, []byte(testSecret))
			if err != nil {
				t.Fatalf("radius.Parse: %v", err)
			}
			if p.Code != radius.CodeAccessRequest || p.Identifier != 42 || p.Authenticator != auth {
				t.Errorf("got code %v id %d auth %x, want Access-Request 42 %x", p.Code, p.Identifier, p.Authenticator, auth)
			}
			if got := rfc2865.UserName_GetString(p); got != tt.user.Name {
				t.Errorf("User-Name got %q, want %q", got, tt.user.Name)
			}
			if got := rfc2865.UserPassword_GetString(p); got != tt.user.Password {
				t.Errorf("User-Password decodes to %q, want %q", got, tt.user.Password)
			}
			if got := len(rfc2865.UserPassword_Get(p)); got == 0 && tt.user.Password != "" {
				t.Errorf("User-Password missing")
			}
			if got, want := len(p.Get(rfc2865.UserPassword_Type)), 16*tt.pwBlocks; got != want {
				t.Errorf("User-Password is %d bytes on the wire, want %d", got, want)
			}
			if got := rfc2865.NASIdentifier_GetString(p); got != nasIdent {
				t.Errorf("NAS-Identifier got %q, want %q", got, nasIdent)
			}

			ma, err := rfc2869.MessageAuthenticator_Lookup(p)
			if !tt.withMA {
				if err == nil {
					t.Errorf("Message-Authenticator present, want none")
				}
				return
			}
			if err != nil {
				t.Fatalf("Message-Authenticator: %v", err)
			}
			if p.Attributes[0].Type != rfc2869.MessageAuthenticator_Type {
				t.Errorf("first attribute is %d, want Message-Authenticator first", p.Attributes[0].Type)
			}
			if want := layehMA(t, p); !bytes.Equal(ma, want) {
				t.Errorf("Message-Authenticator got %x, want %x", ma, want)
			}
		})
	}
}

func TestBuildTwiceDiffers(t *testing.T) {
	tpl, err := newTemplate(user{"alice", "secret"}, true)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner([]byte(testSecret))
	a1, a2 := [16]byte{1}, [16]byte{2}
	p1 := bytes.Clone(s.build(make([]byte, maxPacket), tpl, 1, &a1))
	p2 := s.build(make([]byte, maxPacket), tpl, 1, &a2)
	if bytes.Equal(p1[20:], p2[20:]) {
		t.Error("two authenticators gave the same attributes; password and M-A must depend on them")
	}
	if tpl.pkt[tpl.pwOff] != 0 || tpl.pkt[tpl.maOff] != 0 {
		t.Error("build wrote into the shared template")
	}
}

func TestNewTemplateLimits(t *testing.T) {
	tests := []struct {
		name string
		user user
	}{
		{"empty name", user{"", "pw"}},
		{"long name", user{strings.Repeat("n", 254), "pw"}},
		{"long password", user{"alice", strings.Repeat("p", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTemplate(tt.user, true)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if tt.user.Password != "pw" && strings.Contains(err.Error(), tt.user.Password) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

// layehResponse answers req through layeh: code, optional
// Message-Authenticator (RFC 3579), Response Authenticator by Encode.
func layehResponse(t *testing.T, req *radius.Packet, code radius.Code, secret string, withMA bool) []byte {
	t.Helper()
	resp := req.Response(code)
	resp.Secret = []byte(secret)
	rfc2865.ReplyMessage_SetString(resp, "hello")
	if withMA {
		resp.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
		resp.Set(rfc2869.MessageAuthenticator_Type, layehMA(t, resp))
	}
	b, err := resp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	tpl, err := newTemplate(user{"alice", "secret"}, true)
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner([]byte(testSecret))
	auth := [16]byte{9, 8, 7, 6, 5, 4, 3, 2, 1}
	reqBytes := s.build(make([]byte, maxPacket), tpl, 7, &auth)
	req, err := radius.Parse(reqBytes, []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	good := layehResponse(t, req, radius.CodeAccessAccept, testSecret, true)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }

	type verifyCase struct {
		name      string
		resp      []byte
		requireMA bool
		wantCode  byte
		wantErr   error
	}
	tests := []verifyCase{
		{"accept with M-A", good, true, codeAccessAccept, nil},
		{"reject with M-A", layehResponse(t, req, radius.CodeAccessReject, testSecret, true), true, codeAccessReject, nil},
		{"challenge with M-A", layehResponse(t, req, radius.CodeAccessChallenge, testSecret, true), true, codeAccessChallenge, nil},
		{"accept without M-A, not required", layehResponse(t, req, radius.CodeAccessAccept, testSecret, false), false, codeAccessAccept, nil},
		{"accept without M-A, required", layehResponse(t, req, radius.CodeAccessAccept, testSecret, false), true, codeAccessAccept, errMissingMA},
		{"padding after the length field", append(bytes.Clone(good), 0, 0, 0), true, codeAccessAccept, nil},
		{"wrong secret", layehResponse(t, req, radius.CodeAccessAccept, "another-secret-entirely", true), true, codeAccessAccept, errRespAuth},
		{"other identifier", mutate(func(b []byte) []byte { b[1]++; return b }), true, 0, errStray},
		{"accounting response", layehResponse(t, req, radius.CodeAccountingResponse, testSecret, false), false, byte(radius.CodeAccountingResponse), errCode},
		{"short", good[:19], true, 0, errShort},
		{"length beyond datagram", good[:len(good)-1], true, 0, errShort},
		{"flipped reply bit", mutate(func(b []byte) []byte { b[len(b)-20] ^= 1; return b }), true, codeAccessAccept, errRespAuth},
		{"attribute overrunning", mutate(func(b []byte) []byte { b[21] = 200; return b }), true, codeAccessAccept, errAttributes},
		{"zero-length attribute", mutate(func(b []byte) []byte { b[21] = 0; return b }), true, codeAccessAccept, errAttributes},
	}

	// A bad M-A with a correct Response Authenticator: sign the response
	// over a tampered M-A.
	{
		resp := req.Response(radius.CodeAccessAccept)
		resp.Add(rfc2869.MessageAuthenticator_Type, bytes.Repeat([]byte{0xAA}, 16))
		b, err := resp.Encode()
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, verifyCase{"bad M-A, good Response Authenticator", b, true, codeAccessAccept, errBadMA})

		resp2 := req.Response(radius.CodeAccessAccept)
		resp2.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
		resp2.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
		b2, err := resp2.Encode()
		if err != nil {
			t.Fatal(err)
		}
		tests = append(tests, verifyCase{"two M-As", b2, true, codeAccessAccept, errDuplicateMA})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := s.verify(tt.resp, reqBytes, tt.requireMA)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if code != tt.wantCode {
				t.Errorf("got code %d, want %d", code, tt.wantCode)
			}
		})
	}
}

func TestResponderAccept(t *testing.T) {
	s := newSigner([]byte(testSecret))
	tpl, err := newTemplate(user{"alice", "secret"}, true)
	if err != nil {
		t.Fatal(err)
	}
	noMA, err := newTemplate(user{"alice", "secret"}, false)
	if err != nil {
		t.Fatal(err)
	}
	auth := [16]byte{5}
	signed := bytes.Clone(s.build(make([]byte, maxPacket), tpl, 3, &auth))
	unsigned := bytes.Clone(s.build(make([]byte, maxPacket), noMA, 3, &auth))
	tampered := bytes.Clone(signed)
	tampered[len(tampered)-1] ^= 1

	tests := []struct {
		name      string
		req       []byte
		requireMA bool
		wantReply bool
	}{
		{"signed", signed, true, true},
		{"unsigned, M-A required", unsigned, true, false},
		{"unsigned, M-A optional", unsigned, false, true},
		{"tampered", tampered, true, false},
		{"not an Access-Request", append([]byte{4}, signed[1:]...), true, false},
		{"short", signed[:10], true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.accept(make([]byte, headerLen+maLen), tt.req, tt.requireMA)
			if (resp != nil) != tt.wantReply {
				t.Fatalf("got reply %v, want %v", resp != nil, tt.wantReply)
			}
			if resp == nil {
				return
			}
			// Check with layeh and with verify.
			if !radius.IsAuthenticResponse(resp, tt.req, []byte(testSecret)) {
				t.Error("layeh: response is not authentic")
			}
			p, err := radius.Parse(resp, []byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			if p.Code != radius.CodeAccessAccept {
				t.Errorf("got code %v, want Access-Accept", p.Code)
			}
			if code, err := newSigner([]byte(testSecret)).verify(resp, tt.req, true); err != nil || code != codeAccessAccept {
				t.Errorf("verify got %d, %v; want Access-Accept, nil", code, err)
			}
		})
	}
}

func TestBuildPasscodeRequests(t *testing.T) {
	s := newSigner([]byte(testSecret))
	auth := [16]byte{3, 1, 4, 1, 5, 9, 2, 6}
	parse := func(t *testing.T, pkt []byte) *radius.Packet {
		t.Helper()
		p, err := radius.Parse(pkt, []byte(testSecret))
		if err != nil {
			t.Fatalf("radius.Parse: %v", err)
		}
		ma, err := rfc2869.MessageAuthenticator_Lookup(p)
		if err != nil || !bytes.Equal(ma, layehMA(t, p)) || p.Attributes[0].Type != rfc2869.MessageAuthenticator_Type {
			t.Errorf("Message-Authenticator %x (%v), want a valid one first", ma, err)
		}
		return p
	}

	t.Run("append", func(t *testing.T) {
		// 13 + 1 + 6 bytes: the code crosses into the second block.
		tpl, err := newCodeTemplate(user{"alice", "thirteen-char"}, ",", 6, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{"123456", "000042"} {
			p := parse(t, s.buildCode(make([]byte, maxPacket), tpl, code, 5, &auth))
			if got, want := rfc2865.UserPassword_GetString(p), "thirteen-char,"+code; got != want {
				t.Errorf("User-Password decodes to %q, want %q", got, want)
			}
		}
		if !bytes.Equal(tpl.plain[tpl.codeOff:tpl.codeOff+6], make([]byte, 6)) {
			t.Error("buildCode wrote the code into the shared template")
		}
		if _, err := newCodeTemplate(user{"bob", strings.Repeat("p", 122)}, ",", 6, true); err == nil {
			t.Error("a password with its code past 128 bytes was accepted")
		}
	})

	t.Run("answer to a challenge", func(t *testing.T) {
		state := []byte("opaque-state-of-the-server")
		p := parse(t, s.buildAnswer(make([]byte, maxPacket), "carol", "654321", state, true, 6, &auth))
		if got := rfc2865.UserName_GetString(p); got != "carol" {
			t.Errorf("User-Name %q, want carol", got)
		}
		if got := rfc2865.UserPassword_GetString(p); got != "654321" {
			t.Errorf("User-Password decodes to %q, want the code", got)
		}
		if got := rfc2865.State_Get(p); !bytes.Equal(got, state) {
			t.Errorf("State %q, want %q", got, state)
		}
	})
}

func TestAttribute(t *testing.T) {
	req := radius.New(radius.CodeAccessRequest, []byte(testSecret))
	resp := req.Response(radius.CodeAccessChallenge)
	rfc2865.ReplyMessage_SetString(resp, "Enter a passcode:")
	rfc2865.State_Set(resp, []byte{1, 2, 3})
	b, err := resp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if got := attribute(b, attrState); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("State got %v, want [1 2 3]", got)
	}
	if got := attribute(b, attrUserName); got != nil {
		t.Errorf("User-Name got %v, want none", got)
	}
	if got := attribute(b[:headerLen+3], attrState); got != nil {
		t.Errorf("truncated packet: got %v, want none", got)
	}
}
