package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// History keeps the login history in etcd: one record for every request a
// node answered (an Access-Accept, an Access-Reject, each
// Access-Challenge), so that `twostepctl logins` shows, from any machine
// that reaches the cluster, what each node decided and why.
//
// Records sit under history/users/<user>/ for the user the directory
// named, and under history/unattributed/ for requests that no directory
// user could be named for (an unknown name, a malformed request, a
// directory that did not answer): a spray of made-up names fills one
// bucket, not one per name. A record's key starts with its time, so a
// bucket lists oldest first. Each record has a lease of the retention
// and is signed with the key file (KindHistory), so that a record written
// into etcd by somebody without the key file is refused; deleting
// records is not detected. Writing is the recorder's (package history),
// off the login's path: Write takes a batch in one transaction, and Trim
// keeps a bucket within its cap.
type History struct {
	store     Store
	keys      *Keyring
	retention time.Duration
}

// Defaults of the login history (the history section).
const (
	DefaultHistoryRetention = 30 * 24 * time.Hour
	DefaultHistoryPerUser   = 200
)

// NewHistory returns the history over store, written with a lease of
// retention (DefaultHistoryRetention when zero or less). keys signs
// records; a History to read with, on a machine without the key file,
// may have none: List then returns the records unchecked.
func NewHistory(store Store, keys *Keyring, retention time.Duration) *History {
	if retention <= 0 {
		retention = DefaultHistoryRetention
	}
	return &History{store: store, keys: keys, retention: retention}
}

// LoginRecord is one answered request of the login history. The JSON
// names are those `twostepctl logins -json` prints.
type LoginRecord struct {
	// Time is when the answer left.
	Time time.Time `json:"time"`
	// ID is the login's correlation id (LoginID), the same on every
	// request, round and node of one login, and in the log lines.
	ID string `json:"id"`
	// User is the directory's canonical name of the user; empty when no
	// directory user was named (an unknown name, the directory down).
	User string `json:"user"`
	// TypedUser is the User-Name as sent, when it differs from User.
	TypedUser string `json:"typed_user"`
	// Client is the RADIUS client entry (clients[].name) that matched.
	Client string `json:"client"`
	// NASID is the NAS-Identifier; NASAddr the NAS-IP-Address (or
	// NAS-IPv6-Address), else the address the request came from; From
	// the Calling-Station-Id.
	NASID   string `json:"nas_id"`
	NASAddr string `json:"nas_addr"`
	From    string `json:"from"`
	// Factor is the factor the decision rested on: password, exempt,
	// totp, hotp, push, bypass, recovery, or empty.
	Factor string `json:"factor"`
	// Device is the device of the factor (a passcode's, a push's, a
	// bypass code's); nil when none.
	Device *LoginDevice `json:"device"`
	// Decision is accept, reject or challenge.
	Decision string `json:"decision"`
	// Reason is the decision's reason, as the log line and the metric
	// label say it.
	Reason string `json:"reason"`
	// Node is the twostepd that answered.
	Node string `json:"node"`
}

