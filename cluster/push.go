package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// Pushes keeps push transactions: a login waiting for the user to tap
// Approve on a device. The node that handles the Access-Request creates
// one; any node's approval API records the device's answer; the waiting
// node learns it through a watch (Wait). A retransmission that reaches
// another node finds the same transaction through its join record, so a
// login gets one push however many nodes see it.
type Pushes struct {
	store Store
	keys  *Keyring

	// The hub (pushwait.go): one watch over push/ for the whole process,
	// fanned out to the logins waiting here.
	mu      sync.Mutex
	waiters map[string]map[*pushWaiter]struct{}
	running bool
	stop    context.CancelFunc
}

// NewPushes returns Pushes over store. keys signs each record, so that
// somebody who can write to etcd but lacks the key file can neither plant
// a push nor a join record.
func NewPushes(store Store, keys *Keyring) *Pushes {
	return &Pushes{store: store, keys: keys, waiters: make(map[string]map[*pushWaiter]struct{})}
}

// PushState is where a push transaction stands.
type PushState string

// Push states. Every state but PushPending is final.
const (
	PushPending  PushState = "pending"
	PushApproved PushState = "approved"
	PushDenied   PushState = "denied"
	// PushFraud is a deny marked "this wasn't me": the account is locked.
	PushFraud PushState = "fraud"
)

// Final reports whether s ends the wait.
func (s PushState) Final() bool { return s != PushPending }

// Push is one push transaction.
type Push struct {
	// ID is random and URL-safe; knowing it is not enough to answer, the
	// answer must carry the device's signature.
	ID string `json:"id"`
	// User is the User-Name as sent; Account the canonical name.
	User    string `json:"user"`
	Account string `json:"account"`
	// Device is the id of the device that got the push; DeviceName its
	// name, for logs and messages.
	Device     string `json:"device"`
	DeviceName string `json:"device_name"`
	// Client is the RADIUS client entry, NASAddr the address that asked,
	// NASID its NAS-Identifier and From the Calling-Station-Id: what the
	// device shows so the user can tell their own login.
	Client string `json:"client"`
	// Service is the name the device shows for Client (a RADIUS client's
	// display_name); empty in records written before it existed, and
	// then the device shows Client.
	Service string    `json:"service,omitempty"`
	NASAddr string    `json:"nas_addr"`
	NASID   string    `json:"nas_id,omitempty"`
	From    string    `json:"from,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Number is the number shown in the Access-Challenge (verified push),
	// sealed: a node that joins the login shows the same one. Empty when
	// the push is not verified.
	Number *Sealed `json:"number,omitempty"`
	// Data is the engine's own context (reply attributes to send).
	Data json.RawMessage `json:"data,omitempty"`
	// Login is the correlation id of the login that started the push
	// (LoginID), so that a node completing it logs and records the same;
	// empty for the portal's pushes and in records from before it
	// existed.
	Login string `json:"login,omitempty"`
	// KeyID and MAC sign every field above.
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`

	// State and Answer change once, from pending to final.
	State  PushState   `json:"state"`
	Answer *PushAnswer `json:"answer,omitempty"`
	// Notified is set once the notification left: a node taking the
	// transaction over sends it when the first node died before.
	Notified bool   `json:"notified,omitempty"`
	Nonce    string `json:"nonce"`
	rev      int64
}

// PushAnswer is a device's signed answer as the approval API received it.
type PushAnswer struct {
	// Decision is approved, denied or fraud.
	Decision PushState `json:"decision"`
	// Number is what the user typed into the app (verified push).
	Number string `json:"number,omitempty"`
	// At is the time the device signed, to the second.
	At time.Time `json:"at"`
	// Signature is the device's ECDSA P-256 signature (r||s) over
	// PushSigned(ID, Decision, Number, At); the waiting node checks it
	// again, so a write to etcd cannot approve.
	Signature []byte `json:"signature"`
	// Reason says why the API decided for the device ("number_mismatch");
	// empty for the device's own decision.
	Reason string `json:"reason,omitempty"`
	// Node is the approval API node that recorded it.
	Node string `json:"node,omitempty"`
}

// PushSigned is the message a device signs to answer push id: the
// protocol's one definition, shared by the simulator and the web
// authenticator.
func PushSigned(id string, decision PushState, number string, at time.Time) []byte {
	return fmt.Appendf(nil, "twostep-push-v1\n%s\n%s\n%s\n%d", id, decision, number, at.Unix())
}

