package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Accounts keeps what the cluster knows of each user: second-factor
// devices, the last step each device had accepted, the lockout counter and
// when the user was first seen. Every record of a user lives under
// users/<name>/, so one List answers a login (docs/etcd-layout.md).
type Accounts struct {
	store Store
	keys  *Keyring
	// by is who makes the changes, audited in audit (As); nil: changes
	// are not audited.
	by    *Actor
	audit *Audit
}

// NewAccounts returns Accounts over store; keys seals and opens device
// seeds.
func NewAccounts(store Store, keys *Keyring) *Accounts {
	return &Accounts{store: store, keys: keys}
}

// Account is one user's records as read at one instant, with the
// revisions that later writes compare against.
type Account struct {
	// Name is the canonical user name the records are kept under.
	Name    string
	Devices []Device
	// Used holds the last accepted step of each device, by device id.
	Used    map[string]UsedStep
	Lockout Lockout
	Profile Profile
	// Bypass holds the user's bypass codes, usable or not (expired and
	// spent ones stay a day, so the log can say why they failed).
	Bypass []Bypass
	// Recovery holds the user's recovery passcode (one at most, unless
	// two admins issued at once).
	Recovery []Recovery
	// PushLog holds the user's recent pushes, for the push limit.
	PushLog PushLog
	// Problems are records Load skipped: a device that does not open
	// (the key file lacks its key), a record that fails its integrity
	// check (ErrTampered), a device beyond MaxDevices. The other records
	// still work; the log shows these.
	Problems []error
}

// Device returns the device with id, or false.
func (a *Account) Device(id string) (Device, bool) {
	for _, d := range a.Devices {
		if d.ID == id {
			return d, true
		}
	}
	return Device{}, false
}

// Profile records facts about a user that are not devices.
type Profile struct {
	// FirstSeen is when a login of the user without a device first
	// reached the cluster while a grace period was set (see
	// Accounts.FirstSeen): the grace counts from it. Zero: no such login
	// yet.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// DefaultPush is the id of the device that automatic pushes go to;
	// empty or gone: the oldest push device.
	DefaultPush string `json:"default_push,omitempty"`
	Nonce       string `json:"nonce"`
	rev         int64
}

// UserKey is the name records of user are kept under: lower case, since
// directories compare names without case, and path-escaped, so that a
// name with "/" cannot reach another user's keys.
func UserKey(user string) string {
	return url.PathEscape(strings.ToLower(user))
}

func userPrefix(user string) string { return "users/" + UserKey(user) + "/" }

// Keys of a user's records, relative to the store's prefix.
func deviceKey(user, id string) string { return userPrefix(user) + "devices/" + id }
func usedKey(user, id string) string   { return userPrefix(user) + "used/" + id }
func lockoutKey(user string) string    { return userPrefix(user) + "lockout" }
func profileKey(user string) string    { return userPrefix(user) + "profile" }
func devicePrefix(user string) string  { return userPrefix(user) + "devices/" }
func usedPrefix(user string) string    { return userPrefix(user) + "used/" }
func isUnder(key, prefix string) bool  { return strings.HasPrefix(key, prefix) }
func lastPart(key string) string       { return key[strings.LastIndexByte(key, '/')+1:] }
func newNonce() string                 { return randomHex(12) }

// randomHex returns n random bytes in hex. crypto/rand does not fail on
// the systems Go supports.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Load reads every record of user with one linearizable List.
func (a *Accounts) Load(ctx context.Context, user string) (*Account, error) {
	entries, err := a.store.List(ctx, userPrefix(user))
	if err != nil {
		return nil, fmt.Errorf("cluster: load %q: %w", user, err)
	}
	acct := &Account{Name: strings.ToLower(user), Used: map[string]UsedStep{}}
	for _, e := range entries {
		switch {
		case isUnder(e.Key, devicePrefix(user)):
			if len(acct.Devices) >= MaxDevices {
				acct.Problems = append(acct.Problems, fmt.Errorf("cluster: %s: beyond %d devices, skipped", e.Key, MaxDevices))
				continue
			}
			d, err := a.openDevice(user, e)
			if err != nil {
				acct.Problems = append(acct.Problems, err)
				continue
			}
			acct.Devices = append(acct.Devices, d)
		case isUnder(e.Key, usedPrefix(user)):
			var u UsedStep
			if err := json.Unmarshal(e.Value, &u); err != nil {
				return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
			}
			u.rev = e.ModRevision
			acct.Used[lastPart(e.Key)] = u
		case isUnder(e.Key, bypassPrefix(user)):
			b, err := a.openBypass(e)
			if err != nil {
				acct.Problems = append(acct.Problems, err)
				continue
			}
			acct.Bypass = append(acct.Bypass, b)
		case isUnder(e.Key, recoveryPrefix(user)):
			r, err := a.openRecovery(e)
			if err != nil {
				acct.Problems = append(acct.Problems, err)
				continue
			}
			acct.Recovery = append(acct.Recovery, r)
		case e.Key == lockoutKey(user):
			if err := json.Unmarshal(e.Value, &acct.Lockout); err != nil {
				return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
			}
			acct.Lockout.rev = e.ModRevision
		case e.Key == pushLogKey(user):
			if err := json.Unmarshal(e.Value, &acct.PushLog); err != nil {
				return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
			}
			acct.PushLog.rev = e.ModRevision
		case e.Key == profileKey(user):
			if err := json.Unmarshal(e.Value, &acct.Profile); err != nil {
				return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
			}
			acct.Profile.rev = e.ModRevision
		}
	}
	sortDevices(acct.Devices)
	return acct, nil
}

