package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The hardware token inventory: tokens are imported unassigned (from the
// vendor's CSV or PSKC file), assigned to a user (which makes them one of
// the user's devices), unassigned, or marked lost (which removes the
// device at once, on every node).

// HOTP is an event-based hardware token (RFC 4226): a button that shows
// the next code.
const HOTP DeviceType = "hotp"

// TokenState is where a token of the inventory is.
type TokenState string

// Token states.
const (
	TokenUnassigned TokenState = "unassigned"
	TokenAssigned   TokenState = "assigned"
	TokenLost       TokenState = "lost"
)

// Token is a hardware token of the inventory.
type Token struct {
	Serial    string
	Type      DeviceType // TOTP or HOTP
	Algorithm string
	Digits    int
	Period    time.Duration // TOTP
	// Counter is the first HOTP counter the token will show.
	Counter       uint64
	Model, Issuer string
	// Secret is the seed, in memory only; nil when listed.
	Secret   []byte
	State    TokenState
	User     string // when assigned
	DeviceID string // when assigned
	Imported time.Time
	Changed  time.Time
}

type tokenRecord struct {
	Serial    string     `json:"serial"`
	Type      DeviceType `json:"type"`
	Algorithm string     `json:"algorithm"`
	Digits    int        `json:"digits"`
	Period    int        `json:"period_seconds,omitempty"`
	Counter   uint64     `json:"counter,omitempty"`
	Model     string     `json:"model,omitempty"`
	Issuer    string     `json:"issuer,omitempty"`
	State     TokenState `json:"state"`
	User      string     `json:"user,omitempty"`
	DeviceID  string     `json:"device_id,omitempty"`
	Imported  time.Time  `json:"imported"`
	Changed   time.Time  `json:"changed"`
	Seed      Sealed     `json:"seed"`
	Nonce     string     `json:"nonce"`
}

// Errors of the inventory.
var (
	// ErrNoToken: no token has that serial.
	ErrNoToken = errors.New("cluster: no such token")
	// ErrTokenExists: an imported serial is already in the inventory.
	ErrTokenExists = errors.New("cluster: token already in the inventory")
	// ErrTokenState: the token is not in the state the operation needs.
	ErrTokenState = errors.New("cluster: token state")
)

func tokenKey(serial string) string { return "tokens/" + url.PathEscape(serial) }

// aad is what the token's seed is sealed with: its serial and every
// field that decides how its codes are checked (type, algorithm, digits,
// period, first counter), so that an edited record no longer opens. The
// state, owner and times may change without touching the seed.
func (r tokenRecord) aad() []byte {
	return fmt.Appendf(nil, "token\x00%s\x00%s\x00%s\x00%d\x00%d\x00%d",
		r.Serial, r.Type, r.Algorithm, r.Digits, r.Period, r.Counter)
}
func (r tokenRecord) public() Token {
	return Token{
		Serial: r.Serial, Type: r.Type, Algorithm: r.Algorithm, Digits: r.Digits,
		Period: time.Duration(r.Period) * time.Second, Counter: r.Counter, Model: r.Model, Issuer: r.Issuer,
		State: r.State, User: r.User, DeviceID: r.DeviceID, Imported: r.Imported, Changed: r.Changed,
	}
}

// importBatch keeps each transaction of an import well under etcd's
// default limit of 128 operations.
const importBatch = 100

// ImportTokens adds tokens to the inventory, unassigned. It is all or
// nothing: when a serial is already there, or a write fails, nothing
// stays (batches already written are taken back).
func (a *Accounts) ImportTokens(ctx context.Context, tokens []Token, now time.Time) error {
	seen := map[string]bool{}
	var ops []Op
	for _, t := range tokens {
		if t.Serial == "" || seen[t.Serial] {
			return fmt.Errorf("cluster: import: serial %q empty or listed twice", t.Serial)
		}
		seen[t.Serial] = true
		if t.Type != TOTP && t.Type != HOTP {
			return fmt.Errorf("cluster: import: token %q: type %q", t.Serial, t.Type)
		}
		r := tokenRecord{
			Serial: t.Serial, Type: t.Type, Algorithm: t.Algorithm, Digits: t.Digits, Period: int(t.Period / time.Second),
			Counter: t.Counter, Model: t.Model, Issuer: t.Issuer, State: TokenUnassigned,
			Imported: now.UTC(), Changed: now.UTC(), Nonce: newNonce(),
		}
		seed, err := a.keys.Seal(t.Secret, r.aad())
		if err != nil {
			return fmt.Errorf("cluster: import: seal token %q: %w", t.Serial, err)
		}
		r.Seed = seed
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		ops = append(ops, Put(tokenKey(t.Serial), v))
	}
	// The event commits with the last batch: the import is whole exactly
	// when its event is there.
	ev, err := a.event(now, ActionTokenImport, "", importText(tokens))
	if err != nil {
		return err
	}
	batches := slices.Collect(slices.Chunk(ops, importBatch))
	var written []Compare // the records written, at the revision of their batch
	for i, batch := range batches {
		txn := Txn{Then: batch}
		for _, op := range batch {
			txn.If = append(txn.If, Compare{Key: op.Key, ModRevision: 0})
		}
		if i == len(batches)-1 {
			txn.Then = append(slices.Clip(batch), ev...)
		}
		rev, err := a.store.Commit(ctx, txn)
		if err != nil {
			a.rollback(ctx, written)
			if errors.Is(err, ErrConflict) {
				return fmt.Errorf("%w: %s", ErrTokenExists, a.existing(ctx, batch))
			}
			return fmt.Errorf("cluster: import tokens: %w (nothing was imported)", err)
		}
		for _, op := range batch {
			written = append(written, Compare{Key: op.Key, ModRevision: rev})
		}
	}
	return nil
}

// importText says what an import brought, for its audit event: "120
// tokens (100 hotp, 20 totp)".
func importText(tokens []Token) string {
	kinds := map[DeviceType]int{}
	for _, t := range tokens {
		kinds[t.Type]++
	}
	var parts []string
	for _, k := range []DeviceType{HOTP, TOTP} {
		if kinds[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
		}
	}
	n := fmt.Sprintf("%d tokens", len(tokens))
	if len(tokens) == 1 {
		n = "1 token"
	}
	return n + " (" + strings.Join(parts, ", ") + ")"
}

// rollback deletes the records an import wrote before it failed. Each
// delete compares the revision the import wrote the record at, so a
// record somebody changed meanwhile (assigned at once by another admin)
// stays; a batch with such a record is taken back key by key. It runs on
// after the caller's context ends (a timeout is what failed the import).
func (a *Accounts) rollback(ctx context.Context, written []Compare) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for batch := range slices.Chunk(written, importBatch) {
		txn := Txn{If: batch}
		for _, c := range batch {
			txn.Then = append(txn.Then, Delete(c.Key))
		}
		if _, err := a.store.Commit(ctx, txn); !errors.Is(err, ErrConflict) {
			continue
		}
		for _, c := range batch {
			_, _ = a.store.Commit(ctx, Txn{If: []Compare{c}, Then: []Op{Delete(c.Key)}})
		}
	}
}

