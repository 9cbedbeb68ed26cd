package challenge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/directory"
	"twostep/notify"
)

// fakeNotifier hands notifications to the test's phone; err fails them.
type fakeNotifier struct {
	mu   sync.Mutex
	err  error
	sent []notify.Message
	ch   chan notify.Message
}

func (f *fakeNotifier) Notify(_ context.Context, _ notify.Target, m notify.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m)
	f.ch <- m
	return nil
}

func (f *fakeNotifier) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// pushWorld is one user, alice, with push devices, on one or more
// engines (nodes) sharing a store.
type pushWorld struct {
	t        *testing.T
	store    *memstore.Store
	keys     *cluster.Keyring
	accounts *cluster.Accounts
	dir      *fakeDirectory
	notifier *fakeNotifier
	nodes    []*Engine
	devices  map[string]*ecdsa.PrivateKey // by device id
	ids      []string                     // device ids, oldest first
}

func newPushWorld(t *testing.T, nodes int, limit cluster.PushLimit) *pushWorld {
	t.Helper()
	return newPushWorldConfig(t, nodes, PushConfig{Limit: limit})
}

// newPushWorldConfig is newPushWorld with cfg for every node (its Node
// set per node).
func newPushWorldConfig(t *testing.T, nodes int, cfg PushConfig) *pushWorld {
	t.Helper()
	keyFile, _ := cluster.NewKeyFile(rand.Reader, time.Now())
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w := &pushWorld{t: t, store: memstore.New(), keys: keys, devices: map[string]*ecdsa.PrivateKey{},
		notifier: &fakeNotifier{ch: make(chan notify.Message, 100)}}
	w.accounts = cluster.NewAccounts(w.store, keys)
	w.dir = &fakeDirectory{res: directory.Result{Status: directory.OK, User: directory.User{Name: "alice"}}}
	audit := cluster.NewAudit(w.store, 0)
	for i := range nodes {
		ps := cluster.NewPushes(w.store, keys)
		t.Cleanup(ps.Close)
		nc := cfg
		nc.Node = "node" + string(rune('1'+i))
		w.nodes = append(w.nodes, NewEngine(w.dir, Policy{Groups: []GroupRule{{Group: "vip", VerifiedPush: true}}},
			WithPasscodes(Passcodes{Lockout: cluster.LockoutPolicy{Attempts: 10}}, w.accounts, cluster.NewChallenges(w.store, keys)),
			WithPush(nc, ps, w.notifier),
			WithAudit(audit, "test")))
	}
	return w
}

func (w *pushWorld) addPhone(name string) string {
	w.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := key.PublicKey.Bytes()
	d, err := cluster.NewPushDevice(name, cluster.PushDevice{PublicKey: pub, Kind: "webhook", Endpoint: "https://example.net/hook"}, time.Now().Add(time.Duration(len(w.ids))*time.Second))
	if err != nil {
		w.t.Fatal(err)
	}
	d, err = w.accounts.AddDevice(context.Background(), "alice", d)
	if err != nil {
		w.t.Fatal(err)
	}
	w.devices[d.ID] = key
	w.ids = append(w.ids, d.ID)
	return d.ID
}

func sign(key *ecdsa.PrivateKey, id string, decision cluster.PushState, number string, at time.Time) []byte {
	sum := sha256.Sum256(cluster.PushSigned(id, decision, number, at))
	r, s, _ := ecdsa.Sign(rand.Reader, key, sum[:])
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}

// pushReply is a device's answer as the approval API passes it on.
type pushReply struct {
	id, device string
	a          cluster.PushAnswer
}

func answerPush(ctx context.Context, e *Engine, r pushReply) (*cluster.Push, error) {
	return e.AnswerPush(ctx, r.id, r.device, r.a)
}

// answer has the phone that got m answer it through node.
func (w *pushWorld) answer(node int, m notify.Message, decision cluster.PushState, number string) error {
	at := time.Now()
	_, err := w.nodes[node].AnswerPush(context.Background(), m.Tx, m.Device, cluster.PushAnswer{Decision: decision,
		Number: number, At: at, Signature: sign(w.devices[m.Device], m.Tx, decision, number, at)})
	return err
}

