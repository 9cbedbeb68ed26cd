package directory

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
)

// The {SSHA256} and {SSHA512} schemes are base64(SHA-2(password || salt) ||
// salt), the form OpenLDAP writes and FreeRADIUS's pap module reads as
// Password-With-Header. They are fast hashes, supported so that users can be
// migrated from LDAP and so that benchmarks compare twostep and FreeRADIUS
// on the very same hashes; new passwords should use argon2id.
const (
	ssha256Prefix = "{SSHA256}"
	ssha512Prefix = "{SSHA512}"
	sshaSaltLen   = 16
	sshaMaxSalt   = 64
)

type sshaHash struct {
	sch    Scheme
	digest []byte
	salt   []byte
}

func sshaNew(s Scheme) hash.Hash {
	if s == SSHA256 {
		return sha256.New()
	}
	return sha512.New()
}

func sshaPrefix(s Scheme) string {
	if s == SSHA256 {
		return ssha256Prefix
	}
	return ssha512Prefix
}

func sshaDigest(s Scheme, password string, salt []byte) []byte {
	h := sshaNew(s)
	h.Write([]byte(password))
	h.Write(salt)
	return h.Sum(nil)
}

func newSSHA(s Scheme, password string, salt []byte) *sshaHash {
	return &sshaHash{sch: s, digest: sshaDigest(s, password, salt), salt: salt}
}

// String is the {SSHA…} form with padded standard base64.
func (h *sshaHash) String() string {
	return sshaPrefix(h.sch) + base64.StdEncoding.EncodeToString(append(append([]byte(nil), h.digest...), h.salt...))
}

func (h *sshaHash) scheme() Scheme  { return h.sch }
func (h *sshaHash) expensive() bool { return false }
func (h *sshaHash) cost() string    { return string(h.sch) }

func (h *sshaHash) verify(password string) bool {
	return subtle.ConstantTimeCompare(sshaDigest(h.sch, password, h.salt), h.digest) == 1
}

func (h *sshaHash) decoy() passwordHash {
	return &sshaHash{sch: h.sch, digest: randomBytes(len(h.digest)), salt: randomBytes(len(h.salt))}
}

// parseSSHA reads {SSHA256} or {SSHA512} (any letter case, as OpenLDAP and
// FreeRADIUS accept) followed by padded base64 of the digest and the salt.
func parseSSHA(s Scheme, str string) (*sshaHash, error) {
	raw, err := base64.StdEncoding.DecodeString(str[len(sshaPrefix(s)):])
	if err != nil {
		return nil, &HashError{Scheme: s, Reason: "not padded standard base64 after the prefix"}
	}
	size := sshaNew(s).Size()
	if len(raw) <= size || len(raw) > size+sshaMaxSalt {
		return nil, &HashError{Scheme: s, Reason: fmt.Sprintf("%d bytes after decoding, want the %d-byte digest and a salt of 1 to %d bytes", len(raw), size, sshaMaxSalt)}
	}
	return &sshaHash{sch: s, digest: raw[:size:size], salt: raw[size:]}, nil
}