// existing names the serials of batch already in the inventory.
func (a *Accounts) existing(ctx context.Context, batch []Op) string {
	var serials []string
	for _, op := range batch {
		if _, err := a.store.Get(ctx, op.Key); err == nil {
			serials = append(serials, lastPart(op.Key))
		}
	}
	if len(serials) > 5 {
		return fmt.Sprintf("%v and %d more (nothing was imported)", serials[:5], len(serials)-5)
	}
	return fmt.Sprintf("%v (nothing was imported)", serials)
}

// Tokens lists the inventory, sorted by serial, without seeds.
func (a *Accounts) Tokens(ctx context.Context) ([]Token, error) {
	entries, err := a.store.List(ctx, "tokens/")
	if err != nil {
		return nil, fmt.Errorf("cluster: tokens: %w", err)
	}
	out := make([]Token, 0, len(entries))
	for _, e := range entries {
		var r tokenRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		out = append(out, r.public())
	}
	return out, nil
}

// Token returns the token with serial, without its seed.
func (a *Accounts) Token(ctx context.Context, serial string) (Token, error) {
	r, _, err := a.readToken(ctx, serial)
	return r.public(), err
}

func (a *Accounts) readToken(ctx context.Context, serial string) (tokenRecord, Entry, error) {
	e, err := a.store.Get(ctx, tokenKey(serial))
	if errors.Is(err, ErrNotFound) {
		return tokenRecord{}, Entry{}, fmt.Errorf("%w: %q", ErrNoToken, serial)
	}
	if err != nil {
		return tokenRecord{}, Entry{}, fmt.Errorf("cluster: token %q: %w", serial, err)
	}
	var r tokenRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return tokenRecord{}, Entry{}, a.keys.tampered(KindToken, e.Key, err)
	}
	if r.Serial != serial {
		// Copied from another serial's record: its seed would open (the
		// additional data names the record's own serial), so refuse it.
		return tokenRecord{}, Entry{}, a.keys.tampered(KindToken, e.Key, fmt.Errorf("it names serial %q", r.Serial))
	}
	return r, e, nil
}