// phone answers the next notification after delay, in the background.
func (w *pushWorld) phone(delay time.Duration, decision cluster.PushState, number string) <-chan error {
	done := make(chan error, 1)
	go func() {
		select {
		case m := <-w.notifier.ch:
			time.Sleep(delay)
			done <- w.answer(0, m, decision, number)
		case <-time.After(10 * time.Second):
			done <- errors.New("no notification within 10s")
		}
	}()
	return done
}

var pushNAS = netip.MustParseAddrPort("192.0.2.20:41000")

func (w *pushWorld) request(mode Mode, password string, state []byte) *Request {
	// Every request is a new one (a random Request Authenticator), as a
	// NAS sends them; a retransmission is a copy.
	var auth [16]byte
	_, _ = rand.Read(auth[:])
	return &Request{User: "alice", Password: password, State: state, Client: "vpn", Source: pushNAS,
		Identifier: 9, Authenticator: auth,
		Login: ClientLogin{Mode: mode, NASTimeout: 2 * time.Second, NASRetries: 0}}
}

func (w *pushWorld) login(node int, req *Request) Decision {
	w.t.Helper()
	d, err := authenticate(context.Background(), w.nodes[node], req)
	if err != nil {
		w.t.Fatalf("Authenticate: %v", err)
	}
	return d
}

func TestPushAppend(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	second := w.addPhone("tablet")

	t.Run("approved", func(t *testing.T) {
		done := w.phone(100*time.Millisecond, cluster.PushApproved, "")
		d := w.login(0, w.request(ModeAppend, "pw,push", nil))
		expect(t, d, Accept, ReasonPushApproved)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d.Device != "phone" {
			t.Errorf("device %q, want phone (the default)", d.Device)
		}
	})
	t.Run("push2 goes to the second device", func(t *testing.T) {
		var got notify.Message
		done := make(chan struct{})
		go func() {
			got = <-w.notifier.ch
			_ = w.answer(0, got, cluster.PushApproved, "")
			close(done)
		}()
		expect(t, w.login(0, w.request(ModeAppend, "pw,push2", nil)), Accept, ReasonPushApproved)
		<-done
		if got.Device != second || got.Service != "vpn" || got.User != "alice" {
			t.Errorf("notification %+v, want device %s", got, second)
		}
	})
	t.Run("the device shows the client's display name", func(t *testing.T) {
		var got notify.Message
		var rec *cluster.Push
		done := make(chan error, 1)
		go func() {
			got = <-w.notifier.ch
			var err error
			if rec, err = w.nodes[0].push.pushes.Get(context.Background(), got.Tx); err == nil {
				err = w.answer(0, got, cluster.PushApproved, "")
			}
			done <- err
		}()
		req := w.request(ModeAppend, "pw,push", nil)
		req.Service = "Staff VPN"
		expect(t, w.login(0, req), Accept, ReasonPushApproved)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got.Service != "Staff VPN" || got.Purpose != "" {
			t.Errorf("notification service %q purpose %q, want Staff VPN and no purpose", got.Service, got.Purpose)
		}
		// The record keeps the client's own name for logs and checks.
		if rec.Client != "vpn" || rec.Service != "Staff VPN" {
			t.Errorf("push record client %q service %q, want vpn and Staff VPN", rec.Client, rec.Service)
		}
	})
	t.Run("denied", func(t *testing.T) {
		done := w.phone(0, cluster.PushDenied, "")
		d := w.login(0, w.request(ModeAppend, "pw,push", nil))
		expect(t, d, Reject, ReasonPushDenied)
		if d.Message != msgPushDenied {
			t.Errorf("message %q", d.Message)
		}
		<-done
	})
	t.Run("no answer in time", func(t *testing.T) {
		start := time.Now()
		expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonPushTimeout)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("waited %v for a NAS that waits 2s", took)
		}
		<-w.notifier.ch
	})
	t.Run("a device that does not exist", func(t *testing.T) {
		expect(t, w.login(0, w.request(ModeAppend, "pw,push7", nil)), Reject, ReasonPushNoDevice)
	})
}

