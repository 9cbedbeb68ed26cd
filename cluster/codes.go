package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Help-desk codes: bypass codes (a login without the device, a few times
// or for a few days) and recovery passcodes (proof of identity to add a
// new device). The codes themselves are shown once and stored only as
// keyed hashes (HMAC-SHA256 under the seed key file), so a copy of etcd
// reveals none.

// Bypass is one bypass code of a user, as stored.
type Bypass struct {
	ID string `json:"id"`
	// Profile names the settings it was issued with ("short", "long",
	// "custom").
	Profile string    `json:"profile"`
	Created time.Time `json:"created"`
	// Expires is checked by every node; a lease only removes the record
	// a day later.
	Expires time.Time `json:"expires"`
	// MaxUses bounds the logins; 0 allows any number until Expires.
	MaxUses  int       `json:"max_uses"`
	Used     int       `json:"used"`
	LastUsed time.Time `json:"last_used,omitzero"`
	// IssuedBy names the admin (or tool) that issued it, for the audit.
	IssuedBy string `json:"issued_by"`
	KeyID    string `json:"kid"`
	MAC      []byte `json:"mac"`
	Nonce    string `json:"nonce"`
	rev      int64
}

// Usable reports whether the code may still log in at now.
func (b Bypass) Usable(now time.Time) bool {
	return now.Before(b.Expires) && (b.MaxUses == 0 || b.Used < b.MaxUses)
}

// Recovery is a single-use recovery passcode, as stored.
type Recovery struct {
	ID       string    `json:"id"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	IssuedBy string    `json:"issued_by"`
	KeyID    string    `json:"kid"`
	MAC      []byte    `json:"mac"`
	Nonce    string    `json:"nonce"`
	rev      int64
}

// Errors of code checks.
var (
	// ErrNoCode: no code of the user matches.
	ErrNoCode = errors.New("cluster: no such code")
	// ErrCodeExpired: the code matched but its time is over.
	ErrCodeExpired = errors.New("cluster: code expired")
	// ErrCodeUsedUp: the code matched but has no use left.
	ErrCodeUsedUp = errors.New("cluster: code used up")
)

// Purposes of the keyed hashes, one per kind of code.
const (
	bypassPurpose   = "bypass code"
	recoveryPurpose = "recovery passcode"
)

// recordSlack keeps a spent or expired code a day past its expiry, so the
// log says "expired" rather than "wrong code" to the help desk.
const recordSlack = 24 * time.Hour

func bypassPrefix(user string) string      { return userPrefix(user) + "bypass/" }
func bypassKey(user, id string) string     { return bypassPrefix(user) + id }
func recoveryPrefix(user string) string    { return userPrefix(user) + "recovery/" }
func recoveryKey(user, id string) string   { return recoveryPrefix(user) + id }
func codeMessage(user, code string) []byte { return []byte(UserKey(user) + "\x00" + code) }

// NewCode returns digits random decimal digits, uniformly.
func NewCode(digits int) (string, error) {
	if digits < 6 || digits > 12 {
		return "", fmt.Errorf("cluster: a code has 6 to 12 digits, not %d", digits)
	}
	b := make([]byte, digits)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b[i] = byte('0' + n.Int64())
	}
	return string(b), nil
}

// BypassSpec says what a new bypass code allows.
type BypassSpec struct {
	Profile  string
	MaxUses  int // 0: any number
	TTL      time.Duration
	Digits   int
	IssuedBy string
}

// IssueBypass creates a bypass code for user and returns it: the only
// time it is seen.
func (a *Accounts) IssueBypass(ctx context.Context, user string, spec BypassSpec, now time.Time) (string, Bypass, error) {
	if spec.TTL <= 0 || spec.MaxUses < 0 {
		return "", Bypass{}, errors.New("cluster: a bypass code needs a positive lifetime and a non-negative number of uses")
	}
	code, err := NewCode(spec.Digits)
	if err != nil {
		return "", Bypass{}, err
	}
	b := Bypass{
		ID: randomHex(8), Profile: spec.Profile, Created: now.UTC(), Expires: now.Add(spec.TTL).UTC(),
		MaxUses: spec.MaxUses, IssuedBy: spec.IssuedBy, Nonce: newNonce(),
	}
	b.KeyID, b.MAC = a.keys.MAC(bypassPurpose, codeMessage(user, code))
	if b.KeyID == "" {
		return "", Bypass{}, errors.New("cluster: no seed key to hash the code with")
	}
	v, err := json.Marshal(b)
	if err != nil {
		return "", Bypass{}, err
	}
	key := bypassKey(user, b.ID)
	if _, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: key, ModRevision: 0}},
		Then: []Op{{Key: key, Value: v, TTL: spec.TTL + recordSlack}},
	}); err != nil {
		return "", Bypass{}, fmt.Errorf("cluster: issue bypass code for %q: %w", user, err)
	}
	return code, b, nil
}

// RevokeBypass deletes user's bypass code id, or all of them when id is
// empty, and returns those removed.
func (a *Accounts) RevokeBypass(ctx context.Context, user, id string) ([]Bypass, error) {
	entries, err := a.store.List(ctx, bypassPrefix(user))
	if err != nil {
		return nil, fmt.Errorf("cluster: bypass codes of %q: %w", user, err)
	}
	var gone []Bypass
	var txn Txn
	for _, e := range entries {
		var b Bypass
		if err := json.Unmarshal(e.Value, &b); err != nil {
			return nil, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		if id != "" && b.ID != id {
			continue
		}
		gone = append(gone, b)
		txn.If = append(txn.If, Compare{Key: e.Key, ModRevision: e.ModRevision})
		txn.Then = append(txn.Then, Delete(e.Key))
	}
	if id != "" && len(gone) == 0 {
		return nil, fmt.Errorf("%w: %q has no bypass code %q", ErrNoCode, user, id)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	if _, err := a.store.Commit(ctx, txn); err != nil {
		return nil, fmt.Errorf("cluster: revoke bypass codes of %q: %w", user, err)
	}
	return gone, nil
}

// UseBypass spends one use of the bypass code of acct that matches code.
// Each use is taken exactly once across the cluster: the write compares
// the revision read, and ErrConflict tells the caller to load the account
// again and decide again. It returns ErrNoCode, ErrCodeExpired or
// ErrCodeUsedUp when the code does not let the user in.
func (a *Accounts) UseBypass(ctx context.Context, acct *Account, code string, now time.Time) (Bypass, error) {
	i := -1
	for j, b := range acct.Bypass {
		// Every record is checked, so the time taken does not tell which
		// matched.
		if a.keys.VerifyMAC(b.KeyID, bypassPurpose, codeMessage(acct.Name, code), b.MAC) && i < 0 {
			i = j
		}
	}
	if i < 0 {
		return Bypass{}, ErrNoCode
	}
	cur := acct.Bypass[i]
	switch {
	case !now.Before(cur.Expires):
		return cur, ErrCodeExpired
	case cur.MaxUses > 0 && cur.Used >= cur.MaxUses:
		return cur, ErrCodeUsedUp
	}
	next := cur
	next.Used++
	next.LastUsed = now.UTC()
	next.Nonce = newNonce()
	v, err := json.Marshal(next)
	if err != nil {
		return cur, fmt.Errorf("cluster: use bypass code: %w", err)
	}
	ttl := cur.Expires.Sub(now) + recordSlack
	key := bypassKey(acct.Name, cur.ID)
	// Like Accept: the use and the lockout reset in one transaction that
	// compares both, so a lock that landed meanwhile wins.
	txn := Txn{
		If: []Compare{
			{Key: key, ModRevision: cur.rev},
			{Key: lockoutKey(acct.Name), ModRevision: acct.Lockout.rev},
		},
		Then: []Op{{Key: key, Value: v, TTL: ttl}},
	}
	if acct.Lockout.rev != 0 {
		txn.Then = append(txn.Then, Delete(lockoutKey(acct.Name)))
	}
	rev, err := a.store.Commit(ctx, txn)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return cur, err
		}
		return cur, fmt.Errorf("cluster: use bypass code of %q: %w", acct.Name, err)
	}
	next.rev = rev
	acct.Bypass[i] = next
	acct.Lockout = Lockout{}
	return next, nil
}

// IssueRecovery creates user's recovery passcode, replacing any earlier
// one, and returns it: the only time it is seen.
func (a *Accounts) IssueRecovery(ctx context.Context, user string, ttl time.Duration, digits int, by string, now time.Time) (string, Recovery, error) {
	if ttl <= 0 {
		return "", Recovery{}, errors.New("cluster: a recovery passcode needs a positive lifetime")
	}
	code, err := NewCode(digits)
	if err != nil {
		return "", Recovery{}, err
	}
	r := Recovery{ID: randomHex(8), Created: now.UTC(), Expires: now.Add(ttl).UTC(), IssuedBy: by, Nonce: newNonce()}
	r.KeyID, r.MAC = a.keys.MAC(recoveryPurpose, codeMessage(user, code))
	if r.KeyID == "" {
		return "", Recovery{}, errors.New("cluster: no seed key to hash the code with")
	}
	v, err := json.Marshal(r)
	if err != nil {
		return "", Recovery{}, err
	}
	old, err := a.store.List(ctx, recoveryPrefix(user))
	if err != nil {
		return "", Recovery{}, fmt.Errorf("cluster: recovery passcodes of %q: %w", user, err)
	}
	key := recoveryKey(user, r.ID)
	txn := Txn{If: []Compare{{Key: key, ModRevision: 0}}}
	for _, e := range old {
		txn.If = append(txn.If, Compare{Key: e.Key, ModRevision: e.ModRevision})
		txn.Then = append(txn.Then, Delete(e.Key))
	}
	txn.Then = append(txn.Then, Op{Key: key, Value: v, TTL: ttl + recordSlack})
	if _, err := a.store.Commit(ctx, txn); err != nil {
		return "", Recovery{}, fmt.Errorf("cluster: issue recovery passcode for %q: %w", user, err)
	}
	return code, r, nil
}

// UseRecovery spends user's recovery passcode code: it succeeds once,
// cluster-wide. ErrNoCode and ErrCodeExpired say why it did not.
func (a *Accounts) UseRecovery(ctx context.Context, user, code string, now time.Time) (Recovery, error) {
	entries, err := a.store.List(ctx, recoveryPrefix(user))
	if err != nil {
		return Recovery{}, fmt.Errorf("cluster: recovery passcodes of %q: %w", user, err)
	}
	var match *Recovery
	for _, e := range entries {
		var r Recovery
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return Recovery{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
		}
		r.rev = e.ModRevision
		if a.keys.VerifyMAC(r.KeyID, recoveryPurpose, codeMessage(user, code), r.MAC) && match == nil {
			match = &r
		}
	}
	if match == nil {
		return Recovery{}, ErrNoCode
	}
	if !now.Before(match.Expires) {
		return *match, ErrCodeExpired
	}
	key := recoveryKey(user, match.ID)
	_, err = a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: key, ModRevision: match.rev}},
		Then: []Op{Delete(key)},
	})
	switch {
	case errors.Is(err, ErrConflict):
		return *match, ErrNoCode // spent by another node a moment ago
	case err != nil:
		return *match, fmt.Errorf("cluster: use recovery passcode of %q: %w", user, err)
	}
	return *match, nil
}
