package radiusd

import (
	"crypto/md5"
	"errors"
	"fmt"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"twostep/challenge"
)

// maxAttrValue is the longest value a RADIUS attribute can carry.
const maxAttrValue = 253

// responseCode maps an Outcome to the RADIUS answer. Anything unknown is a
// Reject, so a new Outcome can never open the door by accident.
func responseCode(o challenge.Outcome) radius.Code {
	switch o {
	case challenge.Accept:
		return radius.CodeAccessAccept
	case challenge.Ask:
		return radius.CodeAccessChallenge
	default:
		return radius.CodeAccessReject
	}
}

// codeLabel names a response code for logs and the code metric label.
func codeLabel(c radius.Code) string {
	switch c {
	case radius.CodeAccessAccept:
		return "accept"
	case radius.CodeAccessChallenge:
		return "challenge"
	default:
		return "reject"
	}
}

// replyMessages splits msg into Reply-Message values of at most 253 bytes.
// RFC 2869 §5.19 lets a NAS concatenate them; cutting on a rune boundary
// keeps each piece valid UTF-8 for the NAS that shows them line by line.
func replyMessages(msg string) []radius.Attribute {
	var out []radius.Attribute
	for len(msg) > 0 {
		n := min(len(msg), maxAttrValue)
		for n < len(msg) && n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		if n == 0 { // not UTF-8 at all: cut anywhere
			n = min(len(msg), maxAttrValue)
		}
		out = append(out, radius.Attribute(msg[:n]))
		msg = msg[n:]
	}
	return out
}

// proxyStates returns the Proxy-State values of req in order: RFC 2865
// §5.33 requires them back unmodified so that proxies can match answers.
func proxyStates(req *radius.Packet) []radius.Attribute {
	var out []radius.Attribute
	for _, avp := range req.Attributes {
		if avp.Type == rfc2865.ProxyState_Type {
			out = append(out, avp.Attribute)
		}
	}
	return out
}

// errStateTooLong reports a Decision whose State cannot fit an attribute.
var errStateTooLong = errors.New("radiusd: decision State longer than 253 bytes")

// responseAttrs builds the attributes of an answer to req (before the
// Message-Authenticator, which encodeResponse puts first).
func responseAttrs(req *radius.Packet, code radius.Code, d challenge.Decision) (radius.Attributes, error) {
	var attrs radius.Attributes
	for _, m := range replyMessages(d.Message) {
		attrs.Add(rfc2865.ReplyMessage_Type, m)
	}
	if code == radius.CodeAccessChallenge && len(d.State) > 0 {
		if len(d.State) > maxAttrValue {
			return nil, errStateTooLong
		}
		attrs.Add(rfc2865.State_Type, radius.Attribute(d.State))
	}
	for _, ps := range proxyStates(req) {
		attrs.Add(rfc2865.ProxyState_Type, ps)
	}
	return attrs, nil
}

// encodeResponse returns the wire form of an answer to req. The
// Message-Authenticator goes first (the BlastRADIUS mitigation: a forged
// prefix cannot reach it) and is computed over the answer with the request
// authenticator in its authenticator field; only then is the Response
// Authenticator computed over the whole, as RFC 3579 §3.2 orders.
func encodeResponse(req *radius.Packet, code radius.Code, attrs radius.Attributes, c *Client) ([]byte, error) {
	resp := &radius.Packet{
		Code:          code,
		Identifier:    req.Identifier,
		Authenticator: req.Authenticator,
	}
	resp.Attributes = make(radius.Attributes, 0, len(attrs)+1)
	resp.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	resp.Attributes = append(resp.Attributes, attrs...)
	b, err := resp.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("radiusd: encode %v: %w", code, err)
	}
	const maOff = headerLen + 2 // value of the first attribute
	m := c.mac()
	signMA(m, b, maOff, req.Authenticator[:])
	c.putMAC(m)
	h := md5.New()
	h.Write(b) // the request authenticator is still in b[4:20]
	h.Write(c.Secret)
	h.Sum(b[4:4])
	return b, nil
}
