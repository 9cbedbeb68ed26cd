package challenge

import (
	"context"
	"sync/atomic"
)

// recorder is the Responder of the tests: it keeps the answer and counts
// the releases, where radiusd would send the answer and free the
// request's admission slot.
type recorder struct {
	released atomic.Int32
	answered atomic.Bool
	answer   chan answer
}

type answer struct {
	d   Decision
	err error
}

func newRecorder() *recorder { return &recorder{answer: make(chan answer, 1)} }

func (r *recorder) Respond(d Decision, err error) {
	if r.answered.Swap(true) {
		panic("challenge: Respond called twice for one request")
	}
	r.answer <- answer{d, err}
}

func (r *recorder) Release() { r.released.Add(1) }

// authenticate decides req on e and waits for the answer, whether it
// comes before Authenticate returns or later.
func authenticate(ctx context.Context, e *Engine, req *Request) (Decision, error) {
	r := newRecorder()
	e.Authenticate(ctx, req, r)
	a := <-r.answer
	return a.d, a.err
}