// AssignToken makes the unassigned token serial a device of user named
// name, in one transaction with the inventory record.
func (a *Accounts) AssignToken(ctx context.Context, serial, user, name string, now time.Time) (Device, error) {
	return a.AssignTokenIf(ctx, serial, user, name, now, nil)
}

// ErrTokenCheck: the check of AssignTokenIf refused the token.
var ErrTokenCheck = errors.New("cluster: the token's check failed")

// AssignTokenIf assigns as AssignToken does, but only when check (given
// the device about to be stored, seed included) accepts it: a user
// proves holding the token with a code before it becomes theirs, and a
// wrong code assigns nothing (ErrTokenCheck). check gets the first HOTP
// counter the token will show and returns the step or counter to record
// as used with the assignment. Like any second factor, the code is
// refused while the user is locked (ErrLocked), and a right one commits
// against the lockout it read (a lock that lands meanwhile wins) and
// clears the failures.
func (a *Accounts) AssignTokenIf(ctx context.Context, serial, user, name string, now time.Time, check func(d Device, next uint64) (used int64, ok bool)) (Device, error) {
	if err := checkDeviceName(name); err != nil {
		return Device{}, err
	}
	id := randomHex(8)
	var d Device
	_, err := Update(ctx, a.store, fmt.Sprintf("assign token %q to %q", serial, user), func(ctx context.Context) (Txn, error) {
		r, te, err := a.readToken(ctx, serial)
		if err != nil {
			return Txn{}, err
		}
		if r.State != TokenUnassigned {
			return Txn{}, fmt.Errorf("%w: token %q is %s%s; only unassigned tokens can be assigned", ErrTokenState, serial, r.State, ownerNote(r))
		}
		secret, err := a.keys.openSealed(KindToken, te.Key, r.Seed, r.aad())
		if err != nil {
			return Txn{}, err
		}
		guard, vop, err := a.deviceSetGuard(ctx, user, name, "", secret, false)
		if err != nil {
			return Txn{}, err
		}
		var lockOps []Op
		if check != nil {
			l, err := a.readLockout(ctx, user)
			if err != nil {
				return Txn{}, err
			}
			if l.Locked(now) {
				return Txn{}, fmt.Errorf("%w: %q", ErrLocked, user)
			}
			guard = append(guard, Compare{Key: lockoutKey(user), ModRevision: l.rev})
			if l.rev != 0 {
				lockOps = append(lockOps, Delete(lockoutKey(user)))
			}
		}
		d = Device{
			ID: id, Name: name, Type: r.Type, Created: now.UTC().Truncate(time.Second),
			Algorithm: r.Algorithm, Digits: r.Digits, Period: time.Duration(r.Period) * time.Second,
			Secret: secret, Serial: serial,
		}
		dv, err := a.sealDevice(user, d)
		if err != nil {
			return Txn{}, err
		}
		ops := []Op{Put(deviceKey(user, d.ID), dv), vop}
		guard = append(guard, Compare{Key: te.Key, ModRevision: te.ModRevision}, Compare{Key: deviceKey(user, d.ID), ModRevision: 0})
		fc, fop, err := a.firstSeenWrite(ctx, user, now)
		if err != nil {
			return Txn{}, err
		}
		guard, ops = append(guard, fc...), append(ops, fop...)
		if check != nil {
			used, ok := check(d, r.Counter)
			if !ok {
				return Txn{}, fmt.Errorf("%w: token %q", ErrTokenCheck, serial)
			}
			u, err := json.Marshal(UsedStep{Step: used, At: now.UTC(), Nonce: newNonce()})
			if err != nil {
				return Txn{}, err
			}
			ops = append(ops, Put(usedKey(user, d.ID), u))
		} else if r.Type == HOTP && r.Counter > 0 {
			// The used step of an HOTP device is its last counter: a token
			// starting at counter c has "used" c-1.
			u, err := json.Marshal(UsedStep{Step: int64(r.Counter) - 1, At: now.UTC(), Nonce: newNonce()})
			if err != nil {
				return Txn{}, err
			}
			ops = append(ops, Put(usedKey(user, d.ID), u))
		}
		// The canonical name, not its key form: releaseToken builds the keys.
		r.State, r.User, r.DeviceID, r.Changed, r.Nonce = TokenAssigned, strings.ToLower(user), d.ID, now.UTC(), newNonce()
		tv, err := json.Marshal(r)
		if err != nil {
			return Txn{}, err
		}
		ev, err := a.event(now, ActionTokenAssign, user, fmt.Sprintf("token %s (%s) as device %q (id %s)", serial, r.Type, name, d.ID))
		if err != nil {
			return Txn{}, err
		}
		return Txn{If: guard, Then: slices.Concat(ops, []Op{Put(te.Key, tv)}, lockOps, ev)}, nil
	})
	if err != nil {
		return Device{}, err
	}
	return d, nil
}