// TestPushDeviceCount: pushN beyond the user's push devices says how
// many there are.
func TestPushDeviceCount(t *testing.T) {
	tests := []struct {
		name     string
		phones   int
		password string
		want     string
	}{
		{"none, an authenticator app only", 0, "pw,push", msgPushNoDevice},
		{"push2 of one", 1, "pw,push2", "You have 1 device for push approval: use push or push1, or a passcode."},
		{"push3 of two", 2, "pw,push3", "You have 2 devices for push approval: use push1 to push2, or a passcode."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPushWorld(t, 1, cluster.PushLimit{})
			app := cluster.Device{Name: "app", Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: []byte("12345678901234567890"), Created: time.Now()}
			if _, err := w.accounts.AddDevice(context.Background(), "alice", app); err != nil {
				t.Fatal(err)
			}
			for i := range tt.phones {
				w.addPhone(fmt.Sprint("phone ", i+1))
			}
			d := w.login(0, w.request(ModeAppend, tt.password, nil))
			expect(t, d, Reject, ReasonPushNoDevice)
			if d.Message != tt.want {
				t.Errorf("got %q, want %q", d.Message, tt.want)
			}
			if n := w.notifier.count(); n != 0 {
				t.Errorf("%d pushes sent, want none", n)
			}
		})
	}
}

func TestPushSignatures(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	ctx := context.Background()
	result := make(chan Decision, 1)
	go func() { result <- w.login(0, w.request(ModeAppend, "pw,push", nil)) }()
	m := <-w.notifier.ch

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	at := time.Now()
	tries := []struct {
		name string
		r    pushReply
	}{
		{"another key", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at, Signature: sign(other, m.Tx, cluster.PushApproved, "", at)}}},
		{"signed for deny, sent as approve", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at, Signature: sign(w.devices[m.Device], m.Tx, cluster.PushDenied, "", at)}}},
		{"signed for another push", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at, Signature: sign(w.devices[m.Device], "other", cluster.PushApproved, "", at)}}},
		{"an old signature", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at.Add(-time.Hour), Signature: sign(w.devices[m.Device], m.Tx, cluster.PushApproved, "", at.Add(-time.Hour))}}},
		{"no signature", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at}}},
		{"another device id", pushReply{m.Tx, "nope", cluster.PushAnswer{Decision: cluster.PushApproved, At: at, Signature: sign(w.devices[m.Device], m.Tx, cluster.PushApproved, "", at)}}},
		{"a made-up decision", pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: "maybe", At: at, Signature: sign(w.devices[m.Device], m.Tx, "maybe", "", at)}}},
	}
	for _, tc := range tries {
		if _, err := answerPush(ctx, w.nodes[0], tc.r); !errors.Is(err, ErrAnswerRefused) {
			t.Errorf("%s: got %v, want ErrAnswerRefused", tc.name, err)
		}
	}
	good := pushReply{m.Tx, m.Device, cluster.PushAnswer{Decision: cluster.PushApproved, At: at, Signature: sign(w.devices[m.Device], m.Tx, cluster.PushApproved, "", at),
		Reason: "made_up", Node: "elsewhere"}} // the engine's to set, not the device's
	got, err := answerPush(ctx, w.nodes[0], good)
	if err != nil {
		t.Fatal(err)
	}
	if got.Answer.Reason != "" || got.Answer.Node != "node1" {
		t.Errorf("recorded reason %q, node %q; want none, node1", got.Answer.Reason, got.Answer.Node)
	}
	expect(t, <-result, Accept, ReasonPushApproved)
	if _, err := answerPush(ctx, w.nodes[0], good); !errors.Is(err, cluster.ErrPushAnswered) {
		t.Errorf("the same answer again: %v, want ErrPushAnswered", err)
	}

	t.Run("an approval written to the store without the device's key", func(t *testing.T) {
		result := make(chan Decision, 1)
		go func() { result <- w.login(0, w.request(ModeAppend, "pw,push", nil)) }()
		m := <-w.notifier.ch
		// Somebody with the key file but not the device's key records
		// an approval with a junk signature.
		ps := cluster.NewPushes(w.store, w.keys)
		defer ps.Close()
		if _, err := ps.Record(ctx, m.Tx, cluster.PushAnswer{Decision: cluster.PushApproved, At: time.Now(), Signature: make([]byte, 64)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		expect(t, <-result, Reject, ReasonPushBadSignature)
	})
}

func TestPushFraudLocks(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	done := w.phone(0, cluster.PushFraud, "")
	expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonPushFraud)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acct, _ := w.accounts.Load(context.Background(), "alice")
	if !acct.Lockout.Locked(time.Now()) || !acct.Lockout.LockedUntil.IsZero() {
		t.Fatalf("lockout %+v, want locked until an admin unlocks", acct.Lockout)
	}
	d := w.login(0, w.request(ModeAppend, "pw,push", nil))
	expect(t, d, Reject, ReasonLockedOut)
	if d.Message != msgLockedFraud || acct.Lockout.LockedBy() != cluster.LockFraud {
		t.Errorf("got %q (cause %s), want %q: the user reported a login, not wrong codes", d.Message, acct.Lockout.LockedBy(), msgLockedFraud)
	}
	if w.notifier.count() != 1 {
		t.Errorf("%d pushes, want 1: a locked user gets none", w.notifier.count())
	}
	events, _ := cluster.NewAudit(w.store, 0).List(context.Background(), time.Time{}, "alice")
	var got []string
	for _, ev := range events {
		got = append(got, ev.Action+" by "+ev.Actor+": "+ev.Detail)
	}
	// The lock commits with its event; the device's answer is recorded
	// after it, at the same instant of the engine's clock: the trail
	// orders events of one instant by their nonce, so compare sorted.
	slices.Sort(got)
	want := []string{"push.fraud by test: ", "user.lock by test: cause fraud, until an admin unlocks"}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || got[1] != want[1] {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPushLimit(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{Count: 3, Window: 5 * time.Minute})
	w.addPhone("phone")
	for range 3 {
		done := w.phone(0, cluster.PushDenied, "")
		expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonPushDenied)
		<-done
	}
	d := w.login(0, w.request(ModeAppend, "pw,push", nil))
	expect(t, d, Reject, ReasonPushLimited)
	if w.notifier.count() != 3 {
		t.Errorf("%d pushes sent, want 3", w.notifier.count())
	}
}

