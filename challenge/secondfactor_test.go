package challenge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/directory"
)

// sfWorld is an Engine with the passcode factor over the in-memory store,
// one user "alice" whose password is "pw", and a clock the test moves.
type sfWorld struct {
	t        *testing.T
	store    cluster.Store
	keys     *cluster.Keyring
	accounts *cluster.Accounts
	engine   *Engine
	clock    atomic.Int64 // unix nanoseconds
	dir      *fakeDirectory
}

var sfStart = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newSFWorld(t *testing.T, cfg Passcodes, policy Policy, store cluster.Store) *sfWorld {
	t.Helper()
	keyFile, err := cluster.NewKeyFile(rand.Reader, sfStart)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cluster.ParseKeyring(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if store == nil {
		store = memstore.New()
	}
	w := &sfWorld{t: t, store: store, keys: keys, accounts: cluster.NewAccounts(store, keys)}
	w.clock.Store(sfStart.UnixNano())
	w.dir = &fakeDirectory{res: directory.Result{Status: directory.OK, User: directory.User{Name: "alice", Groups: []string{"staff"}}}}
	w.engine = NewEngine(w.dir, policy,
		WithPasscodes(cfg, w.accounts, cluster.NewChallenges(store, keys)),
		WithClock(w.now))
	return w
}

func (w *sfWorld) now() time.Time          { return time.Unix(0, w.clock.Load()).UTC() }
func (w *sfWorld) advance(d time.Duration) { w.clock.Add(int64(d)) }

// enroll gives alice a TOTP device and returns it.
func (w *sfWorld) enroll(name string) otp.TOTP {
	w.t.Helper()
	secret, err := otp.NewTOTPSecret(rand.Reader, "SHA1")
	if err != nil {
		w.t.Fatal(err)
	}
	_, err = w.accounts.AddDevice(context.Background(), "alice", cluster.Device{
		Name: name, Type: cluster.TOTP, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, Secret: secret, Created: w.now(),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return otp.TOTP{Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second}
}

// code is the device's code at the world's now, shifted by steps.
func (w *sfWorld) code(t otp.TOTP, steps int64) string { return t.Code(t.Step(w.now()) + steps) }

var nas = netip.MustParseAddrPort("192.0.2.10:40000")

func (w *sfWorld) login(mode Mode, password string, state []byte) Decision {
	w.t.Helper()
	d, err := authenticate(context.Background(), w.engine, &Request{
		User: "alice", Password: password, State: state, Client: "vpn", Source: nas,
		Login: ClientLogin{Mode: mode},
	})
	if err != nil {
		w.t.Fatalf("Authenticate: %v", err)
	}
	return d
}

func expect(t *testing.T, d Decision, outcome Outcome, reason Reason) {
	t.Helper()
	if d.Outcome != outcome || d.Reason != reason {
		t.Fatalf("got %s/%s (%q), want %s/%s", d.Outcome, d.Reason, d.Message, outcome, reason)
	}
}

var staffPolicy = Policy{Groups: []GroupRule{{Group: "staff", Action: Require, Reply: []Attribute{{Name: "Class", Value: "staff"}}}}}

func defaultPasscodes() Passcodes {
	return Passcodes{Window: otp.DefaultWindow(), Lockout: cluster.LockoutPolicy{Attempts: 5, Duration: 15 * time.Minute}}
}

func TestAppendMode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
	dev := w.enroll("phone")

	d := w.login(ModeAppend, "pw,"+w.code(dev, 0), nil)
	expect(t, d, Accept, ReasonOK)
	if len(d.Attributes) != 1 || d.Attributes[0].Value != "staff" || d.Device != "phone" {
		t.Errorf("got attributes %v device %q, want the staff rule's Class and device phone", d.Attributes, d.Device)
	}
	t.Run("a code is accepted once", func(t *testing.T) {
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Reject, ReasonPasscodeReplayed)
	})
	t.Run("an older code after a newer one is a replay", func(t *testing.T) {
		w.advance(30 * time.Second)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, -1), nil), Reject, ReasonPasscodeReplayed)
	})
	t.Run("a code two steps old is refused", func(t *testing.T) {
		w.advance(90 * time.Second)
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, -2), nil), Reject, ReasonBadPasscode)
	})
	t.Run("no code in append mode rejects without a hint", func(t *testing.T) {
		d := w.login(ModeAppend, "pw", nil)
		expect(t, d, Reject, ReasonBadPasscode)
		if d.Message != "" {
			t.Errorf("got message %q; a wrong code must not tell that the password was right", d.Message)
		}
	})
	t.Run("the directory sees the password without the code", func(t *testing.T) {
		w.advance(30 * time.Second)
		w.dir.res.Status = directory.BadPassword
		defer func() { w.dir.res.Status = directory.OK }()
		expect(t, w.login(ModeAppend, "pw,"+w.code(dev, 0), nil), Reject, ReasonBadPassword)
	})
}