// LoginDevice names the device of a login record.
type LoginDevice struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// storedLogin is a login record as etcd keeps it: the record, a nonce
// (every value written is unique, Store.Commit) and the signature.
type storedLogin struct {
	LoginRecord
	Nonce string `json:"nonce"`
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`
}

const historyPurpose = "login record"

// Keys of the login history.
const (
	historyPrefix       = "history/"
	historyUsers        = historyPrefix + "users/"
	historyUnattributed = historyPrefix + "unattributed/"
	historyTimeLayout   = "20060102T150405.000000000Z"
)

// historyBucket is where the records of user (a canonical name; empty:
// none) are kept.
func historyBucket(user string) string {
	if user == "" {
		return historyUnattributed
	}
	return historyUsers + UserKey(user) + "/"
}

// historyKey is the key of r, written with nonce.
func historyKey(r *LoginRecord, nonce string) string {
	return historyBucket(r.User) + r.Time.UTC().Format(historyTimeLayout) + "-" + url.PathEscape(r.ID) + "-" + nonce[:8]
}

// signed is what the record's MAC covers: every field, and the key.
func (s *storedLogin) signed(key string) []byte {
	var dev []string
	if s.Device != nil {
		dev = []string{s.Device.ID, s.Device.Name}
	}
	b, _ := json.Marshal([]any{key, s.Time.UnixNano(), s.ID, s.User, s.TypedUser, s.Client, s.NASID, s.NASAddr, s.From,
		s.Factor, dev, s.Decision, s.Reason, s.Node, s.Nonce})
	return b
}

// Write stores recs, at most MaxTxnOps of them, in one transaction, each
// signed and with a lease of the retention.
func (h *History) Write(ctx context.Context, recs []LoginRecord) error {
	txn := Txn{Then: make([]Op, 0, len(recs))}
	for _, r := range recs {
		s := storedLogin{LoginRecord: r, Nonce: newNonce()}
		s.Time = s.Time.UTC()
		key := historyKey(&s.LoginRecord, s.Nonce)
		s.KeyID, s.MAC = h.keys.MAC(historyPurpose, s.signed(key))
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		txn.Then = append(txn.Then, Op{Key: key, Value: b, TTL: h.retention})
	}
	if len(txn.Then) == 0 {
		return nil
	}
	if _, err := h.store.Commit(ctx, txn); err != nil {
		return fmt.Errorf("cluster: write %d login records: %w", len(recs), err)
	}
	return nil
}

// Trim removes the oldest records of user (a canonical name; empty: the
// unattributed ones) beyond keep, and returns how many it removed. Two
// nodes trimming at once remove some records twice, which is no harm.
func (h *History) Trim(ctx context.Context, user string, keep int) (int, error) {
	entries, err := h.store.List(ctx, historyBucket(user))
	if err != nil {
		return 0, fmt.Errorf("cluster: trim login records: %w", err)
	}
	extra := len(entries) - max(keep, 0)
	removed := 0
	for removed < extra {
		n := min(extra-removed, MaxTxnOps)
		txn := Txn{Then: make([]Op, 0, n)}
		for _, e := range entries[removed : removed+n] {
			txn.Then = append(txn.Then, Delete(e.Key))
		}
		if _, err := h.store.Commit(ctx, txn); err != nil {
			return removed, fmt.Errorf("cluster: trim login records: %w", err)
		}
		removed += n
	}
	return removed, nil
}

// LoginFilter picks login records. Its zero value picks every one.
type LoginFilter struct {
	// User is a canonical name or a name as typed, compared without
	// case.
	User string
	// Since drops records older than it.
	Since time.Time
	// Decision is accept, reject or challenge.
	Decision string
	// ID is an id or its prefix, as ParseLoginReference returns it.
	ID string
}

func (f LoginFilter) match(r *LoginRecord) bool {
	switch {
	case r.Time.Before(f.Since):
		return false
	case f.Decision != "" && r.Decision != f.Decision:
		return false
	case f.ID != "" && !strings.HasPrefix(r.ID, f.ID):
		return false
	case f.User != "" && !strings.EqualFold(r.User, f.User) && !strings.EqualFold(r.TypedUser, f.User):
		return false
	}
	return true
}

// List returns the records f picks, newest first. A user's are read from
// the user's bucket and the unattributed one (where a login lands when
// the directory could not answer); only when neither holds a match is
// every record read, for a name as typed that the directory knows by
// another (ALICE@EXAMPLE.EDU, kept as alice). Without a user, every
// record is read.
//
// A record that fails its check (written or edited without the key file)
// is left out, counted by the keyring, and named in the error, which
// wraps ErrTampered: List then returns the other records with it. A
// History without a keyring checks nothing.
func (h *History) List(ctx context.Context, f LoginFilter) ([]LoginRecord, error) {
	var prefixes []string
	if f.User != "" {
		prefixes = []string{historyBucket(f.User), historyUnattributed}
	}
	out, problems, err := h.list(ctx, prefixes, f)
	if err == nil && len(out) == 0 && f.User != "" {
		out, problems, err = h.list(ctx, nil, f)
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b LoginRecord) int { return b.Time.Compare(a.Time) })
	return out, errors.Join(problems...)
}

// list reads the records under prefixes (nil: all) that f picks, in key
// order, with the problems of those that fail their check.
func (h *History) list(ctx context.Context, prefixes []string, f LoginFilter) ([]LoginRecord, []error, error) {
	if prefixes == nil {
		prefixes = []string{historyPrefix}
	}
	var out []LoginRecord
	var problems []error
	for _, p := range prefixes {
		entries, err := h.store.List(ctx, p)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: read login records: %w", err)
		}
		for _, e := range entries {
			r, err := h.decode(e)
			if err != nil {
				problems = append(problems, err)
				continue
			}
			if f.match(&r) {
				out = append(out, r)
			}
		}
	}
	return out, problems, nil
}

// decode reads the record of e and checks its signature.
func (h *History) decode(e Entry) (LoginRecord, error) {
	var s storedLogin
	if err := json.Unmarshal(e.Value, &s); err != nil {
		if h.keys == nil {
			return LoginRecord{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		return LoginRecord{}, h.keys.tampered(KindHistory, e.Key, err)
	}
	if h.keys != nil {
		if err := h.keys.verifyRecord(KindHistory, e.Key, historyPurpose, s.KeyID, s.signed(e.Key), s.MAC); err != nil {
			return LoginRecord{}, err
		}
	}
	return s.LoginRecord, nil
}
