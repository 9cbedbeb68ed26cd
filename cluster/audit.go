package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Audit keeps the cluster's trail of changes in etcd: every change an
// admin (twostepctl), the help desk, a user in the portal or a node
// makes to second factors, codes, tokens, lockouts and the users file,
// with who made it, readable from any node with `twostepctl audit` or
// etcdctl. Events expire after Retention (a lease), so the trail does
// not grow without end; ship the daemon's log for longer keeping.
//
// An event is written in the same transaction as its change whenever the
// change is one transaction: Accounts.As returns Accounts whose changes
// each put their event beside their own writes, so that a change is
// never without its event and an event never without its change (a
// Commit that fails, or whose outcome is unknown, writes both or
// neither). Each event's value is unique (a nonce), which also lets a
// delete-only change (an unlock, a revoke, a spent recovery passcode)
// learn an unknown outcome (Store.Commit). What cannot ride in one
// transaction records its event with Record right after the change, and
// its caller reports a failure to record as an error of its own, never
// silently: edits of the users file (a local file, not etcd), rekey (one
// transaction per record), token resync (and its refusals), and the
// push answers a node records (push.deny, push.number_mismatch,
// push.fraud). The actions, their actors and details are listed in
// auditactions.go and docs/operations.md.
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

// Event is one audit record. It never holds a code, a seed or a
// password.
type Event struct {
	Time time.Time `json:"time"`
	// Action is noun.verb: device.enroll, user.lock, bypass.issue, …
	// (auditactions.go).
	Action string `json:"action"`
	// Actor is who did it: AdminActor, PortalActor or NodeActor.
	Actor string `json:"actor"`
	User  string `json:"user,omitempty"`
	// Detail names what changed: a device's id and name, a code's id and
	// profile, a token's serial, a lock's cause; then the actor's note
	// (where from, sudo).
	Detail string `json:"detail,omitempty"`
	Nonce  string `json:"nonce"`
}

// AdminActor names an admin running twostepctl as the OS user user on
// host: "twostepctl root@vpn1".
func AdminActor(user, host string) string { return "twostepctl " + user + "@" + host }

// PortalActor names user acting on their own account in the
// self-service portal: "portal alice".
func PortalActor(user string) string { return "portal " + user }

// NodeActor names the twostepd node name acting by itself (a bypass code
// used at a login, a lock after too many wrong codes): "node vpn1".
func NodeActor(name string) string { return "node " + name }

// Actor is who makes the changes of Accounts.As.
type Actor struct {
	// Name is what events call the actor: AdminActor, PortalActor or
	// NodeActor.
	Name string
	// Note, when set, ends every event's detail: where or how the actor
	// acted ("from 192.0.2.7", "sudo from bob").
	Note string
	// Now is the clock of events whose change takes no time of its own
	// (a rename, an unlock); nil: time.Now.
	Now func() time.Time
}

func (by *Actor) now() time.Time {
	if by.Now == nil {
		return time.Now()
	}
	return by.Now()
}

// auditPrefix holds the trail.
const auditPrefix = "audit/"

// auditKey is where e is kept: keys sort by time, so List reads them in
// order.
func auditKey(e Event) string {
	return auditPrefix + e.Time.Format("20060102T150405.000000000Z") + "-" + e.Nonce[:8]
}

// op returns the write that stores e, for a change's transaction. Its
// key and value are unique (a nonce).
func (a *Audit) op(e Event) (Op, error) {
	e.Time = e.Time.UTC()
	e.Nonce = newNonce()
	v, err := json.Marshal(e)
	if err != nil {
		return Op{}, err
	}
	return Op{Key: auditKey(e), Value: v, TTL: a.retention}, nil
}

// Record stores e by itself, for a change that has happened already
// (see Audit).
func (a *Audit) Record(ctx context.Context, e Event) error {
	op, err := a.op(e)
	if err != nil {
		return err
	}
	if _, err := a.store.Commit(ctx, Txn{
		If:   []Compare{{Key: op.Key, ModRevision: 0}},
		Then: []Op{op},
	}); err != nil {
		return fmt.Errorf("cluster: audit %s: %w", e.Action, err)
	}
	return nil
}

// List returns the events since since, oldest first, of user when user
// is not empty.
func (a *Audit) List(ctx context.Context, since time.Time, user string) ([]Event, error) {
	entries, err := a.store.List(ctx, auditPrefix)
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

// As returns Accounts over the same records whose changes each commit
// their audit event, made by by, in the change's own transaction (see
// Audit): AddDevice, AddFirstDevice, RenameDevice, RemoveDevice,
// SetDefaultPush, Lock, Unlock, Fail when it locks, IssueBypass,
// RevokeBypass, UseBypass, IssueRecovery, UseRecovery, ImportTokens (with
// its last batch), AssignToken, AssignTokenIf, UnassignToken and
// MarkTokenLost. The other writes (a code accepted, a first sight, a
// rekey) are not audit events.
func (a *Accounts) As(by Actor) *Accounts {
	c := *a
	c.by = &by
	if c.audit == nil {
		c.audit = NewAudit(a.store, 0)
	}
	return &c
}

// event returns the write that records, in a change's own transaction,
// its event: action on user, with detail, at now (zero: the actor's
// clock). It is none when a is not audited.
func (a *Accounts) event(now time.Time, action, user, detail string) ([]Op, error) {
	if a.by == nil {
		return nil, nil
	}
	if now.IsZero() {
		now = a.by.now()
	}
	if a.by.Note != "" {
		detail += "; " + a.by.Note
	}
	op, err := a.audit.op(Event{Time: now, Action: action, Actor: a.by.Name, User: user, Detail: detail})
	if err != nil {
		return nil, fmt.Errorf("cluster: audit %s: %w", action, err)
	}
	return []Op{op}, nil
}
