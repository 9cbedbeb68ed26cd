package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Exporting the audit trail (history.syslog): the events are written by
// many writers (twostepctl, the portal, every node) straight into etcd,
// so a node forwards them by following audit/ (Audit.Follow). For each
// event to leave the cluster once, not once per node, one node at a time
// exports: the one that holds the claim at syslog/audit-exporter
// (AuditExport). The claim is a record with the holder's name, the time
// it holds until (AuditExportTerm after its last renewal) and the
// revision of the last event it exported: the cursor a successor resumes
// from. Every write of the claim compares the revision the holder wrote
// it at, so a node that lost the claim (it stalled past its term and
// another took it) cannot move the cursor; it stops at its next renewal.
// What it sent meanwhile is sent again by its successor: an event may be
// exported twice around a handover (its nonce tells the copies apart),
// never lost while it is in the trail. The record decides no login and
// carries no MAC: a forged one can stop the export until its term ends,
// which somebody who can write to etcd could do by deleting events too.

// AuditExportTerm is how long a claim holds after its last renewal; the
// holder renews it every AuditExportRenew, so a node that stops (kill
// -9, a partition) is replaced within a term.
const (
	AuditExportTerm  = 15 * time.Second
	AuditExportRenew = 5 * time.Second
)

// auditExportKey holds the claim.
const auditExportKey = "syslog/audit-exporter"

// auditClaim is the value at auditExportKey.
type auditClaim struct {
	// Node holds the claim.
	Node string `json:"node"`
	// Until is when the claim ends unless renewed; a released claim has
	// Until in the past.
	Until time.Time `json:"until"`
	// Revision is the store revision of the last audit event exported.
	Revision int64 `json:"revision"`
	// Nonce makes every value unique (Store.Commit).
	Nonce string `json:"nonce"`
}

// AuditExport is one node's part in exporting the audit trail once for
// the whole cluster (see the comment above): Claim takes or renews the
// claim, Advance moves its cursor, Release hands it over. It is not safe
// for concurrent use: one exporter loop owns it.
type AuditExport struct {
	store Store
	node  string
	now   func() time.Time
	term  time.Duration

	mod   int64     // the revision of this node's last write of the claim; 0: not held
	until time.Time // when the held claim ends
}

// NewAuditExport returns node's part in the export over store, with the
// clock now (time.Now when nil) and a term of AuditExportTerm.
func NewAuditExport(store Store, node string, now func() time.Time) *AuditExport {
	if now == nil {
		now = time.Now
	}
	return &AuditExport{store: store, node: node, now: now, term: AuditExportTerm}
}

// Claim takes the claim when it is free (never taken, released, or past
// its term) or this node's (renewing it; after a restart too), and
// reports whether this node holds it and the cursor to export after: the
// revision of the last event exported, or, for a claim taken for the
// first time in the cluster's life, the revision it was taken at (events
// written before are not exported). An error leaves the claim unheld.
func (x *AuditExport) Claim(ctx context.Context) (held bool, cursor int64, err error) {
	x.mod = 0
	en, err := x.store.Get(ctx, auditExportKey)
	var c auditClaim
	switch {
	case errors.Is(err, ErrNotFound):
		en = Entry{}
	case err != nil:
		return false, 0, fmt.Errorf("cluster: audit export claim: %w", err)
	default:
		if json.Unmarshal(en.Value, &c) != nil {
			c = auditClaim{} // not a claim: taken over as a free one
		} else if c.Node != x.node && x.now().Before(c.Until) {
			return false, 0, nil
		}
		cursor = c.Revision
		if cursor == 0 {
			// Taken for the first time, and nothing exported since:
			// from then on.
			cursor = en.ModRevision
		}
	}
	rev, err := x.write(ctx, en.ModRevision, cursor, x.now().Add(x.term))
	if errors.Is(err, ErrConflict) {
		return false, 0, nil // another node took it first
	}
	if err != nil {
		return false, 0, err
	}
	if en.ModRevision == 0 {
		// The first claim in the cluster's life: the events written
		// from now on. (Its record says 0, which the next Claim reads
		// as the record's revision, until Advance writes a cursor.)
		cursor = rev
	}
	return true, cursor, nil
}

// Advance renews the held claim with cursor, the revision of the last
// event exported. It reports false when the claim was lost (another
// node took it): the caller stops exporting. An error (the store down)
// leaves the claim held until HeldUntil, and reports true until then.
func (x *AuditExport) Advance(ctx context.Context, cursor int64) (bool, error) {
	if x.mod == 0 {
		return false, nil
	}
	_, err := x.write(ctx, x.mod, cursor, x.now().Add(x.term))
	if errors.Is(err, ErrConflict) {
		x.mod = 0
		return false, nil
	}
	return err == nil || x.now().Before(x.until), err
}