// UnassignToken takes serial back from its user into the inventory, as
// when a token is handed in; MarkTokenLost does the same but keeps it out
// of use. Either way the device stops working on every node at once.
func (a *Accounts) UnassignToken(ctx context.Context, serial string, now time.Time) (Token, error) {
	return a.releaseToken(ctx, serial, TokenUnassigned, now)
}

// MarkTokenLost disables serial at once: its device is removed and the
// token cannot be assigned again until it is found (UnassignToken).
func (a *Accounts) MarkTokenLost(ctx context.Context, serial string, now time.Time) (Token, error) {
	return a.releaseToken(ctx, serial, TokenLost, now)
}

func (a *Accounts) releaseToken(ctx context.Context, serial string, to TokenState, now time.Time) (Token, error) {
	var before Token
	_, err := Update(ctx, a.store, fmt.Sprintf("token %q", serial), func(ctx context.Context) (Txn, error) {
		r, te, err := a.readToken(ctx, serial)
		if err != nil {
			return Txn{}, err
		}
		before = r.public()
		if r.State == to {
			return Txn{}, fmt.Errorf("%w: token %q is already %s", ErrTokenState, serial, to)
		}
		ops := []Op{}
		owner, detail := "", fmt.Sprintf("token %s (%s), was %s", serial, r.Type, r.State)
		if r.State == TokenAssigned {
			_, vop, err := a.versionGuard(ctx, r.User)
			if err != nil {
				return Txn{}, err
			}
			ops = append(ops, Delete(deviceKey(r.User, r.DeviceID)), Delete(usedKey(r.User, r.DeviceID)), vop)
			owner, detail = r.User, fmt.Sprintf("token %s (%s), %s removed", serial, r.Type, a.deviceLabel(ctx, r))
		}
		action := ActionTokenUnassign
		if to == TokenLost {
			action = ActionTokenLost
		}
		ev, err := a.event(now, action, owner, detail)
		if err != nil {
			return Txn{}, err
		}
		r.State, r.User, r.DeviceID, r.Changed, r.Nonce = to, "", "", now.UTC(), newNonce()
		tv, err := json.Marshal(r)
		if err != nil {
			return Txn{}, err
		}
		return Txn{If: []Compare{{Key: te.Key, ModRevision: te.ModRevision}}, Then: slices.Concat(ops, []Op{Put(te.Key, tv)}, ev)}, nil
	})
	return before, err
}

// deviceLabel names the device assigned token r is, for an audit event:
// with its name when it reads (a label only: nothing decides on it), and
// by id alone when a is not audited or the record does not read.
func (a *Accounts) deviceLabel(ctx context.Context, r tokenRecord) string {
	label := "device " + r.DeviceID
	if a.by == nil {
		return label
	}
	e, err := a.store.Get(ctx, deviceKey(r.User, r.DeviceID))
	var d deviceRecord
	if err != nil || json.Unmarshal(e.Value, &d) != nil {
		return label
	}
	return fmt.Sprintf("device %q (id %s)", d.Name, d.ID)
}

func ownerNote(r tokenRecord) string {
	if r.State == TokenAssigned {
		return " (to " + r.User + ")"
	}
	return ""
}
