package radiusd

import (
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"hash"
	"sync"

	"layeh.com/radius/rfc2869"
)

// maType and maLen describe the Message-Authenticator attribute (RFC 3579
// §3.2): type 80, always 18 octets, an HMAC-MD5 keyed with the secret.
const (
	maType = byte(rfc2869.MessageAuthenticator_Type)
	maLen  = 18
)

// Errors of findMA; the server drops such a packet as a bad
// Message-Authenticator.
var (
	errMALength   = errors.New("radiusd: Message-Authenticator is not 18 bytes long")
	errMARepeated = errors.New("radiusd: Message-Authenticator appears more than once")
)

// findMA returns the offset of the 16-byte value of the Message-Authenticator
// in a framed packet (see frame), or -1 if there is none. More than one, or
// one of the wrong length, is an error: RFC 3579 allows at most one, and a
// short one could never be compared in constant time against a full HMAC.
func findMA(pkt []byte) (int, error) {
	at := -1
	for off := headerLen; off+1 < len(pkt); off += int(pkt[off+1]) {
		if pkt[off] != maType {
			continue
		}
		if int(pkt[off+1]) != maLen {
			return -1, errMALength
		}
		if at >= 0 {
			return -1, errMARepeated
		}
		at = off + 2
	}
	return at, nil
}

// computeMA returns HMAC-MD5(secret) over pkt with auth in the
// authenticator field and the Message-Authenticator value at off taken as
// zeros, as RFC 3579 §3.2 defines. For a request auth is its own
// authenticator; for a response it is the request's. pkt is not modified.
// m is an HMAC-MD5 keyed with the secret (newMAC or a Client's), which
// computeMA resets first.
func computeMA(m hash.Hash, pkt []byte, off int, auth []byte) [16]byte {
	var zero, sum [16]byte
	m.Reset()
	m.Write(pkt[:4])
	m.Write(auth)
	m.Write(pkt[headerLen:off])
	m.Write(zero[:])
	m.Write(pkt[off+16:])
	m.Sum(sum[:0])
	return sum
}

// verifyMA checks the Message-Authenticator value at off in constant time.
func verifyMA(m hash.Hash, pkt []byte, off int, auth []byte) bool {
	want := computeMA(m, pkt, off, auth)
	return hmac.Equal(want[:], pkt[off:off+16])
}

// signMA writes the Message-Authenticator value at off.
func signMA(m hash.Hash, pkt []byte, off int, auth []byte) {
	sum := computeMA(m, pkt, off, auth)
	copy(pkt[off:off+16], sum[:])
}

// newMAC returns an HMAC-MD5 keyed with secret.
func newMAC(secret []byte) hash.Hash { return hmac.New(md5.New, secret) }

// macPool lends HMAC-MD5 states keyed with one client's secret: keying
// costs two MD5 blocks and a few allocations, which a Message-Authenticator
// checked and one signed per request would otherwise pay each time.
type macPool struct {
	secret []byte
	pool   sync.Pool
}

func newMACPool(secret []byte) *macPool {
	mp := &macPool{secret: secret}
	mp.pool.New = func() any { return newMAC(secret) }
	return mp
}

// mac lends an HMAC keyed with c's secret; give it back with putMAC.
func (c *Client) mac() hash.Hash {
	if c.macs == nil { // a Client not built by NewClientTable
		return newMAC(c.Secret)
	}
	return c.macs.pool.Get().(hash.Hash)
}

// putMAC gives back an HMAC lent by mac.
func (c *Client) putMAC(m hash.Hash) {
	if c.macs != nil {
		c.macs.pool.Put(m)
	}
}
