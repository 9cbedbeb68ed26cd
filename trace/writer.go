package trace

import (
	"context"
	"errors"
	"sync"
	"time"

	"twostep/cluster"
)

// maxBatch bounds the records of one transaction: each holds up to
// MaxEvents steps of a few hundred bytes, and a transaction stays well
// under etcd's 1.5 MiB request limit.
const maxBatch = 16

// flushTimeout bounds how long the records still queued when Run's
// context ends are written for.
const flushTimeout = 2 * time.Second

// Bounds of the records one node writes: a traced user's name sent in a
// flood of requests (by anybody: the User-Name is the sender's to
// choose) must not fill etcd, where each record stays TraceEventTTL.
// A person's logins, even a script's few a second, stay well within.
const (
	recordsPerSecond = 20
	recordsBurst     = 200
)

// enqueue hands rec to the writer without waiting: when the node's rate
// of records is spent, the queue is full, or the writer has stopped, its
// events are dropped and counted.
func (t *Tracing) enqueue(rec cluster.TraceRecord) {
	rec.Seq = t.seq.Add(1)
	rec.Written = t.now()
	if t.closed.Load() {
		t.metrics.drop(CauseShutdown, len(rec.Events))
		return
	}
	if !t.bucket.take(rec.Written) {
		t.metrics.drop(CauseRateLimited, len(rec.Events))
		return
	}
	select {
	case t.queue <- rec:
	default:
		t.metrics.drop(CauseQueueFull, len(rec.Events))
	}
}

// write takes what is queued, in batches of one transaction each, until
// ctx ends; then it writes what is left within flushTimeout. A batch
// under way when ctx ends is finished, not cut off: the store bounds
// each call (cluster.request_timeout).
func (t *Tracing) write(ctx context.Context) {
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			t.closed.Store(true)
			fctx, cancel := context.WithTimeout(wctx, flushTimeout)
			defer cancel()
			t.flush(fctx)
			return
		case rec := <-t.queue:
			t.writeBatch(wctx, t.batch(rec))
		}
	}
}

// flush writes what is queued until the queue is empty or ctx ends,
// when the rest is dropped and counted.
func (t *Tracing) flush(ctx context.Context) {
	for {
		select {
		case rec := <-t.queue:
			if ctx.Err() != nil {
				t.metrics.drop(CauseShutdown, len(rec.Events))
				continue
			}
			t.writeBatch(ctx, t.batch(rec))
		default:
			return
		}
	}
}

// batch is first and what else is queued, up to maxBatch records.
func (t *Tracing) batch(first cluster.TraceRecord) []cluster.TraceRecord {
	batch := []cluster.TraceRecord{first}
	for len(batch) < maxBatch {
		select {
		case rec := <-t.queue:
			batch = append(batch, rec)
		default:
			return batch
		}
	}
	return batch
}

// writeBatch stores batch in one transaction, or drops and counts it.
func (t *Tracing) writeBatch(ctx context.Context, batch []cluster.TraceRecord) {
	err := t.traces.WriteTraces(ctx, batch)
	if err == nil {
		return
	}
	n := 0
	for _, rec := range batch {
		n += len(rec.Events)
	}
	switch {
	case ctx.Err() != nil:
		t.metrics.drop(CauseShutdown, n)
	case errors.Is(err, cluster.ErrUnavailable):
		t.metrics.drop(CauseStoreUnavailable, n)
	default:
		t.metrics.drop(CauseStoreError, n)
	}
}

// bucket is a token bucket of records: recordsPerSecond, up to
// recordsBurst at once.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// take spends a token at now, if there is one.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = recordsBurst
	} else if now.After(b.last) {
		b.tokens = min(recordsBurst, b.tokens+now.Sub(b.last).Seconds()*recordsPerSecond)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
