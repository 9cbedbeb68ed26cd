package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Challenges keeps logins waiting for a passcode after an Access-Challenge,
// so that the answer may reach any node. A record is found by the hash of
// its State: etcdctl shows who is waiting, never a State to answer with.
type Challenges struct {
	store Store
	keys  *Keyring
}

// NewChallenges returns Challenges over store. keys signs each record, so
// that somebody who can write to etcd but lacks the key file cannot plant
// a waiting login (with the reply attributes of their choice).
func NewChallenges(store Store, keys *Keyring) *Challenges {
	return &Challenges{store: store, keys: keys}
}

// challengePurpose keys the records' MACs.
const challengePurpose = "challenge record"

// Pending is a login waiting for its second factor.
type Pending struct {
	// User is the User-Name as the NAS sent it; the answer must carry the
	// same. Account is the canonical name the user's records are kept under.
	User    string `json:"user"`
	Account string `json:"account"`
	// Client and NAS bind the State to the RADIUS client entry and the
	// address that asked: another NAS cannot answer it.
	Client string `json:"client"`
	NAS    string `json:"nas"`
	// Created and Expires bound the wait; Expires is checked by the reader
	// (a lease only cleans up).
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// AttemptsLeft counts wrong answers still allowed.
	AttemptsLeft int `json:"attempts_left"`
	// Data is the engine's own context (reply attributes to send).
	Data json.RawMessage `json:"data,omitempty"`
	// Login is the login's correlation id (LoginID of its first
	// request), so that every later round, on any node, logs and records
	// the same; empty in records from before it existed.
	Login string `json:"login,omitempty"`
	// KeyID and MAC sign every field above, AttemptsLeft included (each
	// wrong answer signs the record again).
	KeyID string `json:"kid"`
	MAC   []byte `json:"mac"`
	Nonce string `json:"nonce"`
	key   string
	rev   int64
}

// signed is what the MAC covers: everything that decides a login, and
// the record's key (the hash of its State).
func (p *Pending) signed() []byte {
	fields := []any{p.key, p.User, p.Account, p.Client, p.NAS,
		p.Created.UnixNano(), p.Expires.UnixNano(), p.AttemptsLeft, p.Data, p.Nonce}
	if p.Login != "" {
		// Appended only when set, tagged, so that records of nodes that do
		// not know the field still verify during an upgrade.
		fields = append(fields, []string{"login", p.Login})
	}
	b, _ := json.Marshal(fields)
	return b
}

// Expired reports whether the wait is over at now.
func (p *Pending) Expired(now time.Time) bool { return !now.Before(p.Expires) }

// stateLen is the State's length: 128 random bits (the floor,
// beyond guessing within a challenge's life).
const stateLen = 16

// leaseSlack keeps an expired record a little past its expiry, so that a
// late answer learns "expired" rather than "unknown".
const leaseSlack = time.Minute

func challengeKey(state []byte) string {
	sum := sha256.Sum256(state)
	return "challenges/" + hex.EncodeToString(sum[:])
}

// Create stores p and returns the State that finds it again.
func (c *Challenges) Create(ctx context.Context, p Pending) ([]byte, error) {
	state := make([]byte, stateLen)
	_, _ = rand.Read(state)
	p.key, p.Nonce = challengeKey(state), newNonce()
	p.Created, p.Expires = p.Created.UTC(), p.Expires.UTC()
	p.KeyID, p.MAC = c.keys.MAC(challengePurpose, p.signed())
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	ttl := p.Expires.Sub(p.Created) + leaseSlack
	_, err = c.store.Commit(ctx, Txn{
		If:   []Compare{{Key: p.key, ModRevision: 0}},
		Then: []Op{{Key: p.key, Value: b, TTL: ttl}},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: store challenge: %w", err)
	}
	return state, nil
}

// Get returns the login waiting on state, ErrNotFound, or ErrTampered
// for a record that fails its check. The caller checks Expired and the
// binding.
func (c *Challenges) Get(ctx context.Context, state []byte) (*Pending, error) {
	if len(state) != stateLen {
		return nil, ErrNotFound
	}
	e, err := c.store.Get(ctx, challengeKey(state))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("cluster: read challenge: %w", err)
	}
	p := &Pending{key: e.Key}
	if err := json.Unmarshal(e.Value, p); err != nil {
		return nil, c.keys.tampered(KindChallenge, e.Key, err)
	}
	if err := c.keys.verifyRecord(KindChallenge, e.Key, challengePurpose, p.KeyID, p.signed(), p.MAC); err != nil {
		return nil, err
	}
	p.rev = e.ModRevision
	return p, nil
}

// Retry spends one attempt of p after a wrong answer. ErrConflict means
// another node answered the same State in between: the caller refuses.
func (c *Challenges) Retry(ctx context.Context, p *Pending) error {
	next := *p
	next.AttemptsLeft--
	next.Nonce = newNonce()
	next.KeyID, next.MAC = c.keys.MAC(challengePurpose, next.signed())
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	ttl := time.Until(p.Expires) + leaseSlack
	if ttl < time.Second {
		ttl = time.Second
	}
	rev, err := c.store.Commit(ctx, Txn{
		If:   []Compare{{Key: p.key, ModRevision: p.rev}},
		Then: []Op{{Key: p.key, Value: b, TTL: ttl}},
	})
	if err != nil {
		return fmt.Errorf("cluster: update challenge: %w", err)
	}
	next.rev = rev
	*p = next
	return nil
}

// Take removes p for its last attempt, unless another answer changed or
// removed it since it was read: then ErrConflict, and that answer had the
// attempt.
func (c *Challenges) Take(ctx context.Context, p *Pending) error {
	_, err := c.store.Commit(ctx, Txn{
		If:   []Compare{{Key: p.key, ModRevision: p.rev}},
		Then: []Op{Delete(p.key)},
	})
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("cluster: take challenge: %w", err)
	}
	return err
}

// Finish removes p: it was answered, ran out of attempts or expired.
// A State is single use: when another answer changed the record
// meanwhile, Finish reads it again and still removes it.
func (c *Challenges) Finish(ctx context.Context, p *Pending) error {
	read := false
	_, err := Update(ctx, c.store, "finish challenge", func(ctx context.Context) (Txn, error) {
		rev := p.rev
		if read {
			e, err := c.store.Get(ctx, p.key)
			if errors.Is(err, ErrNotFound) {
				return Txn{}, nil // finished by another answer
			}
			if err != nil {
				return Txn{}, fmt.Errorf("cluster: finish challenge: %w", err)
			}
			rev = e.ModRevision
		}
		read = true
		return Txn{If: []Compare{{Key: p.key, ModRevision: rev}}, Then: []Op{Delete(p.key)}}, nil
	})
	return err
}
