package main

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// RADIUS codes and attribute types the generator writes or checks
// (RFC 2865, RFC 2869).
const (
	codeAccessRequest   = 1
	codeAccessAccept    = 2
	codeAccessReject    = 3
	codeAccessChallenge = 11

	attrUserName             = 1
	attrUserPassword         = 2
	attrState                = 24
	attrNASPortType          = 61
	attrNASIdentifier        = 32
	attrMessageAuthenticator = 80

	headerLen   = 20
	maLen       = 18 // Message-Authenticator: type, length, 16-byte HMAC-MD5
	maxPacket   = 4096
	maxPassword = 128 // RFC 2865 5.2
	maxUserName = 253
	nasPortType = 5 // Virtual: what a VPN concentrator sends
	nasIdent    = "twostep-bench"
)

// user is one login the generator rotates through.
type user struct {
	Name     string
	Password string
}

// template is an Access-Request for one user with everything that does not
// change between sends already in place, so that a send costs one MD5 per
// 16 bytes of password plus one HMAC-MD5: the generator must stay cheaper
// than the servers it measures.
type template struct {
	name    string
	pkt     []byte // header and attributes; authenticator, password and M-A are filled per send
	pwOff   int    // offset of the User-Password value
	plain   []byte // password padded with zeros to a multiple of 16
	maOff   int    // offset of the Message-Authenticator value, -1 when not sent
	codeOff int    // offset in plain of the appended passcode, -1 when none
	codeLen int
}

// newTemplate lays out an Access-Request carrying u's password alone.
func newTemplate(u user, withMA bool) (*template, error) {
	return newCodeTemplate(u, "", 0, withMA)
}

// newCodeTemplate lays out an Access-Request whose User-Password is u's
// password, then sep, then room for a passcode of codeLen digits filled
// in at each send (append mode: "password,123456"). With codeLen 0 it
// carries the password alone.
func newCodeTemplate(u user, sep string, codeLen int, withMA bool) (*template, error) {
	if u.Name == "" || len(u.Name) > maxUserName {
		return nil, fmt.Errorf("user name must be 1 to %d bytes, got %d", maxUserName, len(u.Name))
	}
	box := len(u.Password)
	if codeLen > 0 {
		box += len(sep) + codeLen
	}
	if box > maxPassword {
		return nil, fmt.Errorf("user %q: password (with separator and passcode) longer than %d bytes", u.Name, maxPassword)
	}
	plain := make([]byte, padded(box))
	copy(plain, u.Password)
	t := &template{name: u.Name, plain: plain, codeOff: -1}
	if codeLen > 0 {
		copy(plain[len(u.Password):], sep)
		t.codeOff, t.codeLen = len(u.Password)+len(sep), codeLen
	}
	t.pkt, t.pwOff, t.maOff = layoutRequest(make([]byte, headerLen, 128), u.Name, len(plain), nil, withMA)
	return t, nil
}

// padded is the length of a User-Password value holding n bytes: a
// multiple of 16, at least 16 (RFC 2865 5.2).
func padded(n int) int {
	if n == 0 {
		return 16
	}
	return (n + 15) / 16 * 16
}

// layoutRequest appends to b, which holds a header, the attributes of an
// Access-Request: Message-Authenticator first (as RFC 3579 and the
// BlastRADIUS guidance recommend) when withMA, then User-Name,
// User-Password with room for plainLen bytes, State when state is not nil,
// NAS-Identifier and NAS-Port-Type. It sets code and length and returns
// the packet with the offsets of the password and of the
// Message-Authenticator value (-1 when not sent), both zeroed. b must have
// room for the attributes, or they are appended to a new array.
func layoutRequest(b []byte, name string, plainLen int, state []byte, withMA bool) (pkt []byte, pwOff, maOff int) {
	b = b[:headerLen]
	clear(b)
	b[0] = codeAccessRequest
	maOff = -1
	if withMA {
		b = append(b, attrMessageAuthenticator, maLen)
		maOff = len(b)
		b = append(b, make([]byte, 16)...)
	}
	b = append(b, attrUserName, byte(2+len(name)))
	b = append(b, name...)
	b = append(b, attrUserPassword, byte(2+plainLen))
	pwOff = len(b)
	b = append(b, make([]byte, plainLen)...)
	if state != nil {
		b = append(b, attrState, byte(2+len(state)))
		b = append(b, state...)
	}
	b = append(b, attrNASIdentifier, byte(2+len(nasIdent)))
	b = append(b, nasIdent...)
	b = append(b, attrNASPortType, 6, 0, 0, 0, nasPortType)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b, pwOff, maOff
}

// signer fills templates into wire packets and checks the answers. Each
// worker owns one: the HMAC state and the scratch buffers are not shared.
type signer struct {
	secret  []byte
	mac     hash.Hash // HMAC-MD5 keyed with the secret; Reset keeps the key schedule
	md5     hash.Hash
	scratch []byte // secret || 16 bytes, input of the password MD5 chain
	sum     []byte
	check   []byte // copy of a response for the Message-Authenticator check
	plain   []byte // a template's password with the passcode written in
}

func newSigner(secret []byte) *signer {
	s := &signer{
		secret:  secret,
		mac:     hmac.New(md5.New, secret),
		md5:     md5.New(),
		scratch: make([]byte, len(secret)+16),
		sum:     make([]byte, 0, md5.Size),
		check:   make([]byte, maxPacket),
		plain:   make([]byte, maxPassword),
	}
	copy(s.scratch, secret)
	return s
}

// build writes the request for t into dst with the given identifier and
// request authenticator, and returns the packet (a prefix of dst).
func (s *signer) build(dst []byte, t *template, id byte, auth *[16]byte) []byte {
	return s.buildCode(dst, t, "", id, auth)
}

