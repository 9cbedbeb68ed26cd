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
// reveals none. Each record also carries a MAC over every field that
// decides (its place, id, profile, times, uses, limit, the code's hash
// and the nonce), made again at each use: a record edited without the key
// file (a spent code given new uses, a later expiry) is ErrTampered.

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
	// CodeKeyID and CodeMAC are the code's keyed hash.
	CodeKeyID string `json:"code_kid"`
	CodeMAC   []byte `json:"code_mac"`
	Nonce     string `json:"nonce"`
	// KeyID and MAC sign every field above, with the record's key.
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`
	rev   int64
}

// signed is what b's MAC covers, b being stored at key.
func (b *Bypass) signed(key string) []byte {
	m, _ := json.Marshal([]any{key, b.ID, b.Profile, b.Created.UnixNano(), b.Expires.UnixNano(), b.MaxUses, b.Used,
		b.LastUsed.UnixNano(), b.IssuedBy, b.CodeKeyID, b.CodeMAC, b.Nonce})
	return m
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
	// CodeKeyID and CodeMAC are the code's keyed hash.
	CodeKeyID string `json:"code_kid"`
	CodeMAC   []byte `json:"code_mac"`
	Nonce     string `json:"nonce"`
	// KeyID and MAC sign every field above, with the record's key.
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`
	rev   int64
}

// signed is what r's MAC covers, r being stored at key.
func (r *Recovery) signed(key string) []byte {
	m, _ := json.Marshal([]any{key, r.ID, r.Created.UnixNano(), r.Expires.UnixNano(), r.IssuedBy, r.CodeKeyID, r.CodeMAC, r.Nonce})
	return m
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

// Purposes of the keyed hashes, one per kind of code, and of the
// records' MACs.
const (
	bypassPurpose     = "bypass code"
	recoveryPurpose   = "recovery passcode"
	codeRecordPurpose = "code record"
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
	b.CodeKeyID, b.CodeMAC = a.keys.MAC(bypassPurpose, codeMessage(user, code))
	if b.CodeKeyID == "" {
		return "", Bypass{}, errors.New("cluster: no seed key to hash the code with")
	}
	key := bypassKey(user, b.ID)
	b.KeyID, b.MAC = a.keys.MAC(codeRecordPurpose, b.signed(key))
	v, err := json.Marshal(b)
	if err != nil {
		return "", Bypass{}, err
	}
	ev, err := a.event(now, ActionBypassIssue, user, bypassText(b, allowsText(b)))
	if err != nil {
		return "", Bypass{}, err
	}
	if _, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: key, ModRevision: 0}},
		Then: append([]Op{{Key: key, Value: v, TTL: spec.TTL + recordSlack}}, ev...),
	}); err != nil {
		return "", Bypass{}, fmt.Errorf("cluster: issue bypass code for %q: %w", user, err)
	}
	return code, b, nil
}

// bypassText names bypass code b in audit events, with what it says of
// its uses: "code 3f9a0c1d (short), 5 uses, expires 2026-11-25T10:00:00Z".
func bypassText(b Bypass, uses string) string {
	return fmt.Sprintf("code %s (%s), %s, expires %s", b.ID, b.Profile, uses, b.Expires.UTC().Format(time.RFC3339))
}

// allowsText says how many logins b allows: "5 uses", "unlimited uses".
func allowsText(b Bypass) string {
	switch b.MaxUses {
	case 0:
		return "unlimited uses"
	case 1:
		return "1 use"
	}
	return fmt.Sprintf("%d uses", b.MaxUses)
}

// usesText says how much of b was used: "2 of 5", "3 of unlimited".
func usesText(b Bypass) string {
	if b.MaxUses == 0 {
		return fmt.Sprintf("%d of unlimited", b.Used)
	}
	return fmt.Sprintf("%d of %d", b.Used, b.MaxUses)
}