func TestPushChallengeFlows(t *testing.T) {
	t.Run("auto: too slow for the NAS, then Enter", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		d := w.login(0, w.request(ModeAuto, "pw", nil))
		expect(t, d, Ask, ReasonPushWaiting)
		if d.Message != msgPushWaiting || len(d.State) == 0 {
			t.Fatalf("got %+v", d)
		}
		m := <-w.notifier.ch
		if err := w.answer(0, m, cluster.PushApproved, ""); err != nil {
			t.Fatal(err)
		}
		expect(t, w.login(0, w.request(ModeAuto, "", d.State)), Accept, ReasonPushApproved)
		if w.notifier.count() != 1 {
			t.Errorf("%d pushes, want 1", w.notifier.count())
		}
	})
	t.Run("challenge mode: a menu of devices", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		tablet := w.addPhone("tablet")
		d := w.login(0, w.request(ModeChallenge, "pw", nil))
		expect(t, d, Ask, ReasonPushMenu)
		if d.Message != "Choose: 1: push to phone, 2: push to tablet, or type a passcode." {
			t.Fatalf("menu %q", d.Message)
		}
		var got notify.Message
		go func() {
			got = <-w.notifier.ch
			_ = w.answer(0, got, cluster.PushApproved, "")
		}()
		expect(t, w.login(0, w.request(ModeChallenge, "2", d.State)), Accept, ReasonPushApproved)
		if got.Device != tablet {
			t.Errorf("push went to %s, want the tablet", got.Device)
		}
	})
	t.Run("verified push: the number shown must be entered", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		req := w.request(ModeAuto, "pw", nil)
		req.Login.VerifiedPush = true
		d := w.login(0, req)
		expect(t, d, Ask, ReasonPushWaiting)
		var number string
		if _, err := fmtSscanNumber(d.Message, &number); err != nil {
			t.Fatalf("no number in %q", d.Message)
		}
		m := <-w.notifier.ch
		if !m.Number {
			t.Error("notification does not ask for the number")
		}
		wrong := "10"
		if number == "10" {
			wrong = "11"
		}
		if err := w.answer(0, m, cluster.PushApproved, wrong); !errors.Is(err, ErrNumberMismatch) {
			t.Fatalf("wrong number: %v, want ErrNumberMismatch", err)
		}
		r := w.login(0, w.request(ModeAuto, "", d.State))
		expect(t, r, Reject, ReasonPushDenied)
		if r.Message != msgPushMismatch {
			t.Errorf("message %q", r.Message)
		}

		req = w.request(ModeAuto, "pw", nil)
		req.Login.VerifiedPush = true
		d = w.login(0, req)
		m = <-w.notifier.ch
		if _, err := fmtSscanNumber(d.Message, &number); err != nil {
			t.Fatalf("no number in %q", d.Message)
		}
		if err := w.answer(0, m, cluster.PushApproved, number); err != nil {
			t.Fatal(err)
		}
		expect(t, w.login(0, w.request(ModeAuto, "", d.State)), Accept, ReasonPushApproved)
	})
	t.Run("verified push: Enter before the approval asks again, with the number", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		req := w.request(ModeAuto, "pw", nil)
		req.Login.VerifiedPush = true
		d := w.login(0, req)
		expect(t, d, Ask, ReasonPushWaiting)
		m := <-w.notifier.ch
		again := w.login(0, w.request(ModeAuto, "", d.State))
		expect(t, again, Ask, ReasonPushWaiting)
		if again.Message != d.Message || string(again.State) != string(d.State) {
			t.Errorf("asked again with %q, want the first prompt %q, number included, with the same State", again.Message, d.Message)
		}
		var number string
		if _, err := fmtSscanNumber(again.Message, &number); err != nil {
			t.Fatalf("no number in %q", again.Message)
		}
		if err := w.answer(0, m, cluster.PushApproved, number); err != nil {
			t.Fatal(err)
		}
		expect(t, w.login(0, w.request(ModeAuto, "", d.State)), Accept, ReasonPushApproved)
	})
	t.Run("verified push needs a client that shows challenges", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		req := w.request(ModeAppend, "pw,push", nil)
		req.Login.VerifiedPush = true
		expect(t, w.login(0, req), Reject, ReasonPushNeedsPrompt)
	})
}

