package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Sessions keeps the self-service portal's sign-ins, so that a browser's
// next request may reach any node. A record is found by the hash of its
// token: etcdctl shows who is signed in, never a cookie to sign in with.
type Sessions struct {
	store Store
	keys  *Keyring
}

// NewSessions returns Sessions over store. keys signs each record, so
// that somebody who can write to etcd but lacks the key file cannot plant
// a signed-in session.
func NewSessions(store Store, keys *Keyring) *Sessions {
	return &Sessions{store: store, keys: keys}
}

const sessionPurpose = "portal session"

// SessionStage is how far a sign-in has come.
type SessionStage string

// Stages of a session.
const (
	// StagePassword: the password was right; a second factor is due.
	StagePassword SessionStage = "password"
	// StageEnroll: signed in without a second factor (a recovery
	// passcode, or a user without devices in the enrollment grace): the
	// session may add a device and nothing else.
	StageEnroll SessionStage = "enroll"
	// StageSignedIn: password and second factor: the user's own settings.
	StageSignedIn SessionStage = "signed-in"
)

// Session is one browser's sign-in.
type Session struct {
	// User is the canonical account name.
	User  string       `json:"user"`
	Stage SessionStage `json:"stage"`
	// Created bounds the session's whole life (Expires); Seen its idle
	// time (Idle after the last request).
	Created time.Time     `json:"created"`
	Expires time.Time     `json:"expires"`
	Seen    time.Time     `json:"seen"`
	Idle    time.Duration `json:"idle"`
	// CSRF is the token every form and API call must echo.
	CSRF string `json:"csrf"`
	// Push is the push the browser waits on (sign-in or confirmation);
	// Number its verified-push number shown on the page (not secret:
	// the page shows it).
	Push   string `json:"push,omitempty"`
	Number string `json:"number,omitempty"`
	// Enroll is the secret of an authenticator app being added, sealed,
	// until the user confirms it with a first code.
	Enroll *Sealed `json:"enroll,omitempty"`
	// Attempts left for a second factor at this stage.
	Attempts int `json:"attempts"`
	// Grace marks an enroll-only session that the password alone opened
	// (a user without devices, in the enrollment grace): it may add the
	// account's first device only.
	Grace bool `json:"grace,omitempty"`
	// Factor is when the session's last second factor was checked;
	// adding a device wants a recent one.
	Factor time.Time `json:"factor,omitzero"`
	// Pending is an action waiting for a second factor to confirm it
	// (e.g. removing a device).
	Pending *SessionAction `json:"pending,omitempty"`
	// KeyID and MAC sign every field above: a write to etcd without the
	// key file cannot sign anybody in, reset the attempts or stretch the
	// idle time.
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`
	Nonce string `json:"nonce"`
	key   string
	rev   int64
}

// SessionAction is an action that a second factor must confirm.
type SessionAction struct {
	Kind   string `json:"kind"`   // e.g. "remove"
	Device string `json:"device"` // the device it applies to
}

func (s *Session) signed() []byte {
	b, _ := json.Marshal([]any{s.key, s.User, s.Stage, s.Created.UnixNano(), s.Expires.UnixNano(), s.Seen.UnixNano(), s.Idle,
		s.CSRF, s.Push, s.Number, s.Attempts, s.Pending, s.Enroll, s.Grace, s.Factor.UnixNano()})
	return b
}

// Valid reports whether s is still usable at now: neither past its whole
// life nor idle too long.
func (s *Session) Valid(now time.Time) bool {
	return now.Before(s.Expires) && (s.Idle <= 0 || now.Before(s.Seen.Add(s.Idle)))
}

// sessionTokenLen is the cookie's random bytes: 256 bits.
const sessionTokenLen = 32

func sessionKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sessions/" + hex.EncodeToString(sum[:])
}

// newToken returns n random bytes, base64url: a cookie or CSRF token.
func newToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrSessionGone: no session has this token (never was, expired, signed
// out).
var ErrSessionGone = errors.New("cluster: no such session")

// Create stores s and returns the token (the cookie's value) that finds
// it. It fills in the CSRF token.
func (ss *Sessions) Create(ctx context.Context, s *Session) (string, error) {
	token := newToken(sessionTokenLen)
	s.key, s.CSRF = sessionKey(token), newToken(32)
	s.Created, s.Expires, s.Seen = s.Created.UTC(), s.Expires.UTC(), s.Created.UTC()
	if err := ss.write(ctx, s, 0); err != nil {
		return "", err
	}
	return token, nil
}

// Get returns the session of token, ErrSessionGone, or ErrTampered for
// a record that fails its check (the caller treats it as gone, and logs
// it). It does not check Valid: the caller does, with its clock.
func (ss *Sessions) Get(ctx context.Context, token string) (*Session, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(sessionTokenLen) {
		return nil, ErrSessionGone
	}
	e, err := ss.store.Get(ctx, sessionKey(token))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, ErrSessionGone
		}
		return nil, fmt.Errorf("cluster: read session: %w", err)
	}
	s := &Session{}
	if err := json.Unmarshal(e.Value, s); err != nil {
		return nil, ss.keys.tampered(KindSession, e.Key, err)
	}
	s.key, s.rev = e.Key, e.ModRevision
	if err := ss.keys.verifyRecord(KindSession, e.Key, sessionPurpose, s.KeyID, s.signed(), s.MAC); err != nil {
		return nil, err
	}
	return s, nil
}

// Update writes s back, comparing the revision Get read. ErrConflict
// means another request of the same browser changed it first.
func (ss *Sessions) Update(ctx context.Context, s *Session) error {
	return ss.write(ctx, s, s.rev)
}

// Rotate moves s under a new token (after a sign-in step raises its
// stage, so that a token seen before the step is worth nothing after)
// and returns the new token. The CSRF token changes too.
func (ss *Sessions) Rotate(ctx context.Context, s *Session) (string, error) {
	old, rev := s.key, s.rev
	token := newToken(sessionTokenLen)
	next := *s
	next.key, next.CSRF, next.Nonce = sessionKey(token), newToken(32), newNonce()
	next.Enroll = nil // sealed to the old key
	next.KeyID, next.MAC = ss.keys.MAC(sessionPurpose, next.signed())
	b, err := json.Marshal(&next)
	if err != nil {
		return "", err
	}
	rv, err := ss.store.Commit(ctx, Txn{
		If:   []Compare{{Key: old, ModRevision: rev}, {Key: next.key}},
		Then: []Op{Delete(old), {Key: next.key, Value: b, TTL: time.Until(next.Expires) + leaseSlack}},
	})
	if err != nil {
		return "", fmt.Errorf("cluster: rotate session: %w", err)
	}
	next.rev = rv
	*s = next
	return token, nil
}

// SealEnroll keeps secret in s (not yet written: Update does) for the
// device being added, sealed under the key file and bound to s.
func (ss *Sessions) SealEnroll(s *Session, secret []byte) error {
	sealed, err := ss.keys.Seal(secret, []byte("session enroll\x00"+s.key))
	if err != nil {
		return fmt.Errorf("cluster: seal enrollment: %w", err)
	}
	s.Enroll = &sealed
	return nil
}

// OpenEnroll returns the secret SealEnroll kept in s, or ErrNotFound.
func (ss *Sessions) OpenEnroll(s *Session) ([]byte, error) {
	if s.Enroll == nil {
		return nil, ErrNotFound
	}
	return ss.keys.Open(*s.Enroll, []byte("session enroll\x00"+s.key))
}

// Delete ends s (sign out).
func (ss *Sessions) Delete(ctx context.Context, s *Session) error {
	if _, err := ss.store.Commit(ctx, Txn{Then: []Op{Delete(s.key)}}); err != nil {
		return fmt.Errorf("cluster: delete session: %w", err)
	}
	return nil
}

func (ss *Sessions) write(ctx context.Context, s *Session, rev int64) error {
	s.Nonce = newNonce()
	s.KeyID, s.MAC = ss.keys.MAC(sessionPurpose, s.signed())
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	ttl := max(time.Until(s.Expires), time.Second) + leaseSlack
	r, err := ss.store.Commit(ctx, Txn{
		If:   []Compare{{Key: s.key, ModRevision: rev}},
		Then: []Op{{Key: s.key, Value: b, TTL: ttl}},
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return err
		}
		return fmt.Errorf("cluster: write session: %w", err)
	}
	s.rev = r
	return nil
}