// SetDefaultPush makes device, a push device of user's, the one automatic
// pushes go to (ErrNoDevice when user has no such push device).
func (a *Accounts) SetDefaultPush(ctx context.Context, user, device string) error {
	_, err := Update(ctx, a.store, fmt.Sprintf("set the default push device of %q", user), func(ctx context.Context) (Txn, error) {
		acct, err := a.Load(ctx, user)
		if err != nil {
			return Txn{}, err
		}
		d, ok := acct.Device(device)
		if !ok || d.Type != PushApp {
			return Txn{}, fmt.Errorf("%w: %q has no push device %q", ErrNoDevice, acct.Name, device)
		}
		p := acct.Profile
		p.DefaultPush, p.Nonce = device, newNonce()
		b, err := json.Marshal(p)
		if err != nil {
			return Txn{}, err
		}
		ev, err := a.event(time.Time{}, ActionDeviceDefault, acct.Name, deviceText(d.Type, d.Name, d.ID, d.Serial)+" gets the automatic pushes")
		if err != nil {
			return Txn{}, err
		}
		return Txn{
			If:   []Compare{{Key: profileKey(acct.Name), ModRevision: acct.Profile.rev}},
			Then: append([]Op{Put(profileKey(acct.Name), b)}, ev...),
		}, nil
	})
	return err
}

// FirstSeen returns when acct was first seen without a device,
// recording now when it was not yet. The engine asks it only for a user
// without a device while a grace period is set, so other logins write
// nothing. The first round commits against the profile acct holds (none,
// usually: no read on the login path); when another node wrote it
// meanwhile (two nodes racing, a default push device chosen) it reads the
// profile again, and keeps a time already recorded.
func (a *Accounts) FirstSeen(ctx context.Context, acct *Account, now time.Time) (time.Time, error) {
	if !acct.Profile.FirstSeen.IsZero() {
		return acct.Profile.FirstSeen, nil
	}
	cur, fresh := acct.Profile, false
	var next Profile
	rev, err := Update(ctx, a.store, fmt.Sprintf("record the first login of %q", acct.Name), func(ctx context.Context) (Txn, error) {
		if fresh {
			p, err := a.readProfile(ctx, acct.Name)
			if err != nil {
				return Txn{}, err
			}
			cur = p
		}
		fresh = true
		next = cur
		if !next.FirstSeen.IsZero() {
			return Txn{}, nil // another node recorded it
		}
		next.FirstSeen, next.Nonce = now.UTC(), newNonce()
		b, err := json.Marshal(next)
		if err != nil {
			return Txn{}, err
		}
		return Txn{
			If:   []Compare{{Key: profileKey(acct.Name), ModRevision: cur.rev}},
			Then: []Op{Put(profileKey(acct.Name), b)},
		}, nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if rev != 0 {
		next.rev = rev
	}
	acct.Profile = next
	return next.FirstSeen, nil
}

// firstSeenWrite returns, for a transaction that gives user a device at
// now, the compare and op that record now as the user's first sight when
// the profile has none yet: a user who once had a device has a first
// sight, so removing every device later does not open a new enrollment
// grace. Both are empty when the profile has one.
func (a *Accounts) firstSeenWrite(ctx context.Context, user string, now time.Time) ([]Compare, []Op, error) {
	p, err := a.readProfile(ctx, user)
	if err != nil || !p.FirstSeen.IsZero() {
		return nil, nil, err
	}
	rev := p.rev
	p.FirstSeen, p.Nonce = now.UTC(), newNonce()
	b, err := json.Marshal(p)
	if err != nil {
		return nil, nil, err
	}
	return []Compare{{Key: profileKey(user), ModRevision: rev}}, []Op{Put(profileKey(user), b)}, nil
}

// readProfile reads user's profile; none is the zero Profile.
func (a *Accounts) readProfile(ctx context.Context, user string) (Profile, error) {
	e, err := a.store.Get(ctx, profileKey(user))
	if errors.Is(err, ErrNotFound) {
		return Profile{}, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("cluster: profile of %q: %w", user, err)
	}
	var p Profile
	if err := json.Unmarshal(e.Value, &p); err != nil {
		return Profile{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
	}
	p.rev = e.ModRevision
	return p, nil
}