// fmtSscanNumber finds the two-digit number in a verified push prompt.
func fmtSscanNumber(msg string, out *string) (int, error) {
	for f := range strings.FieldsSeq(msg) {
		if len(f) == 2 && f[0] >= '1' && f[0] <= '9' && f[1] >= '0' && f[1] <= '9' {
			*out = f
			return 1, nil
		}
	}
	return 0, errors.New("no number")
}

func TestPushJoinAcrossNodes(t *testing.T) {
	w := newPushWorld(t, 2, cluster.PushLimit{})
	w.addPhone("phone")
	req := w.request(ModeAppend, "pw,push", nil)
	results := make(chan Decision, 2)
	go func() { results <- w.login(0, req) }()
	m := <-w.notifier.ch
	// The NAS gives up on node 1 and sends the same request to node 2.
	copyReq := *req
	go func() { results <- w.login(1, &copyReq) }()
	time.Sleep(100 * time.Millisecond)
	if err := w.answer(1, m, cluster.PushApproved, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		expect(t, <-results, Accept, ReasonPushApproved)
	}
	if n := w.notifier.count(); n != 1 {
		t.Errorf("%d pushes for one login, want 1", n)
	}
	if n := w.dir.calls.Load(); n != 1 {
		t.Errorf("%d password checks for one login, want 1", n)
	}
	t.Run("the same packet identity with another password does not join", func(t *testing.T) {
		other := *req
		other.Password = "guess,push"
		expect(t, w.login(1, &other), Reject, ReasonBadState)
		if n := w.notifier.count(); n != 1 {
			t.Errorf("%d pushes, want still 1", n)
		}
	})
}

