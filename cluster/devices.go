package cluster

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DeviceType names what kind of second factor a device is.
type DeviceType string

// Device types.
const (
	// TOTP is an authenticator app or a TOTP hardware token (RFC 6238).
	TOTP DeviceType = "totp"
	// Push is a device that approves logins: a phone's web authenticator
	// or the simulator. Its Secret holds a PushDevice.
	PushApp DeviceType = "push"
)

// PushDevice is what a push device registers at enrollment: the key its
// answers are signed with and where it is notified. It is stored sealed
// like a seed: the endpoint may hold a token, and only a key that the
// key file vouches for may approve.
type PushDevice struct {
	// PublicKey is the device's ECDSA P-256 key, an uncompressed point
	// (65 bytes, what WebCrypto exports as "raw").
	PublicKey []byte `json:"public_key"`
	// Kind is "webpush" or "webhook"; Endpoint the push service or
	// webhook URL.
	Kind     string `json:"kind"`
	Endpoint string `json:"endpoint"`
	// P256DH and Auth are a Web Push subscription's keys.
	P256DH []byte `json:"p256dh,omitempty"`
	Auth   []byte `json:"auth,omitempty"`
	// Secret keys a webhook's HMAC signature header.
	Secret []byte `json:"secret,omitempty"`
}

// NewPushDevice returns the Device that registers p under name, for
// AddDevice.
func NewPushDevice(name string, p PushDevice, now time.Time) (Device, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Device{}, err
	}
	return Device{Name: name, Type: PushApp, Created: now, Secret: b}, nil
}

// PushDevice returns what push device d registered.
func (d Device) PushDevice() (PushDevice, error) {
	var p PushDevice
	if d.Type != PushApp {
		return p, fmt.Errorf("cluster: device %q is not a push device", d.Name)
	}
	if err := json.Unmarshal(d.Secret, &p); err != nil {
		return p, fmt.Errorf("cluster: push device %q: %w", d.Name, err)
	}
	return p, nil
}

// Device is one second-factor device of a user.
type Device struct {
	// ID is random, assigned at enrollment, and never reused.
	ID string
	// Name is what the user or admin called it ("iPhone", "backup token").
	Name    string
	Type    DeviceType
	Created time.Time
	// Algorithm ("SHA1", "SHA256", "SHA512"), Digits and Period describe a
	// TOTP device.
	Algorithm string
	Digits    int
	Period    time.Duration
	// Secret is the seed, in memory only: the stored record holds it
	// sealed under the keyring, bound to the user and the device id.
	Secret []byte
	// Serial is the hardware token's serial, for a token of the inventory.
	Serial string
	rev    int64
}

// deviceRecord is a Device as stored: JSON an admin can read with etcdctl,
// the seed sealed.
type deviceRecord struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Type      DeviceType `json:"type"`
	Created   time.Time  `json:"created"`
	Algorithm string     `json:"algorithm,omitempty"`
	Digits    int        `json:"digits,omitempty"`
	Period    int        `json:"period_seconds,omitempty"`
	Serial    string     `json:"serial,omitempty"`
	Seed      Sealed     `json:"seed"`
}

// UsedStep is the last TOTP step a device had accepted. A code for this
// step or an earlier one is a replay (RFC 6238 §5.2).
type UsedStep struct {
	Step  int64     `json:"step"`
	At    time.Time `json:"at"`
	Nonce string    `json:"nonce"`
	rev   int64
}

// Errors of device operations.
var (
	// ErrReplay: the step was already accepted (on any node).
	ErrReplay = errors.New("cluster: passcode already used")
	// ErrNoDevice: the user has no device with that id or name.
	ErrNoDevice = errors.New("cluster: no such device")
	// ErrDeviceName: a device name is empty, too long or taken.
	ErrDeviceName = errors.New("cluster: bad device name")
	// ErrDeviceLimit: the user has MaxDevices devices already.
	ErrDeviceLimit = errors.New("cluster: too many devices")
	// ErrDuplicateSeed: the user has a device with the same seed.
	ErrDuplicateSeed = errors.New("cluster: seed already enrolled")
)

// MaxDevices bounds a user's devices: every login checks a code against
// each, and adding one compares them all in one transaction (etcd takes
// at most 128 compares and writes in one).
const MaxDevices = 32

// maxDeviceName bounds device names so that a menu of them fits a
// Reply-Message.
const maxDeviceName = 32

