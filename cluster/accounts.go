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
	// FirstSeen is when a login of the user first reached the cluster;
	// the grace period for users without a device counts from it.
	FirstSeen time.Time `json:"first_seen"`
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
func (a *Accounts) SetDefaultPush(ctx context.Context, user, device string, now time.Time) error {
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
		if p.FirstSeen.IsZero() {
			p.FirstSeen = now.UTC()
		}
		p.DefaultPush, p.Nonce = device, newNonce()
		b, err := json.Marshal(p)
		if err != nil {
			return Txn{}, err
		}
		return Txn{
			If:   []Compare{{Key: profileKey(acct.Name), ModRevision: acct.Profile.rev}},
			Then: []Op{Put(profileKey(acct.Name), b)},
		}, nil
	})
	return err
}

// FirstSeen returns when user was first seen, recording now when the user
// is new. Two nodes racing record one time: the loser reads the winner's.
func (a *Accounts) FirstSeen(ctx context.Context, acct *Account, now time.Time) (time.Time, error) {
	if acct.Profile.rev != 0 {
		return acct.Profile.FirstSeen, nil
	}
	p := Profile{FirstSeen: now.UTC(), Nonce: newNonce()}
	b, err := json.Marshal(p)
	if err != nil {
		return time.Time{}, err
	}
	rev, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: profileKey(acct.Name), ModRevision: 0}},
		Then: []Op{Put(profileKey(acct.Name), b)},
	})
	switch {
	case err == nil:
		p.rev = rev
		acct.Profile = p
		return p.FirstSeen, nil
	case errors.Is(err, ErrConflict):
		e, err := a.store.Get(ctx, profileKey(acct.Name))
		if err != nil {
			return time.Time{}, fmt.Errorf("cluster: profile %q: %w", acct.Name, err)
		}
		if err := json.Unmarshal(e.Value, &acct.Profile); err != nil {
			return time.Time{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		acct.Profile.rev = e.ModRevision
		return acct.Profile.FirstSeen, nil
	default:
		return time.Time{}, fmt.Errorf("cluster: profile %q: %w", acct.Name, err)
	}
}
