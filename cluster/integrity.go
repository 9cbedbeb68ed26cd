package cluster

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Every field of a record that decides a login (a device's type, digits
// and seed; a code's expiry, uses and limit; a challenge's binding and
// attempts; a session's stage; a push's login) is under the record's MAC
// or in the additional data its seed is sealed with, keyed by the key
// file. Somebody who can write to etcd but lacks the key file can delete
// records (which only refuses logins) but cannot forge or edit one: the
// edited record fails its check, is refused as ErrTampered, and is
// counted by kind (Keyring.TamperedCounts) for the metric
// twostep_cluster_records_tampered_total. (Putting back an older signed
// copy of a record is not detected: etcd's own authentication guards
// against writers, docs/etcd-layout.md.)

// ErrTampered: a record fails its integrity check: it was edited or
// written by somebody without the key file, or moved to another key. The
// error names the record's key; the caller logs it at error level and
// answers as if the record were not there.
var ErrTampered = errors.New("cluster: record fails its integrity check (edited without the seed key file?)")

// RecordKind names a kind of record in the tamper count.
type RecordKind string

// Kinds of records whose integrity is checked.
const (
	KindDevice    RecordKind = "device"
	KindToken     RecordKind = "token"
	KindBypass    RecordKind = "bypass"
	KindRecovery  RecordKind = "recovery"
	KindChallenge RecordKind = "challenge"
	KindSession   RecordKind = "session"
	KindPush      RecordKind = "push"
	KindHistory   RecordKind = "history"
)

// RecordKinds lists every RecordKind, for a metric that shows each.
var RecordKinds = []RecordKind{KindDevice, KindToken, KindBypass, KindRecovery, KindChallenge, KindSession, KindPush, KindHistory}

// tampered counts a record of kind at key that failed its check and
// returns the ErrTampered that says so. cause, when not nil, is why (a
// seed that does not open) and is kept in the chain.
func (k *Keyring) tampered(kind RecordKind, key string, cause error) error {
	k.tamper.count(kind)
	if cause != nil {
		return fmt.Errorf("%w: %s record %s: %w", ErrTampered, kind, key, cause)
	}
	return fmt.Errorf("%w: %s record %s", ErrTampered, kind, key)
}

// TamperedCounts returns how many records of each kind failed their
// check since the keyring was loaded, in this process.
func (k *Keyring) TamperedCounts() map[RecordKind]uint64 {
	out := make(map[RecordKind]uint64, len(RecordKinds))
	for i, kind := range RecordKinds {
		out[kind] = k.tamper.n[i].Load()
	}
	return out
}

// openSealed opens the seed of a record of kind at key, sealed with aad:
// a seed that fails authentication is ErrTampered, counted; a key the
// key file lacks (an admin removed it too early) stays ErrUnknownKey.
func (k *Keyring) openSealed(kind RecordKind, key string, s Sealed, aad []byte) ([]byte, error) {
	b, err := k.Open(s, aad)
	if errors.Is(err, ErrDecrypt) {
		return nil, k.tampered(kind, key, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: %s record %s: %w", kind, key, err)
	}
	return b, nil
}

// verifyRecord checks mac, made by MAC(purpose, msg) when the record of
// kind at key was written: ErrTampered, counted, when it does not hold.
func (k *Keyring) verifyRecord(kind RecordKind, key, purpose, kid string, msg, mac []byte) error {
	if k.find(kid) == nil {
		return fmt.Errorf("cluster: %s record %s: %w: signed with key %q, which the key file lacks (put that key back in the file)", kind, key, ErrUnknownKey, kid)
	}
	if !k.VerifyMAC(kid, purpose, msg, mac) {
		return k.tampered(kind, key, nil)
	}
	return nil
}

// tamperCount counts tampered records by kind, in RecordKinds' order.
type tamperCount struct {
	n [8]atomic.Uint64
}

func (t *tamperCount) count(kind RecordKind) {
	for i, k := range RecordKinds {
		if k == kind {
			t.n[i].Add(1)
			return
		}
	}
}
