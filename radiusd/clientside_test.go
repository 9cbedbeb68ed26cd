package radiusd

import (
	"errors"
	"fmt"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

func ExampleSignRequest() {
	secret := []byte("a-long-random-shared-secret")
	p, err := NewAccessRequest(secret, "alice", "password,123456")
	if err != nil {
		panic(err)
	}
	rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
	b, err := SignRequest(p)
	if err != nil {
		panic(err)
	}
	// Send b over UDP, read the answer into resp, then:
	//	err = VerifyResponse(resp, b, secret)
	fmt.Println(len(b), b[20] == 80) // Message-Authenticator first
	// Output: 73 true
}

func TestSignRequest(t *testing.T) {
	t.Run("verifies as the server checks it", func(t *testing.T) {
		p, _ := NewAccessRequest(testSecret, "alice", "pw")
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16)) // replaced
		b, err := SignRequest(p)
		if err != nil {
			t.Fatal(err)
		}
		off, err := findMA(b)
		if err != nil || off != 22 {
			t.Fatalf("got offset %d, %v; want 22", off, err)
		}
		if !verifyMA(newMAC(testSecret), b, off, b[4:20]) {
			t.Error("does not verify")
		}
		if len(p.Attributes) != 3 {
			t.Error("SignRequest modified its argument")
		}
	})
	t.Run("refuses other codes", func(t *testing.T) {
		if _, err := SignRequest(radius.New(radius.CodeAccountingRequest, testSecret)); err == nil {
			t.Error("got nil, want an error")
		}
	})
	t.Run("refuses an empty secret", func(t *testing.T) {
		if _, err := SignRequest(radius.New(radius.CodeStatusServer, nil)); err == nil {
			t.Error("got nil, want an error")
		}
	})
}

func TestVerifyResponse(t *testing.T) {
	p, _ := NewAccessRequest(testSecret, "alice", "pw")
	req, _ := SignRequest(p)
	good, err := encodeResponse(p, radius.CodeAccessAccept, nil, &Client{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	withoutMA := func() []byte {
		r := p.Response(radius.CodeAccessAccept)
		b, _ := r.Encode()
		return b
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		resp []byte
		req  []byte
		sec  []byte
		want error
	}{
		{"good", good, req, testSecret, nil},
		{"wrong secret", good, req, []byte("other"), ErrResponseNotAuthentic},
		{"tampered", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), req, testSecret, ErrResponseNotAuthentic},
		{"no Message-Authenticator", withoutMA(), req, testSecret, ErrResponseNotAuthentic},
		{"other identifier", mutate(func(b []byte) []byte { b[1]++; return b }), req, testSecret, ErrResponseMismatch},
		{"request code", req, req, testSecret, ErrResponseMismatch},
		{"truncated", good[:19], req, testSecret, ErrResponseMismatch},
		{"short request", good, req[:10], testSecret, ErrResponseMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := VerifyResponse(tt.resp, tt.req, tt.sec); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}
