package radiusd

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"layeh.com/radius"

	"twostep/challenge"
)

// laterAuth answers later, as the engine does for a login that waits for
// a push: it releases the request and returns, and the test answers
// through the Responder it hands over.
type laterAuth struct{ waiting chan waitingLogin }

type waitingLogin struct {
	ctx context.Context
	req *challenge.Request
	w   challenge.Responder
}

func newLaterAuth() *laterAuth { return &laterAuth{waiting: make(chan waitingLogin, 16)} }

func (a *laterAuth) Authenticate(ctx context.Context, req *challenge.Request, w challenge.Responder) {
	w.Release()
	a.waiting <- waitingLogin{ctx, req, w}
}

func (a *laterAuth) next(t *testing.T) waitingLogin {
	t.Helper()
	select {
	case l := <-a.waiting:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the Authenticator")
		return waitingLogin{}
	}
}

// laterHarness is a harness whose Authenticator answers later.
func laterHarness(t *testing.T, auth *laterAuth, edit func(*Options)) *harness {
	t.Helper()
	return newHarness(t, nil, func(o *Options) {
		o.Authenticator = auth
		if edit != nil {
			edit(o)
		}
	})
}

// TestLateAnswerHoldsNoSlot: a login answered later gives its admission
// slot back while it waits, its copies are absorbed meanwhile, and its
// answer is cached for the copies that come after.
func TestLateAnswerHoldsNoSlot(t *testing.T) {
	auth := newLaterAuth()
	// Two workers keep one for State: one new login at a time.
	h := laterHarness(t, auth, func(o *Options) { o.Workers = 2 })
	ca, cb := h.dial(), h.dial()
	reqA := request(t, testSecret, "alice", testPassword, nil)
	h.send(ca, reqA)
	a := auth.next(t)
	h.waitMetric(h.metrics.inFlight, 0)

	reqB := request(t, testSecret, "bob", testPassword, nil)
	h.send(cb, reqB)
	b := auth.next(t) // admitted: alice's wait holds no slot

	h.send(ca, reqA) // a copy while alice waits
	h.waitMetric(h.metrics.duplicates.WithLabelValues(dupDroppedInFlight), 1)

	a.w.Respond(challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonPushApproved, User: "Alice"}, nil)
	if resp := h.answer(ca, reqA, testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want the late Access-Accept", resp.Code)
	}
	h.send(ca, reqA) // a copy after the answer left: the cached answer
	if resp := h.answer(ca, reqA, testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("copy: got %v, want the cached Access-Accept", resp.Code)
	}
	h.waitMetric(h.metrics.duplicates.WithLabelValues(dupResent), 1)
	logs := h.waitLog(`"message":"radius request"`, 1)
	if !strings.Contains(logs, `"typed_user":"alice"`) || !strings.Contains(logs, `"user":"Alice"`) {
		t.Errorf("the late answer's log line lacks the canonical user:\n%s", logs)
	}

	b.w.Respond(challenge.Decision{}, errors.New("store: boom"))
	if resp := h.answer(cb, reqB, testSecret); resp.Code != radius.CodeAccessReject {
		t.Fatalf("got %v, want an Access-Reject for a late error", resp.Code)
	}
	h.waitLog(`"level":"error"`, 1)
}

// TestLateAnswerIsHeldAndLate: reject_delay and the NAS's timeout count
// from the request's arrival for a late answer as for any other.
func TestLateAnswerIsHeldAndLate(t *testing.T) {
	auth := newLaterAuth()
	clock := newFakeClock()
	holds := make(chan time.Duration, 1)
	h := laterHarness(t, auth, func(o *Options) {
		o.Now = clock.Now
		o.RejectDelay = 5 * time.Second
		o.afterFunc = func(d time.Duration, f func()) { holds <- d; f() }
		ct, err := NewClientTable([]Client{{
			Name: "pam", Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Secret: testSecret,
			Login: challenge.ClientLogin{NASTimeout: 2 * time.Second, NASRetries: 2},
		}})
		if err != nil {
			t.Fatal(err)
		}
		o.Clients = ct
	})
	c := h.dial()
	req := request(t, testSecret, "alice", testPassword, nil)
	h.send(c, req)
	l := auth.next(t)
	clock.Advance(3 * time.Second)
	l.w.Respond(challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonPushDenied}, nil)
	if got := <-holds; got != 2*time.Second {
		t.Errorf("held %v, want the 2s left of reject_delay", got)
	}
	if resp := h.answer(c, req, testSecret); resp.Code != radius.CodeAccessReject {
		t.Fatalf("got %v, want an Access-Reject", resp.Code)
	}
	logs := h.waitLog(`"message":"radius request"`, 1)
	if !strings.Contains(logs, `"nas_gave_up":true`) {
		t.Errorf("an answer 3s after the only copy is not logged as late:\n%s", logs)
	}
	if got := testutil.ToFloat64(h.metrics.nasGaveUp.WithLabelValues("pam")); got != 1 {
		t.Errorf("nas_gave_up: got %v, want 1", got)
	}
}

