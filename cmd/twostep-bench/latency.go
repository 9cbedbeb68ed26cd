package main

import (
	"math/bits"
	"time"
)

// Latencies are kept in a log-linear histogram rather than as samples, so
// that memory stays fixed (about 20 KiB per worker) however long the run
// and recording costs a few instructions. Values below 2^subBits ns are
// exact; above, each power of two is split into 2^subBits/2 buckets, so a
// reported percentile is within 1/64 (1.6 %) of the true sample.
const (
	subBits    = 7
	subCount   = 1 << subBits // 128
	halfSub    = subCount / 2
	maxExp     = 41 - subBits // values up to 2^41 ns (36 min) are kept apart
	numBuckets = subCount + maxExp*halfSub
)

// histogram counts latencies. The zero value is empty and ready to use.
type histogram struct {
	counts [numBuckets]uint64
	n      uint64
	min    time.Duration
	max    time.Duration
	sum    time.Duration
}

// bucketOf maps a duration in nanoseconds to its bucket.
func bucketOf(ns uint64) int {
	if ns < subCount {
		return int(ns)
	}
	e := bits.Len64(ns) - subBits // ns>>e is in [halfSub, subCount)
	if e > maxExp {
		return numBuckets - 1
	}
	return subCount + (e-1)*halfSub + int(ns>>e) - halfSub
}

// bucketBounds returns the smallest and largest values a bucket holds.
func bucketBounds(b int) (lo, hi uint64) {
	if b < subCount {
		return uint64(b), uint64(b)
	}
	e := (b-subCount)/halfSub + 1
	m := uint64((b-subCount)%halfSub + halfSub)
	return m << e, (m+1)<<e - 1
}

// record adds one latency. Negative durations (a clock oddity) count as 0.
func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// merge adds the counts of o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the latency below which a fraction q (0..1) of the
// samples fall, as the middle of the bucket holding the sample of rank
// ceil(q*n), clamped to the observed min and max. It is 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.n) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(b)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// mean returns the average latency, 0 when empty.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