func TestChallengeMode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, nil)
	dev := w.enroll("phone")

	first := w.login(ModeChallenge, "pw", nil)
	expect(t, first, Ask, ReasonPasscodeRequested)
	if len(first.State) != 16 || first.Message != DefaultPrompt {
		t.Fatalf("got State of %d bytes and prompt %q, want 16 bytes and %q", len(first.State), first.Message, DefaultPrompt)
	}
	d := w.login(ModeChallenge, w.code(dev, 0), first.State)
	expect(t, d, Accept, ReasonOK)
	if len(d.Attributes) != 1 || d.Attributes[0].Value != "staff" {
		t.Errorf("got attributes %v, want the staff rule's Class from the first round", d.Attributes)
	}
	t.Run("a State is single use", func(t *testing.T) {
		w.advance(30 * time.Second)
		d := w.login(ModeChallenge, w.code(dev, 0), first.State)
		expect(t, d, Reject, ReasonBadState)
		if d.Message != msgLoginOver {
			t.Errorf("got %q, want %q: the login was finished, not timed out", d.Message, msgLoginOver)
		}
	})
	t.Run("wrong answers get another try, then a reject", func(t *testing.T) {
		c := w.login(ModeChallenge, "pw", nil)
		again := w.login(ModeChallenge, "000000", c.State)
		expect(t, again, Ask, ReasonBadPasscode)
		if string(again.State) != string(c.State) || again.Message != msgWrongCode {
			t.Errorf("got %q with another State; want the same State and %q", again.Message, msgWrongCode)
		}
		expect(t, w.login(ModeChallenge, "000001", c.State), Ask, ReasonBadPasscode)
		expect(t, w.login(ModeChallenge, "000002", c.State), Reject, ReasonBadPasscode)
		expect(t, w.login(ModeChallenge, w.code(dev, 0), c.State), Reject, ReasonBadState)
	})
	t.Run("expired", func(t *testing.T) {
		c := w.login(ModeChallenge, "pw", nil)
		w.advance(DefaultChallengeTTL + time.Second)
		d := w.login(ModeChallenge, w.code(dev, 0), c.State)
		expect(t, d, Reject, ReasonChallengeExpired)
		if d.Message != msgTimedOut {
			t.Errorf("got %q, want %q", d.Message, msgTimedOut)
		}
	})
	t.Run("bound to the user and the NAS", func(t *testing.T) {
		w.advance(30 * time.Second)
		c := w.login(ModeChallenge, "pw", nil)
		for _, req := range []*Request{
			{User: "mallory", Password: w.code(dev, 0), State: c.State, Client: "vpn", Source: nas},
			{User: "alice", Password: w.code(dev, 0), State: c.State, Client: "other", Source: nas},
			{User: "alice", Password: w.code(dev, 0), State: c.State, Client: "vpn", Source: netip.MustParseAddrPort("192.0.2.11:40000")},
		} {
			d, err := authenticate(context.Background(), w.engine, req)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, d, Reject, ReasonBadState)
		}
		expect(t, w.login(ModeChallenge, w.code(dev, 0), c.State), Accept, ReasonOK)
	})
	t.Run("an answer grouped with spaces or dashes", func(t *testing.T) {
		for _, group := range []func(string) string{
			func(c string) string { return c[:3] + " " + c[3:] },
			func(c string) string { return c[:3] + "-" + c[3:] },
		} {
			w.advance(30 * time.Second)
			c := w.login(ModeChallenge, "pw", nil)
			expect(t, w.login(ModeChallenge, group(w.code(dev, 0)), c.State), Accept, ReasonOK)
		}
	})
	t.Run("an unknown State", func(t *testing.T) {
		for _, state := range [][]byte{make([]byte, 16), []byte("short")} {
			d := w.login(ModeChallenge, "123456", state)
			expect(t, d, Reject, ReasonBadState)
			if d.Message != "This login was already finished or has expired. Log in again." {
				t.Errorf("got %q, want the login finished or expired", d.Message)
			}
		}
	})
}

func TestAutoMode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	dev := w.enroll("phone")
	expect(t, w.login(ModeAuto, "pw,"+w.code(dev, 0), nil), Accept, ReasonOK)
	c := w.login(ModeAuto, "pw", nil)
	expect(t, c, Ask, ReasonPasscodeRequested)
	w.advance(30 * time.Second)
	expect(t, w.login(ModeAuto, w.code(dev, 0), c.State), Accept, ReasonOK)
}

