package radiusd

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"testing"

	"layeh.com/radius"
)

// naiveMA is RFC 3579 §3.2 read literally: copy the packet, put auth in
// the authenticator field, zero the value, HMAC the whole.
func naiveMA(pkt []byte, off int, auth, secret []byte) []byte {
	b := bytes.Clone(pkt)
	copy(b[4:20], auth)
	clear(b[off : off+16])
	m := hmac.New(md5.New, secret)
	m.Write(b)
	return m.Sum(nil)
}

func TestFindMA(t *testing.T) {
	ma := append([]byte{80, 18}, make([]byte, 16)...)
	build := func(attrs ...[]byte) []byte {
		b := header(0)
		for _, a := range attrs {
			b = append(b, a...)
		}
		b[2], b[3] = byte(len(b)>>8), byte(len(b))
		return b
	}
	tests := []struct {
		name    string
		pkt     []byte
		want    int
		wantErr error
	}{
		{"none", build([]byte{1, 3, 'a'}), -1, nil},
		{"first", build(ma, []byte{1, 3, 'a'}), 22, nil},
		{"after another", build([]byte{1, 3, 'a'}, ma), 25, nil},
		{"short", build([]byte{80, 10, 0, 0, 0, 0, 0, 0, 0, 0}), -1, errMALength},
		{"long", build(append([]byte{80, 19}, make([]byte, 17)...)), -1, errMALength},
		{"empty", build([]byte{80, 2}), -1, errMALength},
		{"twice", build(ma, ma), -1, errMARepeated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findMA(tt.pkt)
			if got != tt.want || err != tt.wantErr {
				t.Errorf("got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestMessageAuthenticatorOfResponse(t *testing.T) {
	// RFC 3579 §3.2: in a response, the HMAC covers the request
	// authenticator, and the Response Authenticator is computed after it.
	req, err := NewAccessRequest(testSecret, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	var attrs radius.Attributes
	attrs.Add(18, radius.Attribute("hello"))
	resp, err := encodeResponse(req, radius.CodeAccessAccept, attrs, &Client{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp[22:38], naiveMA(resp, 22, req.Authenticator[:], testSecret); !bytes.Equal(got, want) {
		t.Errorf("got MA %x, want %x", got, want)
	}
	reqBytes, _ := req.MarshalBinary()
	if !radius.IsAuthenticResponse(resp, reqBytes, testSecret) {
		t.Error("Response Authenticator does not verify with the layeh codec")
	}
}

// FuzzMessageAuthenticator checks the streaming HMAC against the literal
// reading of RFC 3579 on arbitrary packets, that signing then verifying
// succeeds, and that any change of one byte fails verification.
func FuzzMessageAuthenticator(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, secret []byte, flip uint16) {
		pkt, cause := frame(data)
		if cause != "" {
			return
		}
		off, err := findMA(pkt)
		if err != nil || off < 0 {
			return
		}
		auth := pkt[4:20]
		m := newMAC(secret) // one state for every call: each resets it, as a Client's pool relies on
		got := computeMA(m, pkt, off, auth)
		if want := naiveMA(pkt, off, auth, secret); !bytes.Equal(got[:], want) {
			t.Fatalf("computeMA %x, want %x", got, want)
		}
		signed := bytes.Clone(pkt)
		signMA(m, signed, off, signed[4:20])
		if !verifyMA(m, signed, off, signed[4:20]) {
			t.Fatal("a signed packet does not verify")
		}
		i := int(flip) % len(signed)
		if i == 2 || i == 3 { // Length: would change the framing, not the test
			return
		}
		signed[i] ^= 0x01
		if verifyMA(m, signed, off, signed[4:20]) {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	})
}
