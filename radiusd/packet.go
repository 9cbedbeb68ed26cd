package radiusd

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// Causes of a dropped packet: the cause label of
// twostep_radius_packets_dropped_total. A fixed set, so the label stays
// bounded whatever arrives on the wire.
const (
	causeUnknownClient   = "unknown_client"
	causeShort           = "short_packet"     // datagram under 20 bytes
	causeOversized       = "oversized_packet" // datagram over 4096 bytes
	causeBadLength       = "bad_length"       // Length field under 20, over 4096, or past the datagram
	causeBadAttribute    = "bad_attribute"    // attribute length under 2 or past the packet
	causeUnsupportedCode = "unsupported_code" // not Access-Request or Status-Server
	causeMissingMA       = "missing_message_authenticator"
	causeBadMA           = "bad_message_authenticator"
	causeBadPassword     = "bad_user_password" // User-Password of an impossible length, or twice
	causeNotReady        = "not_ready"         // Status-Server while Ready() is false
	causeOverload        = "overload"
	causeWriteError      = "write_error"
	causeEncode          = "encode_error" // the answer would pass 4096 bytes
	causeUnavailable     = "unavailable"  // the decision failed and the client wants silence
	causeReadError       = "read_error"   // the socket reported an error; reading goes on
	causeProxyStateNoMA  = "proxy_state_without_message_authenticator"
	// causeMAUnknown: an auto client's request without Message-Authenticator
	// while the cluster cannot say whether the client is held to it.
	causeMAUnknown = "message_authenticator_unknown"
)

const (
	headerLen = 20
	maxPacket = radius.MaxPacketLength // 4096, RFC 2865 §3
)

// frame checks the framing of a datagram (RFC 2865 §3 and the malformed-packet list of RFC 6613 §2)
// and returns the packet it holds, trimmed to its Length field: octets past
// Length are padding and ignored. On failure it returns the drop cause.
func frame(b []byte) ([]byte, string) {
	switch {
	case len(b) < headerLen:
		return nil, causeShort
	case len(b) > maxPacket:
		return nil, causeOversized
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > maxPacket || n > len(b) {
		return nil, causeBadLength
	}
	b = b[:n]
	for off := headerLen; off < n; {
		if n-off < 2 {
			return nil, causeBadAttribute
		}
		l := int(b[off+1])
		if l < 2 || off+l > n {
			return nil, causeBadAttribute
		}
		off += l
	}
	return b, ""
}

// Limits of the User-Password attribute (RFC 2865 §5.2): the hidden
// password is padded to a multiple of 16 and at most 128 octets long.
const (
	minPasswordLen = 16
	maxPasswordLen = 128
)

// errPasswordLength is returned for a User-Password of an impossible
// length. It never quotes the attribute.
var errPasswordLength = errors.New("radiusd: User-Password length is not a multiple of 16 between 16 and 128")

// userPassword returns the single hidden User-Password of p, nil if there
// is none, or an error if it appears twice or has an impossible length.
//
// A User-Password of length 0 is the one exception to RFC 2865's 16
// octets: radcli before 1.5 (ocserv, and what links it) sends the empty
// answer to an Access-Challenge ("approve on your phone, then press
// Enter") so. With State it means "no input" and is returned as an empty,
// non-nil value; without State there is no challenge it could answer,
// and it stays malformed.
func userPassword(p *radius.Packet) ([]byte, error) {
	var found []byte
	n := 0
	for _, avp := range p.Attributes {
		if avp.Type == rfc2865.UserPassword_Type {
			found = avp.Attribute
			n++
		}
	}
	switch {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, errors.New("radiusd: User-Password appears more than once")
	case len(found) == 0 && hasAttr(p, rfc2865.State_Type):
		return []byte{}, nil
	case len(found) < minPasswordLen || len(found) > maxPasswordLen || len(found)%16 != 0:
		return nil, errPasswordLength
	}
	return found, nil
}

// decodePassword reverses the User-Password hiding of RFC 2865 §5.2 and
// strips the trailing NUL padding. Unlike radius.UserPassword it keeps
// everything before the padding, so a password is never silently cut at
// an inner NUL. The result must never be logged.
func decodePassword(hidden, secret []byte, authenticator [16]byte) ([]byte, error) {
	if len(hidden) < minPasswordLen || len(hidden) > maxPasswordLen || len(hidden)%16 != 0 {
		return nil, errPasswordLength
	}
	if len(secret) == 0 {
		return nil, errors.New("radiusd: decode User-Password: empty secret")
	}
	out := make([]byte, len(hidden))
	prev := authenticator[:]
	var sum [md5.Size]byte
	h := md5.New()
	for i := 0; i < len(hidden); i += 16 {
		h.Reset()
		h.Write(secret)
		h.Write(prev)
		h.Sum(sum[:0])
		for j := range 16 {
			out[i+j] = hidden[i+j] ^ sum[j]
		}
		prev = hidden[i : i+16]
	}
	return bytes.TrimRight(out, "\x00"), nil
}
