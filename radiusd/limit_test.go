package radiusd

import "testing"

func TestLimiter(t *testing.T) {
	tests := []struct {
		workers          int
		newOnes, reserve int
	}{
		{1, 1, 0},
		{2, 1, 1},
		{8, 7, 1},
		{16, 14, 2},
		{256, 224, 32},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			l := newLimiter(tt.workers)
			n := 0
			for l.acquire(false) {
				n++
			}
			if n != tt.newOnes {
				t.Errorf("workers %d: got %d new conversations, want %d", tt.workers, n, tt.newOnes)
			}
			m := 0
			for l.acquire(true) {
				m++
			}
			if m != tt.reserve {
				t.Errorf("workers %d: got %d State-carrying beyond, want %d", tt.workers, m, tt.reserve)
			}
			l.release()
			if !l.acquire(true) {
				t.Error("a released slot cannot be taken again")
			}
		})
	}
}