// RevokeBypass deletes user's bypass code id, or all of them when id is
// empty, and returns those removed.
func (a *Accounts) RevokeBypass(ctx context.Context, user, id string) ([]Bypass, error) {
	var gone []Bypass
	_, err := Update(ctx, a.store, fmt.Sprintf("revoke bypass codes of %q", user), func(ctx context.Context) (Txn, error) {
		entries, err := a.store.List(ctx, bypassPrefix(user))
		if err != nil {
			return Txn{}, fmt.Errorf("cluster: bypass codes of %q: %w", user, err)
		}
		gone = nil
		var txn Txn
		for _, e := range entries {
			// A record that fails its check is revoked all the same.
			var b Bypass
			if err := json.Unmarshal(e.Value, &b); err != nil {
				return Txn{}, fmt.Errorf("cluster: record %s: %w", e.Key, err)
			}
			if id != "" && b.ID != id {
				continue
			}
			gone = append(gone, b)
			txn.If = append(txn.If, Compare{Key: e.Key, ModRevision: e.ModRevision})
			txn.Then = append(txn.Then, Delete(e.Key))
			ev, err := a.event(time.Time{}, ActionBypassRevoke, user, bypassText(b, "used "+usesText(b)))
			if err != nil {
				return Txn{}, err
			}
			txn.Then = append(txn.Then, ev...)
		}
		if id != "" && len(gone) == 0 {
			return Txn{}, fmt.Errorf("%w: %q has no bypass code %q", ErrNoCode, user, id)
		}
		return txn, nil
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// openBypass reads the bypass code record e: ErrTampered when its MAC
// does not hold.
func (a *Accounts) openBypass(e Entry) (Bypass, error) {
	var b Bypass
	if err := json.Unmarshal(e.Value, &b); err != nil {
		return Bypass{}, a.keys.tampered(KindBypass, e.Key, err)
	}
	if err := a.keys.verifyRecord(KindBypass, e.Key, codeRecordPurpose, b.KeyID, b.signed(e.Key), b.MAC); err != nil {
		return Bypass{}, err
	}
	b.rev = e.ModRevision
	return b, nil
}

// openRecovery reads the recovery passcode record e: ErrTampered when
// its MAC does not hold.
func (a *Accounts) openRecovery(e Entry) (Recovery, error) {
	var r Recovery
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return Recovery{}, a.keys.tampered(KindRecovery, e.Key, err)
	}
	if err := a.keys.verifyRecord(KindRecovery, e.Key, codeRecordPurpose, r.KeyID, r.signed(e.Key), r.MAC); err != nil {
		return Recovery{}, err
	}
	r.rev = e.ModRevision
	return r, nil
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
		if a.keys.VerifyMAC(b.CodeKeyID, bypassPurpose, codeMessage(acct.Name, code), b.CodeMAC) && i < 0 {
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
	key := bypassKey(acct.Name, cur.ID)
	next := cur
	next.Used++
	next.LastUsed = now.UTC()
	next.Nonce = newNonce()
	next.KeyID, next.MAC = a.keys.MAC(codeRecordPurpose, next.signed(key))
	v, err := json.Marshal(next)
	if err != nil {
		return cur, fmt.Errorf("cluster: use bypass code: %w", err)
	}
	ttl := cur.Expires.Sub(now) + recordSlack
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
	use := "unlimited uses"
	if next.MaxUses > 0 {
		use = fmt.Sprintf("use %d of %d", next.Used, next.MaxUses)
	}
	ev, err := a.event(now, ActionBypassUse, acct.Name, bypassText(next, use))
	if err != nil {
		return cur, err
	}
	txn.Then = append(txn.Then, ev...)
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
	r.CodeKeyID, r.CodeMAC = a.keys.MAC(recoveryPurpose, codeMessage(user, code))
	if r.CodeKeyID == "" {
		return "", Recovery{}, errors.New("cluster: no seed key to hash the code with")
	}
	key := recoveryKey(user, r.ID)
	r.KeyID, r.MAC = a.keys.MAC(codeRecordPurpose, r.signed(key))
	v, err := json.Marshal(r)
	if err != nil {
		return "", Recovery{}, err
	}
	_, err = Update(ctx, a.store, fmt.Sprintf("issue a recovery passcode for %q", user), func(ctx context.Context) (Txn, error) {
		old, err := a.store.List(ctx, recoveryPrefix(user))
		if err != nil {
			return Txn{}, fmt.Errorf("cluster: recovery passcodes of %q: %w", user, err)
		}
		txn := Txn{If: []Compare{{Key: key, ModRevision: 0}}}
		for _, e := range old {
			txn.If = append(txn.If, Compare{Key: e.Key, ModRevision: e.ModRevision})
			txn.Then = append(txn.Then, Delete(e.Key))
		}
		txn.Then = append(txn.Then, Op{Key: key, Value: v, TTL: ttl + recordSlack})
		ev, err := a.event(now, ActionRecoveryIssue, user, fmt.Sprintf("passcode %s, expires %s", r.ID, r.Expires.Format(time.RFC3339)))
		if err != nil {
			return Txn{}, err
		}
		txn.Then = append(txn.Then, ev...)
		return txn, nil
	})
	if err != nil {
		return "", Recovery{}, err
	}
	return code, r, nil
}

// UseRecovery spends acct's recovery passcode code: it succeeds once,
// cluster-wide, and clears acct's failed attempts, in one transaction
// that compares the passcode's record and the lockout as Load read them
// (a lock that landed meanwhile wins). ErrNoCode and ErrCodeExpired say
// why it did not; ErrConflict asks the caller to load the account again
// and decide again (with Retry).
func (a *Accounts) UseRecovery(ctx context.Context, acct *Account, code string, now time.Time) (Recovery, error) {
	var match *Recovery
	for i := range acct.Recovery {
		// Every record is checked, so the time taken does not tell which
		// matched.
		r := &acct.Recovery[i]
		if a.keys.VerifyMAC(r.CodeKeyID, recoveryPurpose, codeMessage(acct.Name, code), r.CodeMAC) && match == nil {
			match = r
		}
	}
	if match == nil {
		return Recovery{}, ErrNoCode
	}
	if !now.Before(match.Expires) {
		return *match, ErrCodeExpired
	}
	key := recoveryKey(acct.Name, match.ID)
	txn := Txn{
		If: []Compare{
			{Key: key, ModRevision: match.rev},
			{Key: lockoutKey(acct.Name), ModRevision: acct.Lockout.rev},
		},
		Then: []Op{Delete(key)},
	}
	if acct.Lockout.rev != 0 {
		txn.Then = append(txn.Then, Delete(lockoutKey(acct.Name)))
	}
	ev, err := a.event(now, ActionRecoveryUse, acct.Name, fmt.Sprintf("passcode %s (issued by %s)", match.ID, match.IssuedBy))
	if err != nil {
		return *match, err
	}
	txn.Then = append(txn.Then, ev...)
	if _, err := a.store.Commit(ctx, txn); err != nil {
		if errors.Is(err, ErrConflict) {
			return *match, err
		}
		return *match, fmt.Errorf("cluster: use recovery passcode of %q: %w", acct.Name, err)
	}
	acct.Lockout = Lockout{}
	return *match, nil
}