// devicesVersion is bumped by every change to a user's set of devices, so
// that two admins adding (or renaming) at once cannot both pass the
// name and count checks: each compares the version it read.
func devicesVersionKey(user string) string { return userPrefix(user) + "devices-version" }

// versionGuard reads the version of user's devices and returns the
// Compare that pins it and the Op that bumps it.
func (a *Accounts) versionGuard(ctx context.Context, user string) (Compare, Op, error) {
	key := devicesVersionKey(user)
	rev := int64(0)
	e, err := a.store.Get(ctx, key)
	switch {
	case err == nil:
		rev = e.ModRevision
	case !errors.Is(err, ErrNotFound):
		return Compare{}, Op{}, fmt.Errorf("cluster: devices of %q: %w", user, err)
	}
	v, err := json.Marshal(struct {
		Nonce string `json:"nonce"`
	}{newNonce()})
	if err != nil {
		return Compare{}, Op{}, err
	}
	return Compare{Key: key, ModRevision: rev}, Put(key, v), nil
}

// sameSeed reports whether one of user's stored devices has secret: one
// seed enrolled twice would let each code in once per copy.
func (a *Accounts) sameSeed(user string, entries []Entry, secret []byte) (string, bool) {
	for _, e := range entries {
		var r deviceRecord
		if json.Unmarshal(e.Value, &r) != nil {
			continue
		}
		if s, err := a.keys.Open(r.Seed, deviceAAD(user, r.ID)); err == nil && subtle.ConstantTimeCompare(s, secret) == 1 {
			return r.Name, true
		}
	}
	return "", false
}

func checkDeviceName(name string) error {
	if name == "" || len(name) > maxDeviceName || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: a name is 1 to %d printable characters", ErrDeviceName, maxDeviceName)
	}
	return nil
}

func (a *Accounts) openDevice(user string, e Entry) (Device, error) {
	var r deviceRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Device{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
	}
	secret, err := a.keys.Open(r.Seed, deviceAAD(user, r.ID))
	if err != nil {
		return Device{}, fmt.Errorf("cluster: device %s of %q: %w", r.ID, user, err)
	}
	return Device{
		ID: r.ID, Name: r.Name, Type: r.Type, Created: r.Created,
		Algorithm: r.Algorithm, Digits: r.Digits, Period: time.Duration(r.Period) * time.Second,
		Secret: secret, Serial: r.Serial, rev: e.ModRevision,
	}, nil
}

func (a *Accounts) sealDevice(user string, d Device) ([]byte, error) {
	seed, err := a.keys.Seal(d.Secret, deviceAAD(user, d.ID))
	if err != nil {
		return nil, fmt.Errorf("cluster: seal device %s: %w", d.ID, err)
	}
	return json.Marshal(deviceRecord{
		ID: d.ID, Name: d.Name, Type: d.Type, Created: d.Created.UTC(),
		Algorithm: d.Algorithm, Digits: d.Digits, Period: int(d.Period / time.Second),
		Serial: d.Serial, Seed: seed,
	})
}