// TestPushCopyJoinsAtTheLimit: the copy of a request whose push was the
// last the limit allows (the NAS failed over while the user looked at
// the phone) joins that push instead of being refused as push_limited.
func TestPushCopyJoinsAtTheLimit(t *testing.T) {
	w := newPushWorld(t, 2, cluster.PushLimit{Count: 1, Window: 5 * time.Minute})
	w.addPhone("phone")
	req := w.request(ModeAppend, "pw,push", nil)
	results := make(chan Decision, 2)
	go func() { results <- w.login(0, req) }()
	m := <-w.notifier.ch
	copyReq := *req
	go func() { results <- w.login(1, &copyReq) }()
	time.Sleep(100 * time.Millisecond)
	if err := w.answer(1, m, cluster.PushApproved, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		expect(t, <-results, Accept, ReasonPushApproved)
	}
	// A new login is over the limit.
	expect(t, w.login(1, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonPushLimited)
}

// TestPushResentWhileTheCopyWaits: the node that started a push died
// before its notification left, and the NAS's copy of the request
// reached another node at once. That node sends the notification once
// the push is ResendAfter old, checking the push's record then, while
// the login waits, and the login completes.
func TestPushResentWhileTheCopyWaits(t *testing.T) {
	w := newPushWorldConfig(t, 1, PushConfig{ResendAfter: 300 * time.Millisecond})
	id := w.addPhone("phone")
	ctx := context.Background()
	req := w.request(ModeAppend, "pw,push", nil)
	// What the dead node did: the push and its join record, nothing sent.
	acct, err := w.accounts.Load(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dead := cluster.NewPushes(w.store, w.keys)
	p := &cluster.Push{User: "alice", Device: id, DeviceName: "phone", Client: "vpn", NASAddr: pushNAS.Addr().String(),
		Created: now, Expires: now.Add(time.Minute), Data: []byte(`{}`)}
	if err := dead.Start(ctx, acct, p, cluster.PushStart{Join: joinKey(req), Secret: []byte(req.Password)}, now); err != nil {
		t.Fatal(err)
	}
	done := w.phone(0, cluster.PushApproved, "")
	copyReq := *req
	expect(t, w.login(0, &copyReq), Accept, ReasonPushApproved)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := w.notifier.count(); n != 1 {
		t.Errorf("%d notifications, want 1", n)
	}
}

// TestPushCopyOfAGonePush: the copy of a request whose push is gone (or
// edited in etcd) while its join record stays ends at once, refused,
// instead of colliding with the join record until its deadline.
func TestPushCopyOfAGonePush(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(ctx context.Context, store *memstore.Store, key string) error
		reason Reason
	}{
		{"deleted", func(ctx context.Context, s *memstore.Store, key string) error {
			_, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Delete(key)}})
			return err
		}, ReasonPushTimeout},
		{"edited", func(ctx context.Context, s *memstore.Store, key string) error {
			e, err := s.Get(ctx, key)
			if err != nil {
				return err
			}
			_, err = s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(key, []byte(strings.Replace(string(e.Value), `"client":"vpn"`, `"client":"other"`, 1)))}})
			return err
		}, ReasonBadState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newPushWorld(t, 1, cluster.PushLimit{})
			id := w.addPhone("phone")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req := w.request(ModeAppend, "pw,push", nil)
			acct, err := w.accounts.Load(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			p := &cluster.Push{User: "alice", Device: id, DeviceName: "phone", Client: "vpn", NASAddr: pushNAS.Addr().String(),
				Created: now, Expires: now.Add(time.Minute), Data: []byte(`{}`)}
			if err := cluster.NewPushes(w.store, w.keys).Start(ctx, acct, p, cluster.PushStart{Join: joinKey(req), Secret: []byte(req.Password)}, now); err != nil {
				t.Fatal(err)
			}
			if err := tc.edit(ctx, w.store, "push/"+p.ID); err != nil {
				t.Fatal(err)
			}
			copyReq := *req
			d, err := authenticate(ctx, w.nodes[0], &copyReq)
			if err != nil || ctx.Err() != nil {
				t.Fatalf("got %+v, %v (context: %v); want an answer at once", d, err, ctx.Err())
			}
			expect(t, d, Reject, tc.reason)
		})
	}
}

func TestPushNotifierDown(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	w.notifier.err = errors.New("connection refused")
	expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonFailSecure)
	req := w.request(ModeAppend, "pw,push", nil)
	req.Login.FailMode = Safe
	expect(t, w.login(0, req), Accept, ReasonFailSafe)
	w.notifier.err = notify.ErrGone
	expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, ReasonPushUndelivered)
}

// TestPushAnswersLater is the RADIUS layer's way: a login that waits for
// the device is released and Authenticate returns at once; the answer
// comes through the Responder, with the user's canonical name.
func TestPushAnswersLater(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	ctx := context.Background()
	r := newRecorder()
	w.nodes[0].Authenticate(ctx, w.request(ModeAppend, "pw,push", nil), r)
	if r.answered.Load() || r.released.Load() != 1 {
		t.Fatalf("on return: answered %v, released %d times; want no answer yet, released once", r.answered.Load(), r.released.Load())
	}
	m := <-w.notifier.ch
	if err := w.answer(0, m, cluster.PushApproved, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-r.answer:
		if a.err != nil {
			t.Fatal(a.err)
		}
		expect(t, a.d, Accept, ReasonPushApproved)
		if a.d.User != "alice" {
			t.Errorf("user %q, want alice (the directory's name)", a.d.User)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no final decision")
	}

	t.Run("ends pending when the NAS stops waiting", func(t *testing.T) {
		r := newRecorder()
		w.nodes[0].Authenticate(ctx, w.request(ModeAppend, "pw,push", nil), r)
		<-w.notifier.ch
		start := time.Now()
		a := <-r.answer
		expect(t, a.d, Reject, ReasonPushTimeout)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v for a NAS that waits 2s", took)
		}
	})
}

