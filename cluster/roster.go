package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// UserRecords is what the cluster keeps of one user, read for a listing
// of users: the devices by id, name and type (their seeds stay sealed, so
// no key file is needed), the lockout and the profile.
type UserRecords struct {
	// Key is the user's UserKey: the name lower-cased and path-escaped,
	// as the records are kept under it.
	Key     string
	Devices []DeviceInfo
	Lockout Lockout
	Profile Profile
	// Problems are records that could not be read (not JSON: written
	// into etcd by hand); the others are listed.
	Problems []error
}

// DeviceInfo is what a listing shows of a device: never its seed.
type DeviceInfo struct {
	ID      string
	Name    string
	Type    DeviceType
	Created time.Time
	// Serial is a hardware token's serial.
	Serial string
}

// Users reads the records of every user whose UserKey starts with prefix
// ("": every user) with one List of users/, in the order of their keys. A user with
// any record (a device, a used step, a code, a lockout, a profile, a push
// log) is listed. It opens no seed: a listing needs no key file.
func (a *Accounts) Users(ctx context.Context, prefix string) ([]UserRecords, error) {
	entries, err := a.store.List(ctx, "users/"+prefix)
	if err != nil {
		return nil, fmt.Errorf("cluster: list users: %w", err)
	}
	var out []UserRecords
	for _, e := range entries {
		key, rest, ok := strings.Cut(strings.TrimPrefix(e.Key, "users/"), "/")
		if !ok || key == "" {
			continue
		}
		if len(out) == 0 || out[len(out)-1].Key != key {
			out = append(out, UserRecords{Key: key})
		}
		u := &out[len(out)-1]
		switch {
		case strings.HasPrefix(rest, "devices/"):
			var r deviceRecord
			if err := json.Unmarshal(e.Value, &r); err != nil {
				u.Problems = append(u.Problems, fmt.Errorf("cluster: record %s: %w", e.Key, err))
				continue
			}
			u.Devices = append(u.Devices, DeviceInfo{ID: r.ID, Name: r.Name, Type: r.Type, Created: r.Created, Serial: r.Serial})
		case rest == "lockout":
			if err := json.Unmarshal(e.Value, &u.Lockout); err != nil {
				u.Problems = append(u.Problems, fmt.Errorf("cluster: record %s: %w", e.Key, err))
			}
		case rest == "profile":
			if err := json.Unmarshal(e.Value, &u.Profile); err != nil {
				u.Problems = append(u.Problems, fmt.Errorf("cluster: record %s: %w", e.Key, err))
			}
		}
	}
	for i := range out {
		sortDeviceInfos(out[i].Devices)
	}
	return out, nil
}

// sortDeviceInfos orders devices as Load does: oldest first.
func sortDeviceInfos(ds []DeviceInfo) {
	slices.SortFunc(ds, func(a, b DeviceInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// UserName returns the name a UserKey stands for: the canonical name
// lower-cased, as records are kept under it; the key itself when it does
// not unescape.
func UserName(key string) string {
	if name, err := url.PathUnescape(key); err == nil {
		return name
	}
	return key
}
