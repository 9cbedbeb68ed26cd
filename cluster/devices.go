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
	// Spent, when positive, is a TOTP step that AddDevice records as used
	// with the new device: the code that confirmed the enrollment, which
	// must not log in as well.
	Spent int64
	rev   int64
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
		if s, err := a.keys.Open(r.Seed, r.aad(UserKey(user))); err == nil && subtle.ConstantTimeCompare(s, secret) == 1 {
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

// aad is what the device's seed is sealed with: its place (the user's
// key form and the id) and every field that decides how its codes are
// checked, so that a record moved to another user, or whose type,
// algorithm, digits, period or serial was edited, no longer opens. The
// name and creation time only label the device and may change (rename).
func (r deviceRecord) aad(userKey string) []byte {
	return fmt.Appendf(nil, "device\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d\x00%s",
		userKey, r.ID, r.Type, r.Algorithm, r.Digits, r.Period, r.Serial)
}

func (a *Accounts) openDevice(user string, e Entry) (Device, error) {
	var r deviceRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Device{}, a.keys.tampered(KindDevice, e.Key, err)
	}
	if r.ID != lastPart(e.Key) {
		return Device{}, a.keys.tampered(KindDevice, e.Key, fmt.Errorf("it names device %q", r.ID))
	}
	secret, err := a.keys.openSealed(KindDevice, e.Key, r.Seed, r.aad(UserKey(user)))
	if err != nil {
		return Device{}, err
	}
	return Device{
		ID: r.ID, Name: r.Name, Type: r.Type, Created: r.Created,
		Algorithm: r.Algorithm, Digits: r.Digits, Period: time.Duration(r.Period) * time.Second,
		Secret: secret, Serial: r.Serial, rev: e.ModRevision,
	}, nil
}

func (a *Accounts) sealDevice(user string, d Device) ([]byte, error) {
	r := deviceRecord{
		ID: d.ID, Name: d.Name, Type: d.Type, Created: d.Created.UTC(),
		Algorithm: d.Algorithm, Digits: d.Digits, Period: int(d.Period / time.Second),
		Serial: d.Serial,
	}
	seed, err := a.keys.Seal(d.Secret, r.aad(UserKey(user)))
	if err != nil {
		return nil, fmt.Errorf("cluster: seal device %s: %w", d.ID, err)
	}
	r.Seed = seed
	return json.Marshal(r)
}

// deviceText names a device in audit events: `totp device "iPhone"
// (id 3f9a0c1de2b47a65)`, with a hardware token's serial.
func deviceText(t DeviceType, name, id, serial string) string {
	s := fmt.Sprintf("%s device %q (id %s)", t, name, id)
	if serial != "" {
		s += ", token " + serial
	}
	return s
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
	_, err = Update(ctx, a.store, fmt.Sprintf("add device for %q", user), func(ctx context.Context) (Txn, error) {
		guard, vop, err := a.deviceSetGuard(ctx, user, d.Name, "", d.Secret, first)
		if err != nil {
			return Txn{}, err
		}
		guard = append(guard, Compare{Key: key, ModRevision: 0})
		ops := []Op{Put(key, b), vop}
		fc, fop, err := a.firstSeenWrite(ctx, user, d.Created)
		if err != nil {
			return Txn{}, err
		}
		guard, ops = append(guard, fc...), append(ops, fop...)
		if d.Spent > 0 {
			u, err := json.Marshal(UsedStep{Step: d.Spent, At: d.Created, Nonce: newNonce()})
			if err != nil {
				return Txn{}, err
			}
			ops = append(ops, Put(usedKey(user, d.ID), u))
		}
		ev, err := a.event(time.Time{}, ActionDeviceEnroll, user, deviceText(d.Type, d.Name, d.ID, d.Serial))
		if err != nil {
			return Txn{}, err
		}
		return Txn{If: guard, Then: append(ops, ev...)}, nil
	})
	if err != nil {
		return Device{}, err
	}
	return d, nil
}

