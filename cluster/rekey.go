package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// RekeyResult counts what Rekey did.
type RekeyResult struct {
	// Resealed records now carry the active key; Current already did.
	Resealed, Current int
}

// Rekey re-seals every device and token seed that is not sealed with the
// keyring's active key, so that an old key can leave the key file (see
// docs/etcd-layout.md). Each record is read again and rewritten with a
// compare on its revision (a login or an admin changing it meanwhile
// makes Rekey read it once more); progress, when not nil, is called
// after each record. A record whose seed does not open stops Rekey with
// its error: ErrTampered, or ErrUnknownKey when the key file lacks its
// key already.
func (a *Accounts) Rekey(ctx context.Context, progress func(done, total int)) (RekeyResult, error) {
	var res RekeyResult
	users, err := a.store.List(ctx, "users/")
	if err != nil {
		return res, fmt.Errorf("cluster: rekey: %w", err)
	}
	tokens, err := a.store.List(ctx, "tokens/")
	if err != nil {
		return res, fmt.Errorf("cluster: rekey: %w", err)
	}
	var todo []string
	for _, e := range users {
		if parts := strings.Split(e.Key, "/"); len(parts) == 4 && parts[2] == "devices" {
			todo = append(todo, e.Key)
		}
	}
	for _, e := range tokens {
		todo = append(todo, e.Key)
	}
	active := a.keys.ActiveID()
	for i, key := range todo {
		if progress != nil {
			progress(i+1, len(todo))
		}
		resealed := false
		_, err := Update(ctx, a.store, "rekey "+key, func(ctx context.Context) (Txn, error) {
			resealed = false
			e, err := a.store.Get(ctx, key)
			if errors.Is(err, ErrNotFound) {
				return Txn{}, nil // removed meanwhile
			}
			if err != nil {
				return Txn{}, fmt.Errorf("cluster: rekey %s: %w", key, err)
			}
			v, changed, err := a.reseal(e, active)
			if err != nil || !changed {
				return Txn{}, err
			}
			resealed = true
			return Txn{If: []Compare{{Key: key, ModRevision: e.ModRevision}}, Then: []Op{Put(key, v)}}, nil
		})
		switch {
		case err != nil:
			return res, err
		case resealed:
			res.Resealed++
		default:
			res.Current++
		}
	}
	return res, nil
}

// reseal returns the record e (a device or a token) with its seed sealed
// again under the key active, and whether that changed anything.
func (a *Accounts) reseal(e Entry, active string) ([]byte, bool, error) {
	switch parts := strings.Split(e.Key, "/"); {
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "devices":
		var r deviceRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, false, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if r.Seed.KeyID == active {
			return nil, false, nil
		}
		// The user part of the key is already UserKey's form.
		seed, err := a.resealSeed(KindDevice, e.Key, r.Seed, r.aad(parts[1]))
		if err != nil {
			return nil, false, err
		}
		r.Seed = seed
		v, err := json.Marshal(r)
		return v, true, err
	case len(parts) == 2 && parts[0] == "tokens":
		var r tokenRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, false, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if tokenKey(r.Serial) != e.Key {
			return nil, false, a.keys.tampered(KindToken, e.Key, fmt.Errorf("it names serial %q", r.Serial))
		}
		if r.Seed.KeyID == active {
			return nil, false, nil
		}
		seed, err := a.resealSeed(KindToken, e.Key, r.Seed, r.aad())
		if err != nil {
			return nil, false, err
		}
		r.Seed, r.Nonce = seed, newNonce()
		v, err := json.Marshal(r)
		return v, true, err
	}
	return nil, false, fmt.Errorf("cluster: record %s holds no seed", e.Key)
}

// resealSeed opens s (of a record of kind at key) and seals it again with
// the active key and the same additional data.
func (a *Accounts) resealSeed(kind RecordKind, key string, s Sealed, aad []byte) (Sealed, error) {
	plain, err := a.keys.openSealed(kind, key, s, aad)
	if err != nil {
		return Sealed{}, err
	}
	fresh, err := a.keys.Seal(plain, aad)
	if err != nil {
		return Sealed{}, fmt.Errorf("cluster: record %s: %w", key, err)
	}
	return fresh, nil
}
