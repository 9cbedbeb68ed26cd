package notify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"twostep/notify"
)

// TestVAPIDKeyEncoding uses the RFC 8291 example's sender key pair as a
// known P-256 pair: the private scalar decodes, and its public half encodes
// as the RFC's point.
func TestVAPIDKeyEncoding(t *testing.T) {
	k, err := notify.DecodeVAPIDPrivateKey(rfc8291.asPrivate)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := notify.EncodeVAPIDPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if pub != rfc8291.asPublic {
		t.Errorf("public key: got %s, want %s", pub, rfc8291.asPublic)
	}
	priv, err := notify.EncodeVAPIDPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if priv != rfc8291.asPrivate {
		t.Errorf("private key: got %s, want %s", priv, rfc8291.asPrivate)
	}
	if _, err := notify.DecodeVAPIDPrivateKey(rfc8291.asPrivate + "="); err != nil {
		t.Errorf("padded key: %v", err)
	}
}

func TestVAPIDGenerateRoundTrip(t *testing.T) {
	k, err := notify.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	s, err := notify.EncodeVAPIDPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b64(t, s)); n != 32 {
		t.Errorf("private key is %d bytes, want 32", n)
	}
	back, err := notify.DecodeVAPIDPrivateKey(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) {
		t.Error("decoded key differs from the generated one")
	}
	pub, err := notify.EncodeVAPIDPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if b := b64(t, pub); len(b) != 65 || b[0] != 4 {
		t.Errorf("public key is %d bytes starting %x, want 65 starting 04", len(b), b[:1])
	}
}

func TestVAPIDDecodeRefuses(t *testing.T) {
	for _, s := range []string{
		"",
		"not base64!",
		base64.RawURLEncoding.EncodeToString(make([]byte, 31)),
		base64.RawURLEncoding.EncodeToString(make([]byte, 32)),  // zero scalar
		base64.RawURLEncoding.EncodeToString(bytesOf(0xff, 32)), // above the order
	} {
		t.Run(s, func(t *testing.T) {
			_, err := notify.DecodeVAPIDPrivateKey(s)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("error %q quotes the key", err)
			}
		})
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.EncodeVAPIDPrivateKey(p384); err == nil {
		t.Error("P-384 key encoded, want an error")
	}
}

func bytesOf(b byte, n int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = b
	}
	return s
}

// TestVAPIDAuthorization checks the token against RFC 8292 and RFC 7515
// by hand: header, claims, and an R||S signature by the key in k=.
func TestVAPIDAuthorization(t *testing.T) {
	k, err := notify.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := notify.VAPID{Private: k, Subject: "mailto:ops@example.org"}
	h, err := notify.Authorization(v, "https://push.example.net", now)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := strings.CutPrefix(h, "vapid t=")
	if !ok {
		t.Fatalf("header %q does not start with vapid t=", h)
	}
	token, key, ok := strings.Cut(rest, ", k=")
	if !ok {
		t.Fatalf("header %q has no k=", h)
	}
	if want, _ := notify.EncodeVAPIDPublicKey(&k.PublicKey); key != want {
		t.Errorf("k: got %s, want %s", key, want)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	var hdr map[string]any
	if err := json.Unmarshal(b64(t, parts[0]), &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["alg"] != "ES256" || hdr["typ"] != "JWT" {
		t.Errorf("header %v, want alg ES256 and typ JWT", hdr)
	}
	var claims struct {
		Aud string
		Exp int64
		Sub string
	}
	if err := json.Unmarshal(b64(t, parts[1]), &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Aud != "https://push.example.net" {
		t.Errorf("aud: got %q, want https://push.example.net", claims.Aud)
	}
	if got, want := time.Unix(claims.Exp, 0), now.Add(12*time.Hour); !got.Equal(want) {
		t.Errorf("exp: got %v, want %v", got, want)
	}
	if claims.Sub != v.Subject {
		t.Errorf("sub: got %q, want %q", claims.Sub, v.Subject)
	}
	sig := b64(t, parts[2])
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64", len(sig))
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&k.PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Error("signature does not verify")
	}
}

func TestVAPIDAuthorizationRefuses(t *testing.T) {
	k, err := notify.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []notify.VAPID{
		{Subject: "mailto:ops@example.org"},
		{Private: k},
		{Private: k, Subject: "ops@example.org"},
	} {
		if _, err := notify.Authorization(v, "https://push.example.net", time.Now()); err == nil {
			t.Errorf("VAPID{key: %t, subject: %q}: got nil error, want one", v.Private != nil, v.Subject)
		}
	}
}

// TestCheckVAPIDKey: a key read from its file signs what its public key
// verifies; a private scalar put beside another key's public point does
// not.
func TestCheckVAPIDKey(t *testing.T) {
	k, err := notify.DecodeVAPIDPrivateKey(rfc8291.asPrivate)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := notify.CheckVAPIDKey(k)
	if err != nil || pub != rfc8291.asPublic {
		t.Fatalf("got %q, %v, want %s", pub, err, rfc8291.asPublic)
	}
	other, err := notify.GenerateVAPID()
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 a key whose halves do not match, on purpose
	mixed := &ecdsa.PrivateKey{PublicKey: other.PublicKey, D: k.D}
	if _, err := notify.CheckVAPIDKey(mixed); err == nil {
		t.Error("a private key beside another key's public point passed")
	}
}