func sortDevices(ds []Device) {
	slices.SortFunc(ds, func(a, b Device) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// AddDevice stores a new device for user and returns it with its id. Names
// are unique per user (compared without case); the write compares the
// revisions of the devices read, so two admins adding at once cannot both
// take one name.
func (a *Accounts) AddDevice(ctx context.Context, user string, d Device) (Device, error) {
	return a.addDevice(ctx, user, d, false)
}

// ErrHasDevices: AddFirstDevice found the user with a device already.
var ErrHasDevices = errors.New("cluster: the user has a device already")

// AddFirstDevice adds d only while user has no device, in one
// transaction (ErrHasDevices otherwise): what an enrollment that the
// password alone allowed may do.
func (a *Accounts) AddFirstDevice(ctx context.Context, user string, d Device) (Device, error) {
	return a.addDevice(ctx, user, d, true)
}

func (a *Accounts) addDevice(ctx context.Context, user string, d Device, first bool) (Device, error) {
	if err := checkDeviceName(d.Name); err != nil {
		return Device{}, err
	}
	if len(d.Secret) == 0 {
		return Device{}, errors.New("cluster: device without a secret")
	}
	// The version is read before the devices: a change that lands between
	// the two reads fails this write's compare.
	vc, vop, err := a.versionGuard(ctx, user)
	if err != nil {
		return Device{}, err
	}
	entries, err := a.store.List(ctx, devicePrefix(user))
	if err != nil {
		return Device{}, fmt.Errorf("cluster: devices of %q: %w", user, err)
	}
	if len(entries) >= MaxDevices {
		return Device{}, fmt.Errorf("%w: %q has %d; remove one first", ErrDeviceLimit, user, len(entries))
	}
	if first && len(entries) > 0 {
		return Device{}, fmt.Errorf("%w: %q has %d", ErrHasDevices, user, len(entries))
	}
	if name, dup := a.sameSeed(user, entries, d.Secret); dup {
		return Device{}, fmt.Errorf("%w: %q already has this seed as device %q", ErrDuplicateSeed, user, name)
	}
	guard := []Compare{vc}
	for _, e := range entries {
		var r deviceRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return Device{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if strings.EqualFold(r.Name, d.Name) {
			return Device{}, fmt.Errorf("%w: %q already has a device named %q", ErrDeviceName, user, r.Name)
		}
		guard = append(guard, Compare{Key: e.Key, ModRevision: e.ModRevision})
	}
	d.ID = randomHex(8)
	if d.Created.IsZero() {
		d.Created = time.Now()
	}
	d.Created = d.Created.UTC().Truncate(time.Second)
	b, err := a.sealDevice(user, d)
	if err != nil {
		return Device{}, err
	}
	key := deviceKey(user, d.ID)
	guard = append(guard, Compare{Key: key, ModRevision: 0})
	if _, err := a.store.Commit(ctx, Txn{If: guard, Then: []Op{Put(key, b), vop}}); err != nil {
		return Device{}, fmt.Errorf("cluster: add device for %q: %w", user, err)
	}
	return d, nil
}

// findDevice resolves ref (an id or a name, without case) among user's
// stored devices.
func (a *Accounts) findDevice(ctx context.Context, user, ref string) (Entry, deviceRecord, []Entry, error) {
	entries, err := a.store.List(ctx, devicePrefix(user))
	if err != nil {
		return Entry{}, deviceRecord{}, nil, fmt.Errorf("cluster: devices of %q: %w", user, err)
	}
	for _, e := range entries {
		var r deviceRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return Entry{}, deviceRecord{}, nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if r.ID == ref || strings.EqualFold(r.Name, ref) {
			return e, r, entries, nil
		}
	}
	return Entry{}, deviceRecord{}, nil, fmt.Errorf("%w: %q has no device %q", ErrNoDevice, user, ref)
}

// RenameDevice gives user's device ref (id or name) a new name.
func (a *Accounts) RenameDevice(ctx context.Context, user, ref, name string) error {
	if err := checkDeviceName(name); err != nil {
		return err
	}
	vc, vop, err := a.versionGuard(ctx, user)
	if err != nil {
		return err
	}
	e, r, all, err := a.findDevice(ctx, user, ref)
	if err != nil {
		return err
	}
	guard := []Compare{vc}
	for _, o := range all {
		var or deviceRecord
		if json.Unmarshal(o.Value, &or) == nil && or.ID != r.ID && strings.EqualFold(or.Name, name) {
			return fmt.Errorf("%w: %q already has a device named %q", ErrDeviceName, user, or.Name)
		}
		guard = append(guard, Compare{Key: o.Key, ModRevision: o.ModRevision})
	}
	r.Name = name
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := a.store.Commit(ctx, Txn{If: guard, Then: []Op{Put(e.Key, b), vop}}); err != nil {
		return fmt.Errorf("cluster: rename device of %q: %w", user, err)
	}
	return nil
}

// RemoveDevice deletes user's device ref (id or name) with its used-step
// record; it stops working on every node at once. A hardware token's
// device takes its token out of use too (marked lost in the inventory;
// `twostepctl token unassign` returns a token handed back).
func (a *Accounts) RemoveDevice(ctx context.Context, user, ref string) (Device, error) {
	e, r, _, err := a.findDevice(ctx, user, ref)
	if err != nil {
		return Device{}, err
	}
	_, vop, err := a.versionGuard(ctx, user)
	if err != nil {
		return Device{}, err
	}
	txn := Txn{
		If:   []Compare{{Key: e.Key, ModRevision: e.ModRevision}},
		Then: []Op{Delete(e.Key), Delete(usedKey(user, r.ID)), vop},
	}
	if r.Serial != "" {
		tr, te, err := a.readToken(ctx, r.Serial)
		switch {
		case errors.Is(err, ErrNoToken):
		case err != nil:
			return Device{}, err
		case tr.State == TokenAssigned && tr.DeviceID == r.ID:
			tr.State, tr.User, tr.DeviceID, tr.Changed, tr.Nonce = TokenLost, "", "", time.Now().UTC(), newNonce()
			tv, err := json.Marshal(tr)
			if err != nil {
				return Device{}, err
			}
			txn.If = append(txn.If, Compare{Key: te.Key, ModRevision: te.ModRevision})
			txn.Then = append(txn.Then, Put(te.Key, tv))
		}
	}
	if _, err := a.store.Commit(ctx, txn); err != nil {
		return Device{}, fmt.Errorf("cluster: remove device of %q: %w", user, err)
	}
	return Device{ID: r.ID, Name: r.Name, Type: r.Type, Created: r.Created, Serial: r.Serial}, nil
}

// Touch records that push device id of user was just used (an approved
// push), for "last used". It is best effort and compares nothing: the
// record decides no login.
func (a *Accounts) Touch(ctx context.Context, user, id string, now time.Time) error {
	b, err := json.Marshal(UsedStep{At: now.UTC(), Nonce: newNonce()})
	if err != nil {
		return err
	}
	if _, err := a.store.Commit(ctx, Txn{Then: []Op{Put(usedKey(user, id), b)}}); err != nil {
		return fmt.Errorf("cluster: record use of %q's device: %w", user, err)
	}
	return nil
}

// UseStep records that device id of acct accepted step. It succeeds once
// per step across the cluster: the write compares the revision read by
// Load, and when another node wrote in between, the fresh record decides.
// ErrReplay means the step (or a later one) was already accepted.
func (a *Accounts) UseStep(ctx context.Context, acct *Account, id string, step int64, now time.Time) error {
	key := usedKey(acct.Name, id)
	cur := acct.Used[id]
	for range 3 {
		if cur.rev != 0 && step <= cur.Step {
			return ErrReplay
		}
		u := UsedStep{Step: step, At: now.UTC(), Nonce: newNonce()}
		b, err := json.Marshal(u)
		if err != nil {
			return err
		}
		rev, err := a.store.Commit(ctx, Txn{
			If:   []Compare{{Key: key, ModRevision: cur.rev}},
			Then: []Op{Put(key, b)},
		})
		if err == nil {
			u.rev = rev
			acct.Used[id] = u
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return fmt.Errorf("cluster: record step of %q: %w", acct.Name, err)
		}
		e, err := a.store.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			cur = UsedStep{}
		case err != nil:
			return fmt.Errorf("cluster: record step of %q: %w", acct.Name, err)
		default:
			if err := json.Unmarshal(e.Value, &cur); err != nil {
				return fmt.Errorf("cluster: record %s: %w", key, err)
			}
			cur.rev = e.ModRevision
		}
	}
	return fmt.Errorf("cluster: record step of %q: %w", acct.Name, ErrConflict)
}

// Accept records that dev of acct accepted step and clears acct's failed
// attempts, in one transaction that compares everything the decision
// read: the used step (a code is accepted once, cluster-wide), the
// device (a device removed meanwhile accepts nothing) and the lockout (a
// lock that landed meanwhile wins). ErrConflict means something changed:
// the caller loads the account again and decides again. ErrReplay means
// the step was already accepted.
func (a *Accounts) Accept(ctx context.Context, acct *Account, dev Device, step int64, now time.Time) error {
	used := acct.Used[dev.ID]
	if used.rev != 0 && step <= used.Step {
		return ErrReplay
	}
	u := UsedStep{Step: step, At: now.UTC(), Nonce: newNonce()}
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("cluster: record step: %w", err)
	}
	key := usedKey(acct.Name, dev.ID)
	txn := Txn{
		If: []Compare{
			{Key: key, ModRevision: used.rev},
			{Key: deviceKey(acct.Name, dev.ID), ModRevision: dev.rev},
			{Key: lockoutKey(acct.Name), ModRevision: acct.Lockout.rev},
		},
		Then: []Op{Put(key, b)},
	}
	if acct.Lockout.rev != 0 {
		txn.Then = append(txn.Then, Delete(lockoutKey(acct.Name)))
	}
	rev, err := a.store.Commit(ctx, txn)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("cluster: accept a code of %q: %w", acct.Name, err)
	}
	u.rev = rev
	acct.Used[dev.ID] = u
	acct.Lockout = Lockout{}
	return nil
}
