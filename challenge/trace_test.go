package challenge

import (
	"context"
	"strings"
	"sync"
	"testing"

	"twostep/cluster"
)

// stepTracer is a Tracer that keeps the steps as "kind result: detail".
type stepTracer struct {
	mu    sync.Mutex
	steps []string
	login string
}

func (s *stepTracer) Step(kind, result, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, kind+" "+result+": "+detail)
}

func (s *stepTracer) Continues(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login = id
}

// has fails t unless a step starts with each of want, in order, and no
// step shows one of secrets.
func (s *stepTracer) has(t *testing.T, want []string, secrets ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for _, step := range s.steps {
		for _, secret := range secrets {
			if strings.Contains(step, secret) {
				t.Errorf("step %q shows a secret", step)
			}
		}
		if i < len(want) && strings.HasPrefix(step, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("steps %q: no %q (in order)", s.steps, want[i])
	}
}

// TestTraceStepsPasscode: a traced login tells each step of a challenge
// round on one request and its answer on another: the password box, the
// directory's answer, the rule, the account, the round, and the passcode
// the device took; never the code.
func TestTraceStepsPasscode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
	dev := w.enroll("phone")
	first := &stepTracer{}
	d, err := authenticate(context.Background(), w.engine, &Request{ID: "3f9ac21b5d7e", User: "alice", Password: "pw-Secret-1", Client: "vpn", Source: nas,
		Login: ClientLogin{Mode: ModeChallenge}, Trace: first})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, d, Ask, ReasonPasscodeRequested)
	first.has(t, []string{
		"input challenge: the password alone",
		"first_factor ok: user alice, groups: staff",
		"policy require: policy.groups[0]: group staff; reply: Class",
		"account loaded: 1 device(s): phone (totp, id ",
		"round created: an Access-Challenge round of login 3f9ac21b5d7e: 3 attempt(s)",
	}, "pw-Secret-1", string(d.State))

	wrong := w.code(dev, 5)
	second := &stepTracer{}
	d, err = authenticate(context.Background(), w.engine, &Request{ID: "aaaabbbbcccc", User: "alice", Password: wrong, State: d.State, Client: "vpn", Source: nas,
		Login: ClientLogin{Mode: ModeChallenge}, Trace: second})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, d, Ask, ReasonBadPasscode)
	second.has(t, []string{"round found: login 3f9ac21b5d7e of alice, 3 attempt(s) left", "passcode bad_passcode: no device took it; checked: phone (totp)"}, wrong)
	if second.login != "3f9ac21b5d7e" {
		t.Errorf("the answer continues login %q, want 3f9ac21b5d7e", second.login)
	}

	code := w.code(dev, 0)
	third := &stepTracer{}
	d, err = authenticate(context.Background(), w.engine, &Request{ID: "ddddeeeeffff", User: "alice", Password: code, State: d.State, Client: "vpn", Source: nas,
		Login: ClientLogin{Mode: ModeChallenge}, Trace: third})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, d, Accept, ReasonOK)
	third.has(t, []string{"round found: login 3f9ac21b5d7e of alice, 2 attempt(s) left", "passcode ok: phone"}, code)
}

// TestTraceStepsPush: a traced push login tells the push started, its
// notification, the wait and the device's answer; a verified push never
// shows its number.
func TestTraceStepsPush(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	done := w.phone(0, cluster.PushApproved, "")
	tr := &stepTracer{}
	req := w.request(ModeAppend, "pw-Secret-2,push", nil)
	req.Trace = tr
	expect(t, w.login(0, req), Accept, ReasonPushApproved)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tr.has(t, []string{
		"input append: the password and the push keyword",
		"policy require: no rule matched: policy.default",
		"push started: push ",
		"push notified: phone (webhook)",
		"push waiting: for phone's answer, up to ",
		"push approved: phone answered approved at ",
	}, "pw-Secret-2")

	tr = &stepTracer{}
	req = w.request(ModeAuto, "pw-Secret-2", nil)
	req.Login.VerifiedPush = true
	req.Trace = tr
	d := w.login(0, req)
	expect(t, d, Ask, ReasonPushWaiting)
	var number string
	if _, err := fmtSscanNumber(d.Message, &number); err != nil {
		t.Fatalf("no number in %q", d.Message)
	}
	// The number alone (two digits) may well be in a time; the prompt
	// that shows it may not be anywhere.
	tr.has(t, []string{"push started: push ", "push challenge: the Access-Challenge shows the number to enter on phone"}, "Enter "+number, "pw-Secret-2")
}
