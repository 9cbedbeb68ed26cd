package portal

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	now := t0
	l := newLimiter(time.Minute, func() time.Time { return now })
	au := func(max int) limit { return limit{limitAddressUser, "au x alice", max} }
	addr := func(max int) limit { return limit{limitAddress, "a x", max} }
	steps := []struct {
		name     string
		at       time.Duration
		limits   []limit
		refund   string
		want     string
		wantWait time.Duration
	}{
		{name: "first", limits: []limit{au(2), addr(3)}},
		{name: "second", at: 10 * time.Second, limits: []limit{au(2), addr(3)}},
		{name: "own budget spent", at: 15 * time.Second, limits: []limit{au(2), addr(3)}, want: limitAddressUser, wantWait: 45 * time.Second},
		{name: "the refusal spent nothing of the address", at: 15 * time.Second, limits: []limit{addr(3)}},
		{name: "now the address is spent", at: 15 * time.Second, limits: []limit{addr(3)}, want: limitAddress, wantWait: 45 * time.Second},
		{name: "a refund frees one", at: 20 * time.Second, refund: "a x", limits: []limit{addr(3)}},
		{name: "a new window", at: time.Minute, limits: []limit{au(2), addr(3)}},
	}
	for _, st := range steps {
		now = t0.Add(st.at)
		if st.refund != "" {
			l.refund(st.refund)
		}
		got, wait := l.allow(st.limits...)
		if got != st.want || wait != st.wantWait {
			t.Errorf("%s: got %q, wait %v, want %q, %v", st.name, got, wait, st.want, st.wantWait)
		}
	}

	t.Run("capacity", func(t *testing.T) {
		l := newLimiter(time.Minute, func() time.Time { return t0 })
		for i := range maxLimiterKeys {
			if got, _ := l.allow(limit{limitAddress, fmt.Sprint(i), 1}); got != "" {
				t.Fatalf("key %d: refused by %s", i, got)
			}
		}
		if got, _ := l.allow(limit{limitAddress, "one more", 1}); got != limitCapacity {
			t.Errorf("a key past the table's size: got %q, want %q", got, limitCapacity)
		}
	})
}

func TestLimitKeys(t *testing.T) {
	addresses := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	}
	for _, tt := range addresses {
		if got := addressKey(tt.in); got != tt.want {
			t.Errorf("addressKey(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
	users := []struct{ in, want string }{
		{"alice", "alice"},
		{" ALICE ", "alice"},
		{"alice@example.edu", "alice"},
		{`EXAMPLE\Alice`, "alice"},
		{string(make([]byte, 1000)), string(make([]byte, maxUserKey))},
	}
	for _, tt := range users {
		if got := userKey(tt.in); got != tt.want {
			t.Errorf("userKey(%.20q): got %.20q, want %.20q", tt.in, got, tt.want)
		}
	}
}
