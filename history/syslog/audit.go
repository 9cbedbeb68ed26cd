package syslog

import (
	"context"
	"encoding/json"
	"time"

	"twostep/cluster"
)

// Claim is the cluster-wide claim to export the audit trail;
// cluster.AuditExport implements it.
type Claim interface {
	// Claim takes or renews the claim, and says from which revision to
	// export.
	Claim(ctx context.Context) (held bool, cursor int64, err error)
	// Advance renews the held claim with the last revision exported; false:
	// lost.
	Advance(ctx context.Context, cursor int64) (bool, error)
	// Release frees the claim, keeping cursor for the next holder.
	Release(ctx context.Context, cursor int64) error
}

// Trail is the audit trail; cluster.Audit implements it.
type Trail interface {
	// Follow sends the events after revision after, in revision order,
	// until ctx ends or it loses track (cluster.Audit.Follow).
	Follow(ctx context.Context, after int64, out chan<- cluster.AuditEntry) error
}

// auditMessage is an event as a message carries it: the fields of
// `twostepctl audit -json`, every one even when empty, and the event's
// nonce, which tells apart the copies a handover may send twice.
type auditMessage struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	User   string    `json:"user"`
	Detail string    `json:"detail"`
	Nonce  string    `json:"nonce"`
}

// releaseTimeout bounds the release of the claim at shutdown.
const releaseTimeout = 2 * time.Second

// AuditExporter sends the cluster's audit trail to syslog from the node
// that holds the claim (see cluster.AuditExport): every event once for
// the whole cluster, with this node's name as the HOSTNAME, whichever
// node, portal or twostepctl wrote it. The trail itself is the queue:
// while the receiver cannot be reached, nothing is dropped; the exporter
// waits (backoff) and resumes from the last event sent. Run is its one
// goroutine.
type AuditExporter struct {
	s     *sender
	claim Claim
	trail Trail
	renew time.Duration
	m     *Metrics
}

// NewAuditExporter returns the audit exporter of o over claim and trail.
// Its error is the section's problems.
func NewAuditExporter(o Options, claim Claim, trail Trail) (*AuditExporter, error) {
	s, err := newSender(o, KindAudit)
	if err != nil {
		return nil, err
	}
	if o.Renew <= 0 {
		o.Renew = cluster.AuditExportRenew
	}
	return &AuditExporter{s: s, claim: claim, trail: trail, renew: o.Renew, m: o.Metrics}, nil
}

// Run exports until ctx ends, whenever this node holds the claim (it
// tries to take it every renewal period), then hands the claim over.
func (a *AuditExporter) Run(ctx context.Context) {
	defer a.s.link.close()
	defer a.m.setExporting(false)
	var cursor int64
	for ctx.Err() == nil {
		held, c, err := a.claim.Claim(ctx)
		a.m.setExporting(held && err == nil)
		wait := a.renew
		if held && err == nil {
			var ok bool
			if cursor, ok = a.lead(ctx, c); !ok {
				wait = -1 // the receiver or the watch failed: pause
			} else {
				wait = 0 // lost the claim: ask again now
			}
		}
		if ctx.Err() != nil {
			break
		}
		switch {
		case wait < 0:
			a.s.pause(ctx)
		case wait > 0:
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	a.claim.Release(rctx, cursor) // a failed release ends at the term
}

// lead exports from cursor while this node holds the claim, renewing it
// every renewal period. It returns the last revision exported and
// whether it stopped for losing the claim or ctx (true) rather than for
// the receiver or the trail failing (false, after saving the cursor).
func (a *AuditExporter) lead(ctx context.Context, cursor int64) (int64, bool) {
	fctx, cancel := context.WithCancel(ctx)
	out := make(chan cluster.AuditEntry)
	followed := make(chan error, 1)
	go func() { followed <- a.trail.Follow(fctx, cursor, out) }()
	defer func() {
		cancel()
		if followed != nil {
			<-followed
		}
	}()
	tick := time.NewTicker(a.renew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return cursor, true
		case <-followed:
			followed = nil
			a.claim.Advance(ctx, cursor)
			return cursor, false
		case e := <-out:
			if !a.send(ctx, e) {
				a.claim.Advance(ctx, cursor)
				return cursor, ctx.Err() != nil
			}
			cursor = e.Revision
		case <-tick.C:
			if held, _ := a.claim.Advance(ctx, cursor); !held {
				return cursor, true
			}
		}
	}
}

// send sends e once; false when the receiver cannot be reached. An entry
// that is not an event is skipped and counted.
func (a *AuditExporter) send(ctx context.Context, e cluster.AuditEntry) bool {
	if e.Err != nil {
		a.m.message(KindAudit, ResultMalformed, 1)
		return true
	}
	ev := e.Event
	body, err := json.Marshal(auditMessage{Time: ev.Time.UTC(), Action: ev.Action, Actor: ev.Actor, User: ev.User, Detail: ev.Detail, Nonce: ev.Nonce})
	if err != nil {
		a.m.message(KindAudit, ResultMalformed, 1)
		return true
	}
	return a.s.try(ctx, severityNotice, e.Event.Time, MsgIDAudit, body)
}
