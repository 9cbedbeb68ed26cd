package radiusd

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// Micro-benchmarks of the per-request hot path (docs/BENCHMARKS.md,
// "Micro-benchmarks"): go test -run XXX -bench . ./radiusd/

// BenchmarkDecodePassword reverses the User-Password hiding of RFC 2865
// §5.2 for the shortest password field and the longest.
func BenchmarkDecodePassword(b *testing.B) {
	var auth [16]byte
	copy(auth[:], "0123456789abcdef")
	for _, n := range []int{minPasswordLen, maxPasswordLen} {
		hidden := make([]byte, n)
		for i := range hidden {
			hidden[i] = byte(i*7 + 1)
		}
		b.Run(fmt.Sprintf("%d bytes", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodePassword(hidden, testSecret, auth); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMessageAuthenticator computes and checks the HMAC-MD5 of a
// signed Access-Request, with a keyed HMAC reused as a Client's pool
// lends it.
func BenchmarkMessageAuthenticator(b *testing.B) {
	p, err := NewAccessRequest(testSecret, "alice@example.com", "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	pkt, err := SignRequest(p)
	if err != nil {
		b.Fatal(err)
	}
	off, err := findMA(pkt)
	if err != nil || off < 0 {
		b.Fatalf("findMA: %d, %v", off, err)
	}
	m := newMAC(testSecret)
	b.Run("sign", func(b *testing.B) {
		buf := append([]byte(nil), pkt...)
		b.ReportAllocs()
		for b.Loop() {
			signMA(m, buf, off, buf[4:20])
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !verifyMA(m, pkt, off, pkt[4:20]) {
				b.Fatal("verifyMA refused a signed request")
			}
		}
	})
	b.Run("find and verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			o, err := findMA(pkt)
			if err != nil || !verifyMA(m, pkt, o, pkt[4:20]) {
				b.Fatal("refused a signed request")
			}
		}
	})
}

// BenchmarkDedupCache is the RFC 5080 cache's work per request: a new
// request looked up and its answer stored (begin + finish), among 50,000
// live entries (5,000 requests/s over a 10 s TTL), and a retransmission
// answered from the cache.
func BenchmarkDedupCache(b *testing.B) {
	const ttl, live = 10 * time.Second, 50_000
	key := func(i int) dedupKey {
		return dedupKey{listener: 1, src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 16), byte(i >> 8)}), uint16(1024+i%4096)), id: byte(i)}
	}
	resp := make([]byte, 38)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("new request", func(b *testing.B) {
		c := newDedupCache(ttl)
		now := t0
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			// live requests per TTL: old slots expire and are swept as
			// the clock moves on.
			now = now.Add(ttl / live)
			auth := [16]byte{byte(i), byte(i >> 8), byte(i >> 16)}
			k := key(i % (2 * live))
			e, v, _ := c.begin(k, auth, now)
			if v != dedupNew {
				b.Fatalf("request %d: got verdict %v, want new", i, v)
			}
			c.finish(k, e, resp, now)
			i++
		}
	})
	b.Run("retransmission", func(b *testing.B) {
		c := newDedupCache(ttl)
		for i := range live {
			e, _, _ := c.begin(key(i), [16]byte{byte(i)}, t0)
			c.finish(key(i), e, resp, t0)
		}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if _, v, _ := c.begin(key(i%live), [16]byte{byte(i % live)}, t0); v != dedupAnswered {
				b.Fatalf("got verdict %v, want answered", v)
			}
			i++
		}
	})
}