// signed is what the record's MAC covers: everything that decides a login
// but the answer (which carries its own signature).
func (p *Push) signed() []byte {
	fields := []any{p.ID, p.User, p.Account, p.Device, p.DeviceName, p.Client, p.NASAddr, p.NASID, p.From,
		p.Created.UnixNano(), p.Expires.UnixNano(), p.Number, p.Data}
	if p.Service != "" {
		// Appended only when set, so that the MACs of records from nodes
		// that do not know the field still verify during an upgrade.
		fields = append(fields, p.Service)
	}
	if p.Login != "" {
		// Likewise, and tagged, so that it cannot pass for a Service.
		fields = append(fields, []string{"login", p.Login})
	}
	b, _ := json.Marshal(fields)
	return b
}

// ShownService is the service the device shows for p: Service, or Client in
// records without one.
func (p *Push) ShownService() string {
	if p.Service != "" {
		return p.Service
	}
	return p.Client
}

// Expired reports whether the push can no longer be answered at now.
func (p *Push) Expired(now time.Time) bool { return !now.Before(p.Expires) }

// Verified reports whether the push asks for the number shown at login.
func (p *Push) Verified() bool { return p.Number != nil }

// Errors of push transactions.
var (
	// ErrPushLimit: the user had as many pushes as the limit allows in
	// its window (push bombing).
	ErrPushLimit = errors.New("cluster: too many pushes")
	// ErrPushAnswered: the push has its answer already; a second answer
	// (a replay, another device tab) is refused.
	ErrPushAnswered = errors.New("cluster: push already answered")
	// ErrPushExpired: the push's time is over.
	ErrPushExpired = errors.New("cluster: push expired")
	// ErrJoinMismatch: a push was started for a request with the same
	// NAS, Identifier, Authenticator and user but another password: not
	// a retransmission (a forged or replayed packet).
	ErrJoinMismatch = errors.New("cluster: another request holds this join key")
)

// PushLimit bounds the pushes one user can be sent.
type PushLimit struct {
	// Count pushes per Window; 0 is no limit.
	Count  int           `yaml:"count"`
	Window time.Duration `yaml:"window"`
}

// PushLog is the times of a user's recent pushes, for PushLimit.
type PushLog struct {
	Recent []time.Time `json:"recent"`
	// Open lists the pushes that may still be pending, so that a device
	// can ask which logins wait for it (Pushes.Open).
	Open  []PushRef `json:"open,omitempty"`
	Nonce string    `json:"nonce"`
	rev   int64
}

// PushRef names one push of a user's log.
type PushRef struct {
	ID      string    `json:"id"`
	Device  string    `json:"device"`
	Expires time.Time `json:"expires"`
}

// within returns the pushes of l inside window before now.
func (l PushLog) within(window time.Duration, now time.Time) []time.Time {
	var out []time.Time
	for _, t := range l.Recent {
		if now.Sub(t) < window {
			out = append(out, t)
		}
	}
	return out
}

const (
	pushPurpose = "push record"
	joinPurpose = "push join"
	pushIDLen   = 16 // random bytes of a push id
)

func pushKey(id string) string        { return "push/" + id }
func pushJoinKey(join string) string  { return "push-join/" + join }
func pushLogKey(user string) string   { return userPrefix(user) + "pushes" }
func pushIDFromKey(key string) string { return strings.TrimPrefix(key, "push/") }

// joinRecord finds the push of a retransmitted request. Secret is a keyed
// hash of what the request carried (its password), so that only the same
// request joins.
type joinRecord struct {
	Push   string `json:"push"`
	KeyID  string `json:"kid"`
	Secret []byte `json:"secret"`
}

// JoinKey names a request for joining: the same NAS address, Identifier,
// Request Authenticator and User-Name is the same request, retransmitted,
// on whichever node it lands. The key is hashed, so etcdctl shows no
// authenticator.
func JoinKey(nas string, identifier byte, authenticator [16]byte, user string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", nas, identifier)
	h.Write(authenticator[:])
	h.Write([]byte(user))
	return hex.EncodeToString(h.Sum(nil))
}

// NewPushNumber returns a two-digit number, 10 to 99, for verified push.
func NewPushNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(90))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return fmt.Sprint(10 + n.Int64())
}

// PushStart is what Start keeps beside the push record itself.
type PushStart struct {
	// Number is verified push's number, sealed into the record; empty
	// for a plain push.
	Number string
	// Join names the request (JoinKey), so that a copy of it reaching
	// any node joins this push; empty for none (the portal's pushes).
	Join string
	// Secret binds the join record to the request's password: only a
	// copy of the request itself finds the push.
	Secret []byte
	// Limit caps the user's pushes in a window.
	Limit PushLimit
}

