package radiusd

import (
	"crypto/md5"
	"crypto/subtle"
	"errors"
	"fmt"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// This file is the client side of the protocol as this server expects it:
// tests, cmd/twostep-bench and the integration tests build requests and
// check answers with it.

// NewAccessRequest returns a PAP Access-Request for user with a random
// Identifier and Request Authenticator and the password hidden with secret
// (RFC 2865 §5.2). Add attributes as needed, then encode it with
// SignRequest.
func NewAccessRequest(secret []byte, user, password string) (*radius.Packet, error) {
	p := radius.New(radius.CodeAccessRequest, secret)
	if err := rfc2865.UserName_SetString(p, user); err != nil {
		return nil, fmt.Errorf("radiusd: User-Name: %w", err)
	}
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		return nil, fmt.Errorf("radiusd: User-Password: %w", err)
	}
	return p, nil
}

// SignRequest encodes p, an Access-Request or Status-Server, with a
// Message-Authenticator as its first attribute, computed with p.Secret over
// the packet as sent (RFC 3579 §3.2, RFC 5997 §3). Any Message-Authenticator
// already in p is replaced; p itself is not modified. A User-Password in p
// must already be hidden with p.Secret and p.Authenticator, as
// NewAccessRequest and rfc2865.UserPassword_SetString do.
func SignRequest(p *radius.Packet) ([]byte, error) {
	if p.Code != radius.CodeAccessRequest && p.Code != radius.CodeStatusServer {
		return nil, fmt.Errorf("radiusd: sign %v: only Access-Request and Status-Server", p.Code)
	}
	if len(p.Secret) == 0 {
		return nil, errors.New("radiusd: sign request: empty secret")
	}
	q := *p
	q.Attributes = make(radius.Attributes, 0, len(p.Attributes)+1)
	q.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	for _, avp := range p.Attributes {
		if avp.Type != rfc2869.MessageAuthenticator_Type {
			q.Attributes = append(q.Attributes, avp)
		}
	}
	b, err := q.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("radiusd: sign %v: %w", p.Code, err)
	}
	signMA(newMAC(p.Secret), b, headerLen+2, b[4:20])
	return b, nil
}

// Errors of VerifyResponse, for callers that tell a wrong secret from a
// stray packet.
var (
	// ErrResponseMismatch: the answer does not belong to the request.
	ErrResponseMismatch = errors.New("radiusd: response does not match the request")
	// ErrResponseNotAuthentic: the Response Authenticator or the
	// Message-Authenticator does not verify (wrong secret or forgery), or
	// the Message-Authenticator is missing or malformed.
	ErrResponseNotAuthentic = errors.New("radiusd: response is not authentic")
)

// VerifyResponse checks that resp is a well-formed Access-Accept,
// Access-Reject or Access-Challenge answering req (the request as sent),
// that its Response Authenticator verifies with secret (RFC 2865 §3), and
// that it carries exactly one Message-Authenticator, which verifies too
// (RFC 3579 §3.2). Comparisons are constant-time.
func VerifyResponse(resp, req, secret []byte) error {
	if len(req) < headerLen {
		return fmt.Errorf("%w: request shorter than %d bytes", ErrResponseMismatch, headerLen)
	}
	pkt, cause := frame(resp)
	if cause != "" {
		return fmt.Errorf("%w: malformed response (%s)", ErrResponseMismatch, cause)
	}
	switch radius.Code(pkt[0]) {
	case radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge:
	default:
		return fmt.Errorf("%w: code %v", ErrResponseMismatch, radius.Code(pkt[0]))
	}
	if pkt[1] != req[1] {
		return fmt.Errorf("%w: identifier %d, want %d", ErrResponseMismatch, pkt[1], req[1])
	}
	var sum [md5.Size]byte
	h := md5.New()
	h.Write(pkt[:4])
	h.Write(req[4:20])
	h.Write(pkt[headerLen:])
	h.Write(secret)
	h.Sum(sum[:0])
	if subtle.ConstantTimeCompare(sum[:], pkt[4:20]) != 1 {
		return fmt.Errorf("%w: Response Authenticator", ErrResponseNotAuthentic)
	}
	off, err := findMA(pkt)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrResponseNotAuthentic, err)
	case off < 0:
		return fmt.Errorf("%w: no Message-Authenticator", ErrResponseNotAuthentic)
	case !verifyMA(newMAC(secret), pkt, off, req[4:20]):
		return fmt.Errorf("%w: Message-Authenticator", ErrResponseNotAuthentic)
	}
	return nil
}
