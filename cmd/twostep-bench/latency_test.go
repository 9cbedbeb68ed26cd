package main

import (
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 65_535, 1_000_000, 123_456_789, 1 << 40, 1<<41 - 1}
	for _, v := range values {
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, b)
		}
		lo, hi := bucketBounds(b)
		if v < lo || v > hi {
			t.Errorf("bucketOf(%d) = %d holding [%d, %d]", v, b, lo, hi)
		}
		if w := hi - lo + 1; lo >= subCount && w*halfSub > lo {
			t.Errorf("bucket of %d is [%d, %d]: wider than 1/%d of its floor", v, lo, hi, halfSub)
		}
	}
	if got, want := bucketOf(1<<50), numBuckets-1; got != want {
		t.Errorf("bucketOf(2^50) = %d, want the last bucket %d", got, want)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	var prevHi uint64
	for b := range numBuckets {
		lo, hi := bucketBounds(b)
		if b > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", b, lo, prevHi)
		}
		if got := bucketOf(lo); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo, got, b)
		}
		if got := bucketOf(hi); got != b {
			t.Fatalf("bucketOf(%d) = %d, want %d", hi, got, b)
		}
		prevHi = hi
	}
}

func TestQuantiles(t *testing.T) {
	us := time.Microsecond
	ramp := func(n int, unit time.Duration) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i+1) * unit
		}
		return s
	}
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one sample p50", []time.Duration{700 * us}, 0.5, 700 * us},
		{"one sample p99", []time.Duration{700 * us}, 0.99, 700 * us},
		{"ramp p50", ramp(1000, us), 0.50, 500 * us},
		{"ramp p90", ramp(1000, us), 0.90, 900 * us},
		{"ramp p99", ramp(1000, us), 0.99, 990 * us},
		{"ramp p0 is min", ramp(1000, us), 0, 1 * us},
		{"ramp p100 is max", ramp(1000, us), 1, 1000 * us},
		{"small exact values", ramp(100, time.Nanosecond), 0.5, 50},
		{"outlier stays out of p99", append(ramp(999, us), 5*time.Second), 0.99, 990 * us},
		{"outlier is the max", append(ramp(999, us), 5*time.Second), 1, 5 * time.Second},
		{"seconds", ramp(100, 100*time.Millisecond), 0.9, 9 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, s := range tt.samples {
				h.record(s)
			}
			got := h.quantile(tt.q)
			tol := tt.want / halfSub
			if got < tt.want-tol || got > tt.want+tol {
				t.Errorf("quantile(%v) got %v, want %v (±%v)", tt.q, got, tt.want, tol)
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var all, a, b histogram
	for i := 1; i <= 500; i++ {
		d := time.Duration(i*i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	var m histogram
	m.merge(&a)
	m.merge(&b)
	m.merge(&histogram{}) // empty: no effect on min
	if m != all {
		t.Errorf("merged histogram differs: n %d min %v max %v sum %v, want n %d min %v max %v sum %v",
			m.n, m.min, m.max, m.sum, all.n, all.min, all.max, all.sum)
	}
	if got, want := m.mean(), all.sum/500; got != want {
		t.Errorf("mean got %v, want %v", got, want)
	}
}

func TestHistogramNegative(t *testing.T) {
	var h histogram
	h.record(-time.Second)
	if h.min != 0 || h.max != 0 || h.n != 1 {
		t.Errorf("got min %v max %v n %d, want 0 0 1", h.min, h.max, h.n)
	}
}
