package pushtest_test

import (
	"crypto/ecdh"
	"encoding/base64"
	"testing"

	"twostep/notify/pushtest"
)

// The example of RFC 8291 Section 5, from the user agent's side.
const (
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	rfcPlain     = "When I grow up, I want to be a watermelon"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecryptRFC8291(t *testing.T) {
	ua, err := ecdh.P256().NewPrivateKey(b64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pushtest.Decrypt(b64(t, rfcBody), ua, b64(t, rfcAuth))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != rfcPlain {
		t.Errorf("got %q, want %q", got, rfcPlain)
	}
}

func TestDecryptRefuses(t *testing.T) {
	ua, err := ecdh.P256().NewPrivateKey(b64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	body := b64(t, rfcBody)
	flip := func(i int) []byte {
		b := append([]byte(nil), body...)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name string
		body []byte
		auth []byte
	}{
		{"empty", nil, b64(t, rfcAuth)},
		{"header only", body[:86], b64(t, rfcAuth)},
		{"salt changed", flip(0), b64(t, rfcAuth)},
		{"record size too small", func() []byte { b := append([]byte(nil), body...); b[18], b[19] = 0, 17; return b }(), b64(t, rfcAuth)},
		{"two records", func() []byte { b := append([]byte(nil), body...); b[18], b[19] = 0, 20; return b }(), b64(t, rfcAuth)},
		{"key changed", flip(40), b64(t, rfcAuth)},
		{"ciphertext changed", flip(100), b64(t, rfcAuth)},
		{"tag changed", flip(len(body) - 1), b64(t, rfcAuth)},
		{"wrong auth", body, make([]byte, 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := pushtest.Decrypt(tc.body, ua, tc.auth); err == nil {
				t.Errorf("got %q, want an error", got)
			}
		})
	}
}