// TestPushAnswerRoundWaitsInPlace: an answer to a challenge round that
// waits for the device (Enter pressed before the approval, a device
// chosen from the menu) is released before it waits, and answered
// before Authenticate returns: the round's State is finished by what
// the device answered.
func TestPushAnswerRoundWaitsInPlace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   Mode
		answer string // the second round's password box
	}{
		{"enter pressed before the approval", ModeAuto, ""},
		{"a device chosen from the menu", ModeChallenge, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newPushWorld(t, 1, cluster.PushLimit{})
			w.addPhone("phone")
			first := w.login(0, w.request(tc.mode, "pw", nil))
			if first.Outcome != Ask {
				t.Fatalf("first round: got %s/%s, want a challenge", first.Outcome, first.Reason)
			}
			done := w.phone(300*time.Millisecond, cluster.PushApproved, "")
			r := newRecorder()
			w.nodes[0].Authenticate(context.Background(), w.request(tc.mode, tc.answer, first.State), r)
			if !r.answered.Load() || r.released.Load() < 1 {
				t.Fatalf("on return: answered %v, released %d times; want answered, released", r.answered.Load(), r.released.Load())
			}
			a := <-r.answer
			if a.err != nil {
				t.Fatal(a.err)
			}
			expect(t, a.d, Accept, ReasonPushApproved)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPushStoreWritesCannotApprove: somebody who can write to etcd (and
// even holds the key file) but not the device's key cannot turn a denied
// or mismatched answer into an approval.
func TestPushStoreWritesCannotApprove(t *testing.T) {
	ctx := context.Background()
	flip := func(t *testing.T, w *pushWorld, id string) {
		e, err := w.store.Get(ctx, "push/"+id)
		if err != nil {
			t.Fatal(err)
		}
		forged := strings.Replace(string(e.Value), `"state":"denied"`, `"state":"approved"`, 1)
		if _, err := w.store.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put(e.Key, []byte(forged))}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("a denied answer flipped to approved", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		d := w.login(0, w.request(ModeAuto, "pw", nil)) // too slow for the NAS: a challenge
		expect(t, d, Ask, ReasonPushWaiting)
		m := <-w.notifier.ch
		if err := w.answer(0, m, cluster.PushDenied, ""); err != nil {
			t.Fatal(err)
		}
		flip(t, w, m.Tx)
		// The watch may still carry the denial (also a Reject); the
		// flipped record itself is refused for its signature.
		got := w.login(0, w.request(ModeAuto, "", d.State))
		if got.Outcome != Reject || (got.Reason != ReasonPushBadSignature && got.Reason != ReasonPushDenied) {
			t.Fatalf("got %s/%s, want a reject", got.Outcome, got.Reason)
		}
	})
	t.Run("a wrong number flipped to approved", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		req := w.request(ModeAuto, "pw", nil)
		req.Login.VerifiedPush = true
		d := w.login(0, req)
		m := <-w.notifier.ch
		var number string
		fmtSscanNumber(d.Message, &number)
		wrong := "10"
		if number == wrong {
			wrong = "11"
		}
		if err := w.answer(0, m, cluster.PushApproved, wrong); !errors.Is(err, ErrNumberMismatch) {
			t.Fatalf("wrong number: %v", err)
		}
		flip(t, w, m.Tx)
		got := w.login(0, w.request(ModeAuto, "", d.State))
		if got.Outcome != Reject || (got.Reason != ReasonPushBadSignature && got.Reason != ReasonPushDenied) {
			t.Fatalf("got %s/%s, want a reject", got.Outcome, got.Reason)
		}
	})
	t.Run("a forged record read directly", func(t *testing.T) {
		w := newPushWorld(t, 1, cluster.PushLimit{})
		w.addPhone("phone")
		w.login(0, w.request(ModeAuto, "pw", nil))
		m := <-w.notifier.ch
		if err := w.answer(0, m, cluster.PushDenied, ""); err != nil {
			t.Fatal(err)
		}
		flip(t, w, m.Tx)
		acct, _ := w.accounts.Load(ctx, "alice")
		p, err := cluster.NewPushes(w.store, w.keys).Get(ctx, m.Tx)
		if err != nil || p.State != cluster.PushApproved {
			t.Fatalf("flip: %+v %v", p, err)
		}
		expect(t, w.nodes[0].pushOutcome(acct, p, nil), Reject, ReasonPushBadSignature)
	})
}

func TestPushMenuKeepsGroupVerification(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.dir.res.User.Groups = []string{"vip"} // policy: vip asks for the number
	w.addPhone("phone")
	d := w.login(0, w.request(ModeChallenge, "pw", nil))
	expect(t, d, Ask, ReasonPushMenu)
	d = w.login(0, w.request(ModeChallenge, "1", d.State))
	expect(t, d, Ask, ReasonPushWaiting)
	var number string
	if _, err := fmtSscanNumber(d.Message, &number); err != nil {
		t.Fatalf("the menu's push is not verified: %q", d.Message)
	}
	if m := <-w.notifier.ch; !m.Number {
		t.Error("notification does not ask for the number")
	}
}

func TestPushRefusedDeliveryIsNoFailMode(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	w.notifier.err = fmt.Errorf("status 400: %w", notify.ErrRefused)
	req := w.request(ModeAppend, "pw,push", nil)
	req.Login.FailMode = Safe
	expect(t, w.login(0, req), Reject, ReasonPushUndelivered)
}

func TestPushLateFraudReportLocks(t *testing.T) {
	w := newPushWorld(t, 1, cluster.PushLimit{})
	w.addPhone("phone")
	done := w.phone(0, cluster.PushApproved, "")
	expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Accept, ReasonPushApproved)
	<-done
	// The user taps "this wasn't me" on the same push afterwards.
	w.notifier.mu.Lock()
	m := w.notifier.sent[0]
	w.notifier.mu.Unlock()
	if err := w.answer(0, m, cluster.PushFraud, ""); !errors.Is(err, cluster.ErrPushAnswered) {
		t.Fatalf("late fraud report: %v, want ErrPushAnswered", err)
	}
	acct, _ := w.accounts.Load(context.Background(), "alice")
	if !acct.Lockout.Locked(time.Now()) {
		t.Fatal("a late fraud report did not lock the account")
	}
}