// buildCode is build with code written into t's passcode slot; code must
// have t's code length, and is ignored for a template without a slot.
func (s *signer) buildCode(dst []byte, t *template, code string, id byte, auth *[16]byte) []byte {
	p := dst[:len(t.pkt)]
	copy(p, t.pkt)
	plain := t.plain
	if t.codeOff >= 0 && len(code) == t.codeLen {
		plain = s.plain[:len(t.plain)]
		copy(plain, t.plain)
		copy(plain[t.codeOff:], code)
	}
	s.seal(p, id, auth, t.pwOff, plain, t.maOff)
	return p
}

// buildAnswer writes into dst the Access-Request that answers an
// Access-Challenge: name, the passcode as User-Password, and the
// challenge's State.
func (s *signer) buildAnswer(dst []byte, name, code string, state []byte, withMA bool, id byte, auth *[16]byte) []byte {
	plain := s.plain[:padded(len(code))]
	clear(plain)
	copy(plain, code)
	p, pwOff, maOff := layoutRequest(dst, name, len(plain), state, withMA)
	s.seal(p, id, auth, pwOff, plain, maOff)
	return p
}

// seal completes a laid-out request p: identifier, request authenticator,
// the User-Password at pwOff hidden with plain, and the
// Message-Authenticator at maOff (when not -1) over the whole packet.
func (s *signer) seal(p []byte, id byte, auth *[16]byte, pwOff int, plain []byte, maOff int) {
	p[1] = id
	copy(p[4:20], auth[:])

	// User-Password, RFC 2865 5.2: c(1) = p(1) xor MD5(S + RA),
	// c(i) = p(i) xor MD5(S + c(i-1)).
	prev := auth[:]
	for i := 0; i < len(plain); i += 16 {
		copy(s.scratch[len(s.secret):], prev)
		h := md5.Sum(s.scratch)
		c := p[pwOff+i : pwOff+i+16]
		for j := range 16 {
			c[j] = plain[i+j] ^ h[j]
		}
		prev = c
	}

	// Message-Authenticator, RFC 3579 3.2: HMAC-MD5 keyed with the secret
	// over the whole packet with the attribute's value zeroed (it already
	// is: the layout holds zeros there).
	if maOff >= 0 {
		s.mac.Reset()
		s.mac.Write(p)
		s.sum = s.mac.Sum(s.sum[:0])
		copy(p[maOff:maOff+16], s.sum)
	}
}

// attribute returns the value of the first attribute typ of a packet
// whose attributes verify has checked, or nil.
func attribute(pkt []byte, typ byte) []byte {
	n := min(int(binary.BigEndian.Uint16(pkt[2:4])), len(pkt))
	for i := headerLen; i+2 <= n; {
		l := int(pkt[i+1])
		if l < 2 || i+l > n {
			return nil
		}
		if pkt[i] == typ {
			return pkt[i+2 : i+l]
		}
		i += l
	}
	return nil
}

// Reasons a response fails verification. errStray is not a bad response:
// it is the late answer to an earlier request of the same socket.
var (
	errStray       = errors.New("identifier does not match the outstanding request")
	errShort       = errors.New("shorter than a RADIUS header or than its length field")
	errCode        = errors.New("unexpected code")
	errAttributes  = errors.New("malformed attributes")
	errRespAuth    = errors.New("bad Response Authenticator")
	errMissingMA   = errors.New("no Message-Authenticator")
	errBadMA       = errors.New("bad Message-Authenticator")
	errDuplicateMA = errors.New("more than one Message-Authenticator")
)

// verify checks that resp answers req: identifier, code, Response
// Authenticator (RFC 2865 3) and, when present or required,
// Message-Authenticator (RFC 3579 3.2, computed with the request's
// authenticator in place of the response's). It returns the code.
func (s *signer) verify(resp, req []byte, requireMA bool) (byte, error) {
	if len(resp) < headerLen {
		return 0, errShort
	}
	n := int(binary.BigEndian.Uint16(resp[2:4]))
	if n < headerLen || n > len(resp) {
		return 0, errShort
	}
	resp = resp[:n] // octets past the length field are padding (RFC 2865 3)
	if resp[1] != req[1] {
		return 0, errStray
	}
	code := resp[0]
	switch code {
	case codeAccessAccept, codeAccessReject, codeAccessChallenge:
	default:
		return code, errCode
	}

	maOff := -1
	for i := headerLen; i < n; {
		if n-i < 2 {
			return code, errAttributes
		}
		l := int(resp[i+1])
		if l < 2 || i+l > n {
			return code, errAttributes
		}
		if resp[i] == attrMessageAuthenticator {
			if maOff >= 0 {
				return code, errDuplicateMA
			}
			if l != maLen {
				return code, errBadMA
			}
			maOff = i + 2
		}
		i += l
	}

	h := s.md5
	h.Reset()
	h.Write(resp[:4])
	h.Write(req[4:20])
	h.Write(resp[20:])
	h.Write(s.secret)
	s.sum = h.Sum(s.sum[:0])
	if subtle.ConstantTimeCompare(s.sum, resp[4:20]) != 1 {
		return code, errRespAuth
	}

	if maOff < 0 {
		if requireMA {
			return code, errMissingMA
		}
		return code, nil
	}
	c := s.check[:n]
	copy(c, resp)
	copy(c[4:20], req[4:20])
	clear(c[maOff : maOff+16])
	s.mac.Reset()
	s.mac.Write(c)
	s.sum = s.mac.Sum(s.sum[:0])
	if subtle.ConstantTimeCompare(s.sum, resp[maOff:maOff+16]) != 1 {
		return code, errBadMA
	}
	return code, nil
}