func TestSeveralDevices(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	phone := w.enroll("phone")
	token := w.enroll("backup token")
	expect(t, w.login(ModeAppend, "pw,"+w.code(token, 0), nil), Accept, ReasonOK)
	expect(t, w.login(ModeAppend, "pw,"+w.code(phone, 0), nil), Accept, ReasonOK)
}

// failingStore fails every call as an unreachable etcd does.
type failingStore struct{}

func (failingStore) Get(context.Context, string) (cluster.Entry, error) {
	return cluster.Entry{}, cluster.ErrUnavailable
}
func (failingStore) List(context.Context, string) ([]cluster.Entry, error) {
	return nil, cluster.ErrUnavailable
}
func (failingStore) Watch(context.Context, string) <-chan cluster.WatchEvent {
	ch := make(chan cluster.WatchEvent)
	close(ch)
	return ch
}

func (failingStore) Commit(context.Context, cluster.Txn) (int64, error) {
	return 0, cluster.ErrUnavailable
}

func TestFailMode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), staffPolicy, failingStore{})
	d := w.login(ModeAuto, "pw,123456", nil)
	expect(t, d, Reject, ReasonFailSecure)
	if d.Message != msgUnavailable || !errors.Is(d.Err, cluster.ErrUnavailable) {
		t.Errorf("got message %q err %v, want %q and the store's error for the log", d.Message, d.Err, msgUnavailable)
	}
	d, err := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "pw", Client: "vpn", Source: nas, Login: ClientLogin{FailMode: Safe}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, d, Accept, ReasonFailSafe)
	if len(d.Attributes) != 1 {
		t.Errorf("failmode safe sends the rule's attributes; got %v", d.Attributes)
	}
	t.Run("a wrong password is refused whatever the fail mode", func(t *testing.T) {
		w.dir.res.Status = directory.BadPassword
		d, _ := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "x", Client: "vpn", Source: nas, Login: ClientLogin{FailMode: Safe}})
		expect(t, d, Reject, ReasonBadPassword)
	})
	t.Run("a challenge answer is never let in by fail mode", func(t *testing.T) {
		d, _ := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "123456", State: make([]byte, 16), Client: "vpn", Source: nas, Login: ClientLogin{FailMode: Safe}})
		expect(t, d, Reject, ReasonFailSecure)
	})
}

// TestCodeAcceptedOnceUnderConcurrency sends one code 50 times at once
// through one engine: the used-step compare-and-swap lets exactly one in.
func TestCodeAcceptedOnceUnderConcurrency(t *testing.T) {
	w := newSFWorld(t, Passcodes{Window: otp.DefaultWindow()}, Policy{}, nil)
	dev := w.enroll("phone")
	code := w.code(dev, 0)
	var accepted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if w.login(ModeAppend, "pw,"+code, nil).Outcome == Accept {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Fatalf("got %d accepts of one code, want 1", n)
	}
}