// TestShutdownWaitsForLateAnswers: Shutdown waits for a login that waits
// for a push; past its deadline the login is dropped unanswered (the NAS
// retransmits to another node, which follows the push).
func TestShutdownWaitsForLateAnswers(t *testing.T) {
	t.Run("answered before the deadline", func(t *testing.T) {
		auth := newLaterAuth()
		h := laterHarness(t, auth, nil)
		c := h.dial()
		req := request(t, testSecret, "alice", testPassword, nil)
		h.send(c, req)
		l := auth.next(t)
		stopped := make(chan struct{})
		go func() { h.stop(); close(stopped) }()
		select {
		case <-stopped:
			t.Fatal("Shutdown returned while a login waited for its answer")
		case <-time.After(100 * time.Millisecond):
		}
		l.w.Respond(challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonPushApproved}, nil)
		if resp := h.answer(c, req, testSecret); resp.Code != radius.CodeAccessAccept {
			t.Fatalf("got %v, want the Access-Accept", resp.Code)
		}
		<-stopped
	})
	t.Run("past the deadline", func(t *testing.T) {
		auth := newLaterAuth()
		h := laterHarness(t, auth, nil)
		h.stopped = true // stopped here, with a deadline
		c := h.dial()
		req := request(t, testSecret, "alice", testPassword, nil)
		h.send(c, req)
		l := auth.next(t)
		context.AfterFunc(l.ctx, func() { l.w.Respond(challenge.Decision{}, l.ctx.Err()) })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := h.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want its deadline", err)
		}
		h.waitMetric(h.metrics.dropped.WithLabelValues(causeUnavailable), 1)
		if resp := h.recv(c, 50*time.Millisecond); resp != nil {
			t.Fatalf("got an answer (code %v) from a server going away", radius.Code(resp[0]))
		}
		<-h.done
	})
}

// waitInPlaceAuth releases the request, then waits on its goroutine
// until proceed closes, as the engine does for the answer to a challenge
// round that waits for a push.
type waitInPlaceAuth struct {
	calls   chan struct{}
	proceed chan struct{}
}

func (a *waitInPlaceAuth) Authenticate(_ context.Context, _ *challenge.Request, w challenge.Responder) {
	w.Release()
	a.calls <- struct{}{}
	<-a.proceed
	w.Respond(challenge.Decision{Outcome: challenge.Accept, Reason: challenge.ReasonPushApproved}, nil)
}

// TestReleasedWaitHoldsNoSlot: a request that waits in place after its
// release leaves its admission slot to others.
func TestReleasedWaitHoldsNoSlot(t *testing.T) {
	auth := &waitInPlaceAuth{calls: make(chan struct{}, 2), proceed: make(chan struct{})}
	h := newHarness(t, nil, func(o *Options) {
		o.Authenticator = auth
		o.Workers = 2 // one new login at a time
	})
	proceed := sync.OnceFunc(func() { close(auth.proceed) })
	t.Cleanup(proceed) // before the harness stops, on failure too
	ca, cb := h.dial(), h.dial()
	reqA := request(t, testSecret, "alice", testPassword, nil)
	reqB := request(t, testSecret, "bob", testPassword, nil)
	h.send(ca, reqA)
	<-auth.calls
	h.send(cb, reqB)
	select {
	case <-auth.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("a second login was not admitted while the first waited released")
	}
	proceed()
	if resp := h.answer(ca, reqA, testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want an Access-Accept", resp.Code)
	}
	if resp := h.answer(cb, reqB, testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want an Access-Accept", resp.Code)
	}
}
