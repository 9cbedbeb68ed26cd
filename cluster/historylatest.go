package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// KeyRanger is what a Store may offer beyond the four-method contract
// (an optional capability, as vault's physical backends have them): reads
// of one key of a large prefix, which etcd answers with a sorted, limited
// range. etcdstore.Store has it. History.Latest uses it when the store
// has it, and lists otherwise.
type KeyRanger interface {
	// NextKey returns the least key that starts with prefix and is not
	// less than from (from starts with prefix), without its value; or
	// ErrNotFound.
	NextKey(ctx context.Context, prefix, from string) (string, error)
	// Last returns the entry with the greatest key that starts with
	// prefix and, when before is not empty, is less than before; or
	// ErrNotFound.
	Last(ctx context.Context, prefix, before string) (Entry, error)
}

// Latest returns the newest record of each user whose bucket's key (the
// user's UserKey) starts with prefix ("": every user), by that key: what
// `twostepctl users` shows as the last login. The unattributed bucket is
// not read. progress, when not nil, is called with the number of users
// read so far.
//
// On a store with KeyRanger (etcd), each user costs two reads of one key:
// the first key of the next bucket (keys only), and the bucket's last
// record; a record that fails its check is skipped for the one before it.
// On another store, Latest lists every record under the prefix in one
// read: its cost is bounded by history.per_user records (about 500 bytes
// each) per user, as the writer trims each bucket to that cap.
//
// A record that fails its check (written or edited without the key file)
// is skipped for the user's previous one, counted by the keyring and
// named in the error, which wraps ErrTampered: Latest then returns the
// other users' records with it. A History without a keyring checks
// nothing.
func (h *History) Latest(ctx context.Context, prefix string, progress func(users int)) (map[string]LoginRecord, error) {
	if progress == nil {
		progress = func(int) {}
	}
	if r, ok := h.store.(KeyRanger); ok {
		return h.latestRanged(ctx, r, historyUsers+prefix, progress)
	}
	return h.latestListed(ctx, historyUsers+prefix, progress)
}

// latestRanged walks the buckets under prefix one key at a time: the
// first key from where the last bucket ended names the next bucket, whose
// last record is its newest (a key starts with the record's time).
func (h *History) latestRanged(ctx context.Context, r KeyRanger, prefix string, progress func(int)) (map[string]LoginRecord, error) {
	out := map[string]LoginRecord{}
	var problems []error
	from, buckets := prefix, 0
	for {
		key, err := r.NextKey(ctx, prefix, from)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: read login records: %w", err)
		}
		user, ok := historyUser(key)
		if !ok {
			// Not a record's key (history/users/x without a bucket):
			// step past it.
			from = key + "\x00"
			continue
		}
		bucket := historyUsers + user + "/"
		before := ""
		for {
			e, err := r.Last(ctx, bucket, before)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("cluster: read login records: %w", err)
			}
			rec, err := h.decode(e)
			if err != nil {
				problems = append(problems, err)
				before = e.Key
				continue
			}
			out[user] = rec
			break
		}
		buckets++
		progress(buckets)
		// The keys of the bucket are those below bucket's end: user
		// followed by a byte greater than "/".
		from = historyUsers + user + "0"
	}
	return out, errors.Join(problems...)
}

// latestListed reads every record under prefix and keeps each bucket's
// newest that passes its check.
func (h *History) latestListed(ctx context.Context, prefix string, progress func(int)) (map[string]LoginRecord, error) {
	entries, err := h.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("cluster: read login records: %w", err)
	}
	out := map[string]LoginRecord{}
	var problems []error
	// Newest first: the first record of a bucket that passes its check
	// is its newest.
	for i := len(entries) - 1; i >= 0; i-- {
		user, ok := historyUser(entries[i].Key)
		if !ok {
			continue
		}
		if _, done := out[user]; done {
			continue
		}
		rec, err := h.decode(entries[i])
		if err != nil {
			problems = append(problems, err)
			continue
		}
		out[user] = rec
		progress(len(out))
	}
	return out, errors.Join(problems...)
}

// historyUser returns the bucket (a UserKey) of a record's key under
// history/users/.
func historyUser(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, historyUsers)
	if !ok {
		return "", false
	}
	user, _, ok := strings.Cut(rest, "/")
	return user, ok && user != ""
}