// Start stores p as a new pending push for acct, with a join record under
// s.Join (when not empty) bound to s.Secret, and counts it against
// s.Limit. It fills in p's id and signature. ErrPushLimit means the user
// already had Limit.Count pushes in the window (and no copy of the
// request started one); ErrConflict that acct's push log changed since
// Load (the caller loads again) or that a copy of the request started a
// push already (the caller joins it).
func (ps *Pushes) Start(ctx context.Context, acct *Account, p *Push, s PushStart, now time.Time) error {
	limit := s.Limit
	recent := acct.PushLog.within(limit.Window, now)
	if limit.Count > 0 && len(recent) >= limit.Count {
		// A copy of the request that started the last push (a NAS
		// failing over) is not a new push: it joins that one, whatever
		// the limit.
		if s.Join != "" {
			_, err := ps.store.Get(ctx, pushJoinKey(s.Join))
			switch {
			case err == nil:
				return fmt.Errorf("%w: a copy of this request started a push already", ErrConflict)
			case !errors.Is(err, ErrNotFound):
				return fmt.Errorf("cluster: read push join: %w", err)
			}
		}
		return fmt.Errorf("%w: %d in %v for %q", ErrPushLimit, len(recent), limit.Window, acct.Name)
	}
	id := make([]byte, pushIDLen)
	_, _ = rand.Read(id)
	p.ID = base64.RawURLEncoding.EncodeToString(id)
	p.Account, p.State, p.Nonce = acct.Name, PushPending, newNonce()
	p.Created, p.Expires = p.Created.UTC(), p.Expires.UTC()
	if s.Number != "" {
		sealed, err := ps.keys.Seal([]byte(s.Number), numberAAD(p.ID))
		if err != nil {
			return fmt.Errorf("cluster: seal push number: %w", err)
		}
		p.Number = &sealed
	}
	p.KeyID, p.MAC = ps.keys.MAC(pushPurpose, p.signed())
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ttl := p.Expires.Sub(now) + leaseSlack
	log := PushLog{Recent: append(recent, now.UTC()), Nonce: newNonce()}
	for _, r := range acct.PushLog.Open {
		if now.Before(r.Expires) {
			log.Open = append(log.Open, r)
		}
	}
	log.Open = append(log.Open, PushRef{ID: p.ID, Device: p.Device, Expires: p.Expires})
	lb, err := json.Marshal(log)
	if err != nil {
		return err
	}
	txn := Txn{
		If: []Compare{{Key: pushKey(p.ID)}, {Key: pushLogKey(acct.Name), ModRevision: acct.PushLog.rev}},
		Then: []Op{
			{Key: pushKey(p.ID), Value: b, TTL: ttl},
			// The log outlives the longest window worth counting.
			{Key: pushLogKey(acct.Name), Value: lb, TTL: max(limit.Window, ttl, time.Hour)},
		},
	}
	if s.Join != "" {
		kid, mac := ps.keys.MAC(joinPurpose, append([]byte(s.Join+"\x00"+p.ID+"\x00"), s.Secret...))
		jb, err := json.Marshal(joinRecord{Push: p.ID, KeyID: kid, Secret: mac})
		if err != nil {
			return err
		}
		// A join record already there is the push a copy of this
		// request started on another node meanwhile: ErrConflict, and
		// the caller joins it.
		txn.If = append(txn.If, Compare{Key: pushJoinKey(s.Join)})
		txn.Then = append(txn.Then, Op{Key: pushJoinKey(s.Join), Value: jb, TTL: ttl})
	}
	rev, err := ps.store.Commit(ctx, txn)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("cluster: start push for %q: %w", acct.Name, err)
	}
	p.rev = rev
	log.rev = rev
	acct.PushLog = log
	return nil
}

// Open returns acct's pushes still pending at now for device, oldest
// first: what the device's app shows when it is opened, whether or not
// its notification arrived.
func (ps *Pushes) Open(ctx context.Context, acct *Account, device string, now time.Time) ([]*Push, error) {
	var out []*Push
	for _, r := range acct.PushLog.Open {
		if r.Device != device || !now.Before(r.Expires) {
			continue
		}
		p, err := ps.Get(ctx, r.ID)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrTampered) {
			continue // a tampered one is counted, and shown to nobody
		}
		if err != nil {
			return nil, err
		}
		if p.State == PushPending && !p.Expired(now) && p.Account == acct.Name {
			out = append(out, p)
		}
	}
	return out, nil
}

// PendingSigned is what a device signs to list its pending pushes
// (Pushes.Open): the user and device it speaks for, and the time, so
// that a captured request soon stops working.
func PendingSigned(user, device string, at time.Time) []byte {
	return fmt.Appendf(nil, "twostep-pending-v1\n%s\n%s\n%d", user, device, at.Unix())
}

