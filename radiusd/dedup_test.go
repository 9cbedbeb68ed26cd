package radiusd

import (
	"net/netip"
	"testing"
	"time"
)

func TestDedupCache(t *testing.T) {
	const ttl = 10 * time.Second
	key := func(port uint16, id byte) dedupKey {
		return dedupKey{listener: 1, src: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), id: id}
	}
	a, b := [16]byte{1}, [16]byte{2}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("lifecycle", func(t *testing.T) {
		c := newDedupCache(ttl)
		e, v, _ := c.begin(key(1, 1), a, t0)
		if v != dedupNew {
			t.Fatalf("got %v, want new", v)
		}
		if _, v, _ := c.begin(key(1, 1), a, t0); v != dedupInFlight {
			t.Fatalf("got %v, want in flight", v)
		}
		c.finish(key(1, 1), e, []byte("answer"), t0)
		if _, v, resp := c.begin(key(1, 1), a, t0.Add(ttl-time.Nanosecond)); v != dedupAnswered || string(resp) != "answer" {
			t.Fatalf("got %v %q, want answered", v, resp)
		}
		if _, v, _ := c.begin(key(1, 1), a, t0.Add(ttl)); v != dedupNew {
			t.Fatalf("after ttl: got %v, want new", v)
		}
	})
	t.Run("new authenticator purges", func(t *testing.T) {
		c := newDedupCache(ttl)
		old, _, _ := c.begin(key(1, 1), a, t0)
		e, v, _ := c.begin(key(1, 1), b, t0)
		if v != dedupNew || c.len() != 1 {
			t.Fatalf("got %v with %d entries, want new with 1", v, c.len())
		}
		c.finish(key(1, 1), old, []byte("stale"), t0) // the purged request ends late
		if _, v, _ := c.begin(key(1, 1), b, t0); v != dedupInFlight {
			t.Fatalf("the stale answer replaced the new entry: got %v", v)
		}
		c.finish(key(1, 1), e, []byte("fresh"), t0)
		if _, _, resp := c.begin(key(1, 1), b, t0); string(resp) != "fresh" {
			t.Fatalf("got %q, want fresh", resp)
		}
	})
	t.Run("forget", func(t *testing.T) {
		c := newDedupCache(ttl)
		e, _, _ := c.begin(key(1, 1), a, t0)
		c.forget(key(1, 1), e)
		if _, v, _ := c.begin(key(1, 1), a, t0); v != dedupNew {
			t.Fatalf("got %v, want new", v)
		}
	})
	t.Run("expired entries are swept", func(t *testing.T) {
		c := newDedupCache(ttl)
		for i := range 1000 {
			e, _, _ := c.begin(key(uint16(i), byte(i)), a, t0)
			c.finish(key(uint16(i), byte(i)), e, []byte("x"), t0)
		}
		inflight, _, _ := c.begin(key(60000, 0), a, t0)
		if n := c.len(); n != 1001 {
			t.Fatalf("got %d entries, want 1001", n)
		}
		c.begin(key(60001, 0), a, t0.Add(ttl))
		if n := c.len(); n != 2 { // the in-flight entry and the new one
			t.Fatalf("after the sweep: got %d entries, want 2", n)
		}
		c.finish(key(60000, 0), inflight, []byte("x"), t0.Add(ttl))
	})
	t.Run("sweeps at most once per ttl", func(t *testing.T) {
		c := newDedupCache(ttl)
		c.begin(key(1, 0), a, t0) // sweeps, next sweep at t0+ttl
		e, _, _ := c.begin(key(2, 0), a, t0)
		c.finish(key(2, 0), e, []byte("x"), t0.Add(-ttl)) // already expired
		c.begin(key(3, 0), a, t0.Add(ttl/2))
		if n := c.len(); n != 3 {
			t.Fatalf("got %d entries, want 3 (no sweep yet)", n)
		}
		c.begin(key(4, 0), a, t0.Add(ttl))
		if n := c.len(); n != 3 {
			t.Fatalf("got %d entries, want 3 (expired one swept)", n)
		}
	})
}
