package notify_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"

	"twostep/notify"
	"twostep/notify/pushtest"
)

// rfc8291 is the example of RFC 8291 Section 5 (intermediate values in its
// Appendix A), in base64url as the RFC prints it.
var rfc8291 = struct {
	plaintext, asPrivate, asPublic, uaPrivate, uaPublic, salt, auth, body string
}{
	plaintext: "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24",
	asPrivate: "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
	asPublic:  "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
	uaPrivate: "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94",
	uaPublic:  "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
	salt:      "DGv6ra1nlYgDCS1FRnbzlw",
	auth:      "BTBZMqHH6r4Tts7J_aSIgg",
	body:      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func TestEncryptRFC8291(t *testing.T) {
	if got := string(b64(t, rfc8291.plaintext)); got != "When I grow up, I want to be a watermelon" {
		t.Fatalf("plaintext %q", got)
	}
	as, err := ecdh.P256().NewPrivateKey(b64(t, rfc8291.asPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := as.PublicKey().Bytes(), b64(t, rfc8291.asPublic); !bytes.Equal(got, want) {
		t.Fatalf("as_public: got %x, want %x", got, want)
	}
	got, err := notify.Encrypt(b64(t, rfc8291.plaintext), b64(t, rfc8291.uaPublic), b64(t, rfc8291.auth), as, b64(t, rfc8291.salt))
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, rfc8291.body); !bytes.Equal(got, want) {
		t.Errorf("body:\n got %s\nwant %s", base64.RawURLEncoding.EncodeToString(got), rfc8291.body)
	}
}

// TestEncryptRoundTrip decrypts what Encrypt makes with pushtest.Decrypt,
// written from the RFC separately, for payloads up to the largest.
func TestEncryptRoundTrip(t *testing.T) {
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	for _, n := range []int{0, 1, 15, 16, 17, 1000, notify.MaxPayload} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			plain := make([]byte, n)
			rand.Read(plain)
			as, err := ecdh.P256().GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			salt := make([]byte, 16)
			rand.Read(salt)
			body, err := notify.Encrypt(plain, ua.PublicKey().Bytes(), auth, as, salt)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > 4096 {
				t.Errorf("body is %d bytes, more than 4096", len(body))
			}
			got, err := pushtest.Decrypt(body, ua, auth)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Errorf("got %x, want %x", got, plain)
			}
		})
	}
}

func TestEncryptRefuses(t *testing.T) {
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	as, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := bytes.Repeat([]byte{0xa5}, 16)
	salt := make([]byte, 16)
	tests := []struct {
		name            string
		plain, key, aut []byte
	}{
		{"too large", make([]byte, notify.MaxPayload+1), ua.PublicKey().Bytes(), auth},
		{"short auth", nil, ua.PublicKey().Bytes(), auth[:15]},
		{"no key", nil, nil, auth},
		{"compressed key", nil, append([]byte{2}, ua.PublicKey().Bytes()[1:33]...), auth},
		{"point off the curve", nil, append([]byte{4}, make([]byte, 64)...), auth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.Encrypt(tc.plain, tc.key, tc.aut, as, salt)
			if err == nil {
				t.Fatal("got nil error, want one")
			}
			assertNoSecret(t, err, tc.aut)
		})
	}
}