// HeldUntil is when the claim ends unless renewed; zero when not held.
func (x *AuditExport) HeldUntil() time.Time {
	if x.mod == 0 {
		return time.Time{}
	}
	return x.until
}

// Release frees the held claim at once, keeping cursor for the next
// holder, so that another node takes over without waiting for the term.
func (x *AuditExport) Release(ctx context.Context, cursor int64) error {
	if x.mod == 0 {
		return nil
	}
	_, err := x.write(ctx, x.mod, cursor, x.now().Add(-time.Nanosecond))
	x.mod = 0
	if errors.Is(err, ErrConflict) {
		return nil // lost meanwhile: nothing to release
	}
	return err
}

// write puts this node's claim with cursor, until until, if the key is
// still at revision mod (0: absent), and returns the revision written.
func (x *AuditExport) write(ctx context.Context, mod, cursor int64, until time.Time) (int64, error) {
	v, err := json.Marshal(auditClaim{Node: x.node, Until: until.UTC(), Revision: cursor, Nonce: newNonce()})
	if err != nil {
		return 0, err
	}
	rev, err := x.store.Commit(ctx, Txn{If: []Compare{{Key: auditExportKey, ModRevision: mod}}, Then: []Op{Put(auditExportKey, v)}})
	if err != nil {
		return 0, fmt.Errorf("cluster: audit export claim: %w", err)
	}
	x.mod, x.until = rev, until
	return rev, nil
}

// AuditEntry is an event of the trail with the store revision that wrote
// it. Err is set, and Event empty, when the value is not an event
// (written by something else than twostep): the exporter skips it.
type AuditEntry struct {
	Revision int64
	Event    Event
	Err      error
}

// Follow sends to out every event of the trail written at a revision
// after after, oldest first, each once, the several events of one
// transaction included: those the trail holds now, then each new
// one as it is written, until ctx ends or the watch is lost (the member
// lost its leader, the store closed it); it then returns an error, and
// the caller follows again from the last revision it took. It does not
// replay the store's history: what it sends first is read with one List,
// so a compaction loses nothing; an event whose lease (the trail's
// retention) ended, or which was deleted, before it was sent is not
// sent. A caller that stops inside one transaction's events and follows
// again from its revision skips the rest of them (a revision says no
// more): a claim handed over in that instant may lose them.
func (a *Audit) Follow(ctx context.Context, after int64, out chan<- AuditEntry) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := a.store.Watch(wctx, auditPrefix)
	// The watch first, then the List: every event is in one or the other.
	if ev, ok := <-ch; !ok || !ev.Created {
		return a.lost(ctx)
	}
	entries, err := a.store.List(ctx, auditPrefix)
	if err != nil {
		return fmt.Errorf("cluster: audit: %w", err)
	}
	slices.SortStableFunc(entries, func(x, y Entry) int { return cmp.Compare(x.ModRevision, y.ModRevision) })
	// The events of one transaction (a revoke of every code, a token
	// import) share its revision: sent keeps the keys sent at revision
	// after, so that each is sent once. The caller took every event up to
	// the revision it resumes from (from).
	from := after
	sent := map[string]bool{}
	send := func(en Entry) error {
		if en.ModRevision <= from || en.ModRevision < after || (en.ModRevision == after && sent[en.Key]) {
			return nil
		}
		e := AuditEntry{Revision: en.ModRevision}
		if err := json.Unmarshal(en.Value, &e.Event); err != nil {
			e.Err = fmt.Errorf("cluster: audit event %s: %w", en.Key, err)
		}
		select {
		case out <- e:
			if en.ModRevision != after {
				clear(sent)
				after = en.ModRevision
			}
			sent[en.Key] = true
			return nil
		case <-ctx.Done():
			return fmt.Errorf("cluster: audit follow: %w: %w", ErrUnavailable, ctx.Err())
		}
	}
	for _, en := range entries {
		if err := send(en); err != nil {
			return err
		}
	}
	for ev := range ch {
		if ev.Deleted || ev.Created {
			continue
		}
		if err := send(ev.Entry); err != nil {
			return err
		}
	}
	return a.lost(ctx)
}

// lost is Follow's error when its watch ended: ctx's, or the loss.
func (a *Audit) lost(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cluster: audit follow: %w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("cluster: audit follow: %w: the watch was lost", ErrUnavailable)
}
