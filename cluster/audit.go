package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Audit keeps the help desk's trail in etcd: who issued, used and revoked
// bypass and recovery codes, and what happened to tokens, readable from
// any node with `twostepctl audit` or etcdctl. Events expire after
// Retention (a lease), so the trail does not grow without end; ship the
// daemon's log for longer keeping.
type Audit struct {
	store     Store
	retention time.Duration
}

// DefaultAuditRetention is how long audit events stay in etcd.
const DefaultAuditRetention = 90 * 24 * time.Hour

// NewAudit returns an Audit over store keeping events for retention
// (DefaultAuditRetention when zero).
func NewAudit(store Store, retention time.Duration) *Audit {
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	return &Audit{store: store, retention: retention}
}

// Event is one audit record. It never holds a code or a secret.
type Event struct {
	Time time.Time `json:"time"`
	// Action is dotted: bypass.issue, bypass.use, bypass.revoke,
	// recovery.issue, recovery.use, token.import, token.assign, …
	Action string `json:"action"`
	// Actor is who did it: an admin ("twostepctl root@host") or a node
	// ("twostepd host").
	Actor string `json:"actor"`
	User  string `json:"user,omitempty"`
	// Detail is free text: the code's id and profile, a token's serial.
	Detail string `json:"detail,omitempty"`
	Nonce  string `json:"nonce"`
}

// Record stores e. Keys sort by time, so List reads them in order.
func (a *Audit) Record(ctx context.Context, e Event) error {
	e.Time = e.Time.UTC()
	e.Nonce = newNonce()
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	key := "audit/" + e.Time.Format("20060102T150405.000000000Z") + "-" + e.Nonce[:8]
	if _, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: key, ModRevision: 0}},
		Then: []Op{{Key: key, Value: v, TTL: a.retention}},
	}); err != nil {
		return fmt.Errorf("cluster: audit %s: %w", e.Action, err)
	}
	return nil
}

// List returns the events since since, oldest first, of user when user
// is not empty.
func (a *Audit) List(ctx context.Context, since time.Time, user string) ([]Event, error) {
	entries, err := a.store.List(ctx, "audit/")
	if err != nil {
		return nil, fmt.Errorf("cluster: audit: %w", err)
	}
	var out []Event
	for _, en := range entries {
		var e Event
		if err := json.Unmarshal(en.Value, &e); err != nil {
			return nil, fmt.Errorf("cluster: record %s: %w", en.Key, err)
		}
		if e.Time.Before(since) || (user != "" && !strings.EqualFold(e.User, user)) {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