// refusingStore refuses every write, as an etcd whose RBAC does not let
// the node write there.
type refusingStore struct{ cluster.Store }

func (refusingStore) Commit(context.Context, cluster.Txn) (int64, error) {
	return 0, errors.New("etcdserver: permission denied")
}

// TestPushAnswerUnaudited: a device's answer whose audit event cannot be
// written stands (the login is denied, a fraud report locks), and the
// error says the event is missing, for the approval API's log.
func TestPushAnswerUnaudited(t *testing.T) {
	tests := []struct {
		decision cluster.PushState
		reason   Reason
	}{
		{cluster.PushDenied, ReasonPushDenied},
		{cluster.PushFraud, ReasonPushFraud},
	}
	for _, tt := range tests {
		t.Run(string(tt.decision), func(t *testing.T) {
			w := newPushWorld(t, 1, cluster.PushLimit{})
			ps := cluster.NewPushes(w.store, w.keys)
			t.Cleanup(ps.Close)
			w.nodes[0] = NewEngine(w.dir, Policy{},
				WithPasscodes(Passcodes{Lockout: cluster.LockoutPolicy{Attempts: 10}}, w.accounts, cluster.NewChallenges(w.store, w.keys)),
				WithPush(PushConfig{Node: "node1"}, ps, w.notifier),
				WithAudit(cluster.NewAudit(refusingStore{w.store}, 0), "test"))
			w.addPhone("phone")
			done := w.phone(0, tt.decision, "")
			expect(t, w.login(0, w.request(ModeAppend, "pw,push", nil)), Reject, tt.reason)
			if err := <-done; !errors.Is(err, ErrUnaudited) || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("answer: got %v, want ErrUnaudited with the store's error", err)
			}
			acct, _ := w.accounts.Load(context.Background(), "alice")
			if locked := acct.Lockout.Locked(time.Now()); locked != (tt.decision == cluster.PushFraud) {
				t.Errorf("locked %v after %s", locked, tt.decision)
			}
		})
	}
}
