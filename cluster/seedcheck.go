package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// SeedReport is what CheckSeeds found: how many stored seeds open, by
// the key that sealed them, and those that do not.
type SeedReport struct {
	// Opened counts the seeds that open, by the id of their key.
	Opened map[string]int
	// Failed lists the records whose seed does not open, in key order.
	Failed []SeedFailure
}

// SeedFailure is a device or token whose seed does not open with the
// key file. It names the record, never the seed.
type SeedFailure struct {
	// Kind is KindDevice or KindToken; Key is the record's key.
	Kind RecordKind
	Key  string
	// User and Device name a device's owner (as the records are kept:
	// lower case) and the device (its name, or its id when the record
	// does not parse); Serial names a token.
	User, Device, Serial string
	// KeyID is the key the record says sealed it ("" when it does not
	// parse).
	KeyID string
	// Err wraps ErrUnknownKey (the key file lacks KeyID), ErrDecrypt
	// (the record was altered or sealed with another key of that id),
	// ErrTampered (a record moved to another device id or serial), or is
	// a record that does not parse.
	Err error
}

// CheckSeeds opens every device and token seed stored, as logins and
// token assignment would, without counting failures as tampering (this
// is an admin's check, not a login). The error is for records that
// could not be listed.
func (a *Accounts) CheckSeeds(ctx context.Context) (SeedReport, error) {
	rep := SeedReport{Opened: map[string]int{}}
	users, err := a.store.List(ctx, "users/")
	if err != nil {
		return rep, fmt.Errorf("cluster: check seeds: %w", err)
	}
	tokens, err := a.store.List(ctx, "tokens/")
	if err != nil {
		return rep, fmt.Errorf("cluster: check seeds: %w", err)
	}
	for _, e := range users {
		parts := strings.Split(e.Key, "/")
		if len(parts) != 4 || parts[2] != "devices" {
			continue
		}
		user, _ := url.PathUnescape(parts[1])
		f := SeedFailure{Kind: KindDevice, Key: e.Key, User: user, Device: parts[3]}
		var r deviceRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			f.Err = fmt.Errorf("the record does not parse: %w", err)
			rep.Failed = append(rep.Failed, f)
			continue
		}
		if r.Name != "" {
			f.Device = r.Name
		}
		f.KeyID = r.Seed.KeyID
		if r.ID != parts[3] {
			f.Err = fmt.Errorf("%w: it names device %q", ErrTampered, r.ID)
			rep.Failed = append(rep.Failed, f)
			continue
		}
		if _, err := a.keys.Open(r.Seed, r.aad(parts[1])); err != nil {
			f.Err = err
			rep.Failed = append(rep.Failed, f)
			continue
		}
		rep.Opened[r.Seed.KeyID]++
	}
	for _, e := range tokens {
		serial, _ := url.PathUnescape(strings.TrimPrefix(e.Key, "tokens/"))
		f := SeedFailure{Kind: KindToken, Key: e.Key, Serial: serial}
		var r tokenRecord
		if err := json.Unmarshal(e.Value, &r); err != nil {
			f.Err = fmt.Errorf("the record does not parse: %w", err)
			rep.Failed = append(rep.Failed, f)
			continue
		}
		f.KeyID = r.Seed.KeyID
		if tokenKey(r.Serial) != e.Key {
			f.Err = fmt.Errorf("%w: it names serial %q", ErrTampered, r.Serial)
			rep.Failed = append(rep.Failed, f)
			continue
		}
		if _, err := a.keys.Open(r.Seed, r.aad()); err != nil {
			f.Err = err
			rep.Failed = append(rep.Failed, f)
			continue
		}
		rep.Opened[r.Seed.KeyID]++
	}
	return rep, nil
}