// deviceSetGuard reads user's devices for a change that adds a device
// named name with secret (secret nil: a rename of device except) and
// checks it: none yet when first is set (ErrHasDevices), the count, the
// seed (one seed enrolled twice would let each code in once per copy)
// and the name (unique without case). It
// returns the compares that pin what it read, the version first and
// then one per device, and the op that bumps the version, so that two
// admins changing devices at once cannot both pass the checks.
func (a *Accounts) deviceSetGuard(ctx context.Context, user, name, except string, secret []byte, first bool) ([]Compare, Op, error) {
	// The version is read before the devices: a change that lands between
	// the two reads fails the write's compare.
	vc, vop, err := a.versionGuard(ctx, user)
	if err != nil {
		return nil, Op{}, err
	}
	entries, err := a.store.List(ctx, devicePrefix(user))
	if err != nil {
		return nil, Op{}, fmt.Errorf("cluster: devices of %q: %w", user, err)
	}
	if first && len(entries) > 0 {
		return nil, Op{}, fmt.Errorf("%w: %q has %d", ErrHasDevices, user, len(entries))
	}
	if secret != nil {
		if len(entries) >= MaxDevices {
			return nil, Op{}, fmt.Errorf("%w: %q has %d; remove one first", ErrDeviceLimit, user, len(entries))
		}
		if other, dup := a.sameSeed(user, entries, secret); dup {
			return nil, Op{}, fmt.Errorf("%w: %q already has this seed as device %q", ErrDuplicateSeed, user, other)
		}
	}
	guard := []Compare{vc}
	for _, e := range entries {
		var r deviceRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, Op{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if r.ID != except && strings.EqualFold(r.Name, name) {
			return nil, Op{}, fmt.Errorf("%w: %q already has a device named %q", ErrDeviceName, user, r.Name)
		}
		guard = append(guard, Compare{Key: e.Key, ModRevision: e.ModRevision})
	}
	return guard, vop, nil
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
	_, err := Update(ctx, a.store, fmt.Sprintf("rename device of %q", user), func(ctx context.Context) (Txn, error) {
		e, r, _, err := a.findDevice(ctx, user, ref)
		if err != nil {
			return Txn{}, err
		}
		guard, vop, err := a.deviceSetGuard(ctx, user, name, r.ID, nil, false)
		if err != nil {
			return Txn{}, err
		}
		ev, err := a.event(time.Time{}, ActionDeviceRename, user, fmt.Sprintf("%s renamed %q", deviceText(r.Type, r.Name, r.ID, r.Serial), name))
		if err != nil {
			return Txn{}, err
		}
		r.Name = name
		b, err := json.Marshal(r)
		if err != nil {
			return Txn{}, err
		}
		// The device's own compare is among guard's, unless it was
		// removed between the two reads: then the write must fail.
		guard = append(guard, Compare{Key: e.Key, ModRevision: e.ModRevision})
		return Txn{If: guard, Then: append([]Op{Put(e.Key, b), vop}, ev...)}, nil
	})
	return err
}

// RemoveDevice deletes user's device ref (id or name) with its used-step
// record; it stops working on every node at once. A hardware token's
// device takes its token out of use too (marked lost in the inventory;
// `twostepctl token unassign` returns a token handed back).
func (a *Accounts) RemoveDevice(ctx context.Context, user, ref string) (Device, error) {
	var gone deviceRecord
	_, err := Update(ctx, a.store, fmt.Sprintf("remove device of %q", user), func(ctx context.Context) (Txn, error) {
		e, r, _, err := a.findDevice(ctx, user, ref)
		if err != nil {
			return Txn{}, err
		}
		_, vop, err := a.versionGuard(ctx, user)
		if err != nil {
			return Txn{}, err
		}
		gone = r
		txn := Txn{
			If:   []Compare{{Key: e.Key, ModRevision: e.ModRevision}},
			Then: []Op{Delete(e.Key), Delete(usedKey(user, r.ID)), vop},
		}
		detail := deviceText(r.Type, r.Name, r.ID, r.Serial)
		if r.Serial != "" {
			tr, te, err := a.readToken(ctx, r.Serial)
			switch {
			case errors.Is(err, ErrNoToken):
			case err != nil:
				return Txn{}, err
			case tr.State == TokenAssigned && tr.DeviceID == r.ID:
				tr.State, tr.User, tr.DeviceID, tr.Changed, tr.Nonce = TokenLost, "", "", a.now().UTC(), newNonce()
				tv, err := json.Marshal(tr)
				if err != nil {
					return Txn{}, err
				}
				txn.If = append(txn.If, Compare{Key: te.Key, ModRevision: te.ModRevision})
				txn.Then = append(txn.Then, Put(te.Key, tv))
				detail += "; the token is marked lost"
			}
		}
		ev, err := a.event(time.Time{}, ActionDeviceRemove, user, detail)
		if err != nil {
			return Txn{}, err
		}
		txn.Then = append(txn.Then, ev...)
		return txn, nil
	})
	if err != nil {
		return Device{}, err
	}
	return Device{ID: gone.ID, Name: gone.Name, Type: gone.Type, Created: gone.Created, Serial: gone.Serial}, nil
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

// UseStep records that device id of user has used step (a TOTP step, or
// an HOTP token's last counter after a resync): codes of that step and
// before are replays from then on. ErrReplay means the device had used
// step, or a later one, already (a login meanwhile).
func (a *Accounts) UseStep(ctx context.Context, user, id string, step int64, now time.Time) error {
	key := usedKey(user, id)
	_, err := Update(ctx, a.store, fmt.Sprintf("record a used step of %q", user), func(ctx context.Context) (Txn, error) {
		rev := int64(0)
		e, err := a.store.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return Txn{}, fmt.Errorf("cluster: used step of %q: %w", user, err)
		default:
			var u UsedStep
			if err := json.Unmarshal(e.Value, &u); err != nil {
				return Txn{}, fmt.Errorf("cluster: record %s: %w", key, err)
			}
			if step <= u.Step {
				return Txn{}, ErrReplay
			}
			rev = e.ModRevision
		}
		b, err := json.Marshal(UsedStep{Step: step, At: now.UTC(), Nonce: newNonce()})
		if err != nil {
			return Txn{}, err
		}
		return Txn{If: []Compare{{Key: key, ModRevision: rev}}, Then: []Op{Put(key, b)}}, nil
	})
	return err
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