func TestHardwareTokens(t *testing.T) {
	ctx := context.Background()
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	secret := []byte("12345678901234567890") // RFC 4226 Appendix D
	if err := w.accounts.ImportTokens(ctx, []cluster.Token{{Serial: "HOTP1", Type: cluster.HOTP, Algorithm: "SHA1", Digits: 6, Secret: secret}}, w.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.accounts.AssignToken(ctx, "HOTP1", "alice", "key fob", w.now()); err != nil {
		t.Fatal(err)
	}
	h := otp.HOTP{Secret: secret, Digits: 6}
	expect(t, w.login(ModeAppend, "pw,"+h.Code(0), nil), Accept, ReasonOK)
	expect(t, w.login(ModeAppend, "pw,"+h.Code(0), nil), Reject, ReasonPasscodeReplayed) // counter spent
	expect(t, w.login(ModeAppend, "pw,"+h.Code(5), nil), Accept, ReasonOK)               // button pressed a few times
	expect(t, w.login(ModeAppend, "pw,"+h.Code(3), nil), Reject, ReasonPasscodeReplayed) // skipped, behind the counter
	expect(t, w.login(ModeAppend, "pw,"+h.Code(20), nil), Reject, ReasonBadPasscode)     // beyond the look-ahead of 10
	// Replays are not guesses: none of them counted toward lockout.
	if acct, _ := w.accounts.Load(ctx, "alice"); acct.Lockout.Failures != 1 {
		t.Errorf("failures %d, want 1 (only the code beyond the look-ahead)", acct.Lockout.Failures)
	}
	t.Run("a lost token stops at once", func(t *testing.T) {
		if _, err := w.accounts.MarkTokenLost(ctx, "HOTP1", w.now()); err != nil {
			t.Fatal(err)
		}
		expect(t, w.login(ModeAppend, "pw,"+h.Code(6), nil), Reject, ReasonNotEnrolled)
	})
}

// brokenStore reads like the memory store but refuses every write with
// an error that is not unreachability (etcd's NOSPACE alarm, say).
type brokenStore struct{ cluster.Store }

func (brokenStore) Commit(context.Context, cluster.Txn) (int64, error) {
	return 0, errors.New("etcdserver: mvcc: database space exceeded")
}

func TestOnlyUnreachabilityIsAFailMode(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	w.enroll("phone")
	safe := ClientLogin{Mode: ModeAppend, FailMode: Safe}
	t.Run("a wrong code whose failure cannot be counted is an error, never a fail mode", func(t *testing.T) {
		w.engine = NewEngine(w.dir, Policy{}, WithPasscodes(defaultPasscodes(), cluster.NewAccounts(brokenStore{w.store}, w.keys), cluster.NewChallenges(w.store, w.keys)), WithClock(w.now))
		d, err := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "pw,000000", Client: "vpn", Source: nas, Login: safe})
		if !errors.Is(err, ErrUncounted) || d.Outcome != Reject {
			t.Errorf("got %+v, %v; want an error wrapping ErrUncounted (the RADIUS layer's plain Reject)", d, err)
		}
	})
	t.Run("a seed that does not open is an error, not a fail mode", func(t *testing.T) {
		other, _ := cluster.ParseKeyring(mustKeyFile(t))
		w.engine = NewEngine(w.dir, Policy{}, WithPasscodes(defaultPasscodes(), cluster.NewAccounts(w.store, other), cluster.NewChallenges(w.store, other)), WithClock(w.now))
		d, err := authenticate(context.Background(), w.engine, &Request{User: "alice", Password: "pw,000000", Client: "vpn", Source: nas, Login: safe})
		if d.Outcome == Accept {
			t.Fatalf("got %+v, %v: a broken record let the password alone in", d, err)
		}
	})
}

func mustKeyFile(t *testing.T) []byte {
	t.Helper()
	b, err := cluster.NewKeyFile(rand.Reader, sfStart)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSameWrongCodeCountsAgainLater(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	w.enroll("phone")
	for range 5 {
		expect(t, w.login(ModeAppend, "pw,000000", nil), Reject, ReasonBadPasscode)
	}
	acct, _ := w.accounts.Load(context.Background(), "alice")
	if acct.Lockout.Failures != 1 {
		t.Fatalf("got %d failures for one code sent five times at once, want 1", acct.Lockout.Failures)
	}
	for range 3 {
		w.advance(cluster.SameCodeStep)
		w.login(ModeAppend, "pw,000000", nil)
	}
	acct, _ = w.accounts.Load(context.Background(), "alice")
	if acct.Lockout.Failures != 4 {
		t.Errorf("a fixed guess tried on new steps: got %d failures, want 4", acct.Lockout.Failures)
	}
}

// TestParallelAnswersSpendAttempts sends 20 wrong answers to one State at
// once: no more codes are checked than the challenge has attempts.
func TestParallelAnswersSpendAttempts(t *testing.T) {
	cfg := defaultPasscodes()
	cfg.Lockout.Attempts = 100
	w := newSFWorld(t, cfg, Policy{}, nil)
	w.enroll("phone")
	c := w.login(ModeChallenge, "pw", nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { w.login(ModeChallenge, fmt.Sprintf("%06d", 100000+i), c.State) })
	}
	wg.Wait()
	acct, _ := w.accounts.Load(context.Background(), "alice")
	if acct.Lockout.Failures > DefaultChallengeAttempts {
		t.Errorf("got %d codes checked on one State, want at most %d", acct.Lockout.Failures, DefaultChallengeAttempts)
	}
}

func TestForgedChallengeRecord(t *testing.T) {
	w := newSFWorld(t, defaultPasscodes(), Policy{}, nil)
	dev := w.enroll("phone")
	c := w.login(ModeChallenge, "pw", nil)
	// Somebody with write access to etcd but not the key file raises the
	// reply attributes of a waiting login.
	entries, _ := w.store.List(context.Background(), "challenges/")
	forged := strings.Replace(string(entries[0].Value), `"data":`, `"data":{"reply":[{"Name":"Class","Value":"admins"}]},"x":`, 1)
	if _, err := w.store.Commit(context.Background(), cluster.Txn{Then: []cluster.Op{cluster.Put(entries[0].Key, []byte(forged))}}); err != nil {
		t.Fatal(err)
	}
	d := w.login(ModeChallenge, w.code(dev, 0), c.State)
	expect(t, d, Reject, ReasonBadState)
	if d.Err == nil {
		t.Error("a forged record is logged")
	}
}
