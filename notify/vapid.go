package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"time"
)

// vapidLifetime is how long a VAPID token is valid; RFC 8292 allows up to
// 24 hours, and less leaves room for the push service's clock.
const vapidLifetime = 12 * time.Hour

// VAPID identifies this server to push services (RFC 8292). Subscriptions are
// made with its public key as the applicationServerKey, and a push service
// refuses messages to them that another key signed.
type VAPID struct {
	Private *ecdsa.PrivateKey // P-256 key; see GenerateVAPID and DecodeVAPIDPrivateKey
	Subject string            // "mailto:" address or "https:" URL where the push service's operator can reach ours
}

// GenerateVAPID returns a new P-256 key for VAPID.
func GenerateVAPID() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// EncodeVAPIDPrivateKey returns k as base64url (no padding) of its 32-byte
// scalar, the form that web-push libraries exchange.
func EncodeVAPIDPrivateKey(k *ecdsa.PrivateKey) (string, error) {
	if k == nil || k.Curve != elliptic.P256() {
		return "", errors.New("notify: VAPID key is not a P-256 key")
	}
	b, err := k.Bytes()
	if err != nil {
		return "", errors.New("notify: VAPID key is not a valid P-256 key")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeVAPIDPrivateKey parses the form EncodeVAPIDPrivateKey returns; it
// accepts padding too.
func DecodeVAPIDPrivateKey(s string) (*ecdsa.PrivateKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(s), "="))
	if err != nil || len(b) != 32 {
		return nil, errors.New("notify: VAPID private key is not base64url of 32 bytes")
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return nil, errors.New("notify: VAPID private key is not a valid P-256 scalar")
	}
	return k, nil
}

// EncodeVAPIDPublicKey returns k as base64url (no padding) of its 65-byte
// uncompressed point: the applicationServerKey that a browser's
// pushManager.subscribe takes.
func EncodeVAPIDPublicKey(k *ecdsa.PublicKey) (string, error) {
	if k == nil || k.Curve != elliptic.P256() {
		return "", errors.New("notify: VAPID key is not a P-256 key")
	}
	b, err := k.Bytes()
	if err != nil {
		return "", errors.New("notify: VAPID key is not a valid P-256 key")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authorization returns the Authorization header of a push to a push service
// at origin: "vapid t=<ES256 JWT>, k=<public key>" (RFC 8292 Section 3).
func (v VAPID) authorization(origin string, now time.Time) (string, error) {
	if v.Private == nil {
		return "", errors.New("no VAPID key")
	}
	if !strings.HasPrefix(v.Subject, "mailto:") && !strings.HasPrefix(v.Subject, "https:") {
		return "", errors.New(`VAPID subject is neither a "mailto:" nor an "https:" URI`)
	}
	k, err := EncodeVAPIDPublicKey(&v.Private.PublicKey)
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{origin, now.Add(vapidLifetime).Unix(), v.Subject})
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding
	signed := b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`)) + "." + b64.EncodeToString(claims)
	sig, err := signES256(v.Private, signed)
	if err != nil {
		return "", err
	}
	return "vapid t=" + signed + "." + b64.EncodeToString(sig) + ", k=" + k, nil
}

// signES256 signs a JWS signing input with ES256 (RFC 7518 Section 3.4):
// the signature is R and S, 32 bytes each, not ASN.1.
func signES256(k *ecdsa.PrivateKey, input string) ([]byte, error) {
	h := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		return nil, errors.New("VAPID signature failed")
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("VAPID signature is malformed")
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}

// CheckVAPIDKey checks that k and its public key belong together, as a
// push service will: a VAPID token is signed with k, as every push is,
// and verified with the public key decoded from its base64url form, the
// applicationServerKey browsers subscribe with, which it returns.
func CheckVAPIDKey(k *ecdsa.PrivateKey) (string, error) {
	pub, err := EncodeVAPIDPublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(pub)
	if err != nil {
		return "", errors.New("notify: VAPID public key does not decode")
	}
	pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return "", errors.New("notify: VAPID public key is not a P-256 point")
	}
	const input = "twostep VAPID key check"
	sig, err := signES256(k, input)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(input))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pk, h[:], r, s) {
		return "", errors.New("notify: VAPID private key does not match its public key")
	}
	return pub, nil
}