// Join returns the push that the request named join started on some
// node, when secret matches what that request carried: ErrNotFound when
// there is none, ErrJoinMismatch when the request had another secret,
// ErrPushExpired when its push is gone already, ErrTampered when its
// push fails its check.
func (ps *Pushes) Join(ctx context.Context, join string, secret []byte) (*Push, error) {
	e, err := ps.store.Get(ctx, pushJoinKey(join))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cluster: read push join: %w", err)
	}
	var j joinRecord
	if err := json.Unmarshal(e.Value, &j); err != nil {
		return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
	}
	if !ps.keys.VerifyMAC(j.KeyID, joinPurpose, append([]byte(join+"\x00"+j.Push+"\x00"), secret...), j.Secret) {
		// Another request in the same slot, or a planted record.
		return nil, ErrJoinMismatch
	}
	p, err := ps.Get(ctx, j.Push)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: the push this request started is gone", ErrPushExpired)
	}
	return p, err
}

// Get returns push id, ErrNotFound, or ErrTampered for a record that
// fails its signature (written by somebody without the key file).
func (ps *Pushes) Get(ctx context.Context, id string) (*Push, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return nil, ErrNotFound
	}
	e, err := ps.store.Get(ctx, pushKey(id))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cluster: read push: %w", err)
	}
	return ps.decode(e)
}

func (ps *Pushes) decode(e Entry) (*Push, error) {
	p := &Push{}
	if err := json.Unmarshal(e.Value, p); err != nil {
		return nil, ps.keys.tampered(KindPush, e.Key, err)
	}
	if p.ID != pushIDFromKey(e.Key) {
		return nil, ps.keys.tampered(KindPush, e.Key, fmt.Errorf("it names push %q", p.ID))
	}
	if err := ps.keys.verifyRecord(KindPush, e.Key, pushPurpose, p.KeyID, p.signed(), p.MAC); err != nil {
		return nil, err
	}
	p.rev = e.ModRevision
	return p, nil
}

// Number returns the number shown for verified push p.
func (ps *Pushes) Number(p *Push) (string, error) {
	if p.Number == nil {
		return "", fmt.Errorf("cluster: push %s is not verified", p.ID)
	}
	b, err := ps.keys.Open(*p.Number, numberAAD(p.ID))
	if err != nil {
		return "", fmt.Errorf("cluster: push %s: %w", p.ID, err)
	}
	return string(b), nil
}

// NumberMatches reports whether number is the one shown for p, in
// constant time.
func (ps *Pushes) NumberMatches(p *Push, number string) bool {
	want, err := ps.Number(p)
	return err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(number)) == 1
}

func numberAAD(id string) []byte { return []byte("push number\x00" + id) }

// Record stores a's answer to push id, once: ErrPushAnswered when it has
// one already, ErrPushExpired when its time is over. The caller has
// checked the device's signature. It returns the push as answered.
func (ps *Pushes) Record(ctx context.Context, id string, a PushAnswer, now time.Time) (*Push, error) {
	p, err := ps.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return ps.Answer(ctx, p, a.Decision, a, now)
}

// Answer is Record for a push the caller has just read, with the state
// the answer puts it in (the device's decision, or denied when the
// number of a verified push does not match).
func (ps *Pushes) Answer(ctx context.Context, p *Push, state PushState, a PushAnswer, now time.Time) (*Push, error) {
	var out *Push
	read := false
	err := Retry(ctx, "answer push "+p.ID, func(ctx context.Context) error {
		if read {
			// Notified set meanwhile, or another answer: read again.
			got, err := ps.Get(ctx, p.ID)
			if err != nil {
				return err
			}
			p = got
		}
		read = true
		switch {
		case p.State.Final():
			out = p
			return ErrPushAnswered
		case p.Expired(now):
			out = p
			return ErrPushExpired
		}
		next := *p
		next.State, next.Answer, next.Nonce = state, &a, newNonce()
		if err := ps.write(ctx, &next, now); err != nil {
			return err
		}
		out = &next
		return nil
	})
	if err != nil && out == nil {
		return nil, err
	}
	return out, err
}

// MarkNotified records that p's notification left. It compares p's
// revision, so of several nodes taking a push over to send its
// notification again, the one whose mark lands sends (the others get
// ErrConflict).
func (ps *Pushes) MarkNotified(ctx context.Context, p *Push, now time.Time) error {
	next := *p
	next.Notified, next.Nonce = true, newNonce()
	if err := ps.write(ctx, &next, now); err != nil {
		return err
	}
	*p = next
	return nil
}

// write replaces p's record if it is still at p.rev.
func (ps *Pushes) write(ctx context.Context, p *Push, now time.Time) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	ttl := max(p.Expires.Sub(now), 0) + leaseSlack
	rev, err := ps.store.Commit(ctx, Txn{
		If:   []Compare{{Key: pushKey(p.ID), ModRevision: p.rev}},
		Then: []Op{{Key: pushKey(p.ID), Value: b, TTL: ttl}},
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("cluster: update push: %w", err)
	}
	p.rev = rev
	return nil
}
