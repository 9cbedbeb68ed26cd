package radiusd

import (
	"bytes"
	"testing"

	"layeh.com/radius"
)

// header returns a packet header of the given Length followed by attrs.
func header(length int, attrs ...byte) []byte {
	b := []byte{1, 0, byte(length >> 8), byte(length)}
	b = append(b, make([]byte, 16)...)
	return append(b, attrs...)
}

// TestFrame follows the malformed-packet list of RFC 6613 §2 and the
// length rules of RFC 2865 §3.
func TestFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantLen int // framed length when valid
		cause   string
	}{
		{"header only", header(20), 20, ""},
		{"one attribute", header(23, 1, 3, 'a'), 23, ""},
		{"empty attribute value", header(22, 1, 2), 22, ""},
		{"padding past Length ignored", append(header(23, 1, 3, 'a'), 0xff, 0xff), 23, ""},
		{"garbage past Length ignored", append(header(20), 1, 0), 20, ""},
		{"19 bytes", header(20)[:19], 0, causeShort},
		{"empty", nil, 0, causeShort},
		{"4097 bytes", append(header(20), make([]byte, 4077)...), 0, causeOversized},
		{"Length 19", header(19), 0, causeBadLength},
		{"Length 0", header(0), 0, causeBadLength},
		{"Length past datagram", header(21), 0, causeBadLength},
		{"Length 4097", append(header(4097), make([]byte, 4076)...), 0, causeBadLength},
		{"attribute length 0", header(22, 1, 0), 0, causeBadAttribute},
		{"attribute length 1", header(22, 1, 1), 0, causeBadAttribute},
		{"attribute overruns Length", header(23, 1, 4, 'a'), 0, causeBadAttribute},
		{"attribute overruns Length into padding", append(header(23, 1, 4, 'a'), 'b'), 0, causeBadAttribute},
		{"lone type byte", header(21, 1), 0, causeBadAttribute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cause := frame(tt.in)
			if cause != tt.cause {
				t.Fatalf("got cause %q, want %q", cause, tt.cause)
			}
			if cause == "" && len(got) != tt.wantLen {
				t.Errorf("got length %d, want %d", len(got), tt.wantLen)
			}
		})
	}
	t.Run("4096 bytes is fine", func(t *testing.T) {
		b := header(4096)
		for len(b) < 4096 {
			n := min(255, 4096-len(b))
			if 4096-len(b)-n == 1 { // never leave one byte
				n--
			}
			b = append(b, 26, byte(n))
			b = append(b, make([]byte, n-2)...)
		}
		if _, cause := frame(b); cause != "" {
			t.Errorf("got cause %q, want none", cause)
		}
	})
}

func TestDecodePassword(t *testing.T) {
	secret := []byte("xyzzy5461")
	var auth [16]byte
	copy(auth[:], "0123456789abcdef")
	tests := []struct {
		name, password, want string
	}{
		{"empty", "", ""},
		{"short", "hunter2", "hunter2"},
		{"16 bytes", "0123456789abcdef", "0123456789abcdef"},
		{"17 bytes", "0123456789abcdefg", "0123456789abcdefg"},
		{"128 bytes", string(bytes.Repeat([]byte("p"), 128)), string(bytes.Repeat([]byte("p"), 128))},
		{"inner NUL kept", "ab\x00cd", "ab\x00cd"},
		{"trailing NULs stripped", "abc\x00\x00", "abc"},
		{"UTF-8", "pässwörd,123456", "pässwörd,123456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hidden, err := radius.NewUserPassword([]byte(tt.password), secret, auth[:])
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodePassword(hidden, secret, auth)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, n := range []int{0, 15, 17, 144} {
		if _, err := decodePassword(make([]byte, n), secret, auth); err == nil {
			t.Errorf("length %d: got nil, want an error", n)
		}
	}
	if _, err := decodePassword(make([]byte, 16), nil, auth); err == nil {
		t.Error("empty secret: got nil, want an error")
	}
}

// FuzzDecodePassword checks that decoding never panics, refuses impossible
// lengths, and inverts the RFC 2865 hiding that radius.NewUserPassword
// does.
func FuzzDecodePassword(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, secret []byte, authSeed []byte) {
		var auth [16]byte
		copy(auth[:], authSeed)
		out, err := decodePassword(data, secret, auth)
		valid := len(data) >= 16 && len(data) <= 128 && len(data)%16 == 0 && len(secret) > 0
		if (err == nil) != valid {
			t.Fatalf("length %d secret %d: got error %v", len(data), len(secret), err)
		}
		if err == nil && (len(out) > len(data) || bytes.HasSuffix(out, []byte{0})) {
			t.Fatalf("got %d bytes ending in %x", len(out), out[max(0, len(out)-1):])
		}
		if len(data) > 128 || len(secret) == 0 {
			return
		}
		hidden, err := radius.NewUserPassword(data, secret, auth[:])
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodePassword(hidden, secret, auth)
		if err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimRight(data, "\x00"); !bytes.Equal(got, want) {
			t.Fatalf("round trip: got %q, want %q", got, want)
		}
	})
}
