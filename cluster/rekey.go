package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// RekeyResult counts what Rekey did.
type RekeyResult struct {
	// Resealed records now carry the active key; Current already did.
	Resealed, Current int
	// Conflicts are records another writer changed meanwhile; run Rekey
	// again for them.
	Conflicts int
}

// Rekey re-seals every device and token seed that is not sealed with the
// keyring's active key, so that an old key can leave the key file (see
// docs/etcd-layout.md). Each record is rewritten with a compare on its
// revision; progress, when not nil, is called after each record.
func (a *Accounts) Rekey(ctx context.Context, progress func(done, total int)) (RekeyResult, error) {
	var res RekeyResult
	devices, err := a.store.List(ctx, "users/")
	if err != nil {
		return res, fmt.Errorf("cluster: rekey: %w", err)
	}
	tokens, err := a.store.List(ctx, "tokens/")
	if err != nil {
		return res, fmt.Errorf("cluster: rekey: %w", err)
	}
	var todo []Entry
	for _, e := range devices {
		if strings.Contains(e.Key, "/devices/") {
			todo = append(todo, e)
		}
	}
	todo = append(todo, tokens...)
	active := a.keys.ActiveID()
	for i, e := range todo {
		if progress != nil {
			progress(i+1, len(todo))
		}
		// Both kinds of record keep their seed in "seed"; the rest of the
		// record is kept as it is.
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			return res, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		var seed Sealed
		if err := json.Unmarshal(rec["seed"], &seed); err != nil {
			return res, fmt.Errorf("cluster: record %s: seed: %w", e.Key, err)
		}
		if seed.KeyID == active {
			res.Current++
			continue
		}
		aad, err := sealedAAD(e.Key)
		if err != nil {
			return res, err
		}
		plain, err := a.keys.Open(seed, aad)
		if err != nil {
			return res, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		fresh, err := a.keys.Seal(plain, aad)
		if err != nil {
			return res, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if rec["seed"], err = json.Marshal(fresh); err != nil {
			return res, err
		}
		if rec["nonce"], err = json.Marshal(newNonce()); err != nil {
			return res, err
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return res, err
		}
		_, err = a.store.Commit(ctx, Txn{If: []Compare{{Key: e.Key, ModRevision: e.ModRevision}}, Then: []Op{Put(e.Key, v)}})
		switch {
		case errors.Is(err, ErrConflict):
			res.Conflicts++
		case err != nil:
			return res, fmt.Errorf("cluster: rekey %s: %w", e.Key, err)
		default:
			res.Resealed++
		}
	}
	return res, nil
}

// sealedAAD is the additional data a record at key was sealed with.
func sealedAAD(key string) ([]byte, error) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 4 && parts[0] == "users" && parts[2] == "devices":
		// The user part of the key is already UserKey's form.
		return []byte("device\x00" + parts[1] + "\x00" + parts[3]), nil
	case len(parts) == 2 && parts[0] == "tokens":
		serial, err := url.PathUnescape(parts[1])
		if err != nil {
			return nil, fmt.Errorf("cluster: record %s: %w", key, err)
		}
		return tokenAAD(serial), nil
	}
	return nil, fmt.Errorf("cluster: record %s holds no seed", key)
}
