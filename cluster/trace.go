package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Traces keeps the records of `twostepctl trace`, which follows one
// user's logins on every node as they happen (package trace is the
// nodes' side):
//
//   - trace/requests/<user>: an admin asks every node to trace user (the
//     canonical name, lower-cased as every user key). The value says until
//     when, the name as the admin typed it and who asked. Its lease is
//     short (TraceRequestTTL) and twostepctl renews it while it runs
//     (TraceRenew), so a trace whose command was killed ends within a
//     minute; twostepctl deletes it when it exits. Every node watches
//     trace/requests/ and stops at Until even when the key lingers (a
//     lease only cleans up).
//   - trace/events/<user>/<time>-<node>-<n>: what a node saw of one of the
//     user's requests, written after the request's answer (and, for a
//     request that waits for a push, when the wait begins), with a lease
//     of TraceEventTTL. twostepctl watches the prefix and prints them.
//
// Neither carries a MAC: they decide no login. What may be traced is
// whatever can write under the prefix, which can read every record
// anyway; the events hold no secret (radiusd masks passwords, codes,
// State and shared-secret material before they leave the request).
type Traces struct {
	store Store
}

// NewTraces returns the trace records over store.
func NewTraces(store Store) *Traces { return &Traces{store: store} }

// Keys and leases of the trace records.
const (
	// TraceRequestsPrefix holds the trace requests; every node watches it.
	TraceRequestsPrefix = "trace/requests/"
	traceEventsPrefix   = "trace/events/"
	traceTimeLayout     = "20060102T150405.000000000Z"
	// TraceRequestTTL is the lease of a trace request, which twostepctl
	// renews every TraceRenew while it runs.
	TraceRequestTTL = time.Minute
	TraceRenew      = 20 * time.Second
	// TraceEventTTL is the lease of the events nodes write: long enough
	// for a twostepctl that lost its watch to read them again.
	TraceEventTTL = 5 * time.Minute
	// MaxTraceFor is the longest a trace request lasts: a node stops at
	// most this long after the request was written, whatever Until says.
	MaxTraceFor = 24 * time.Hour
)

// TraceRequestKey is the key of the trace request for user.
func TraceRequestKey(user string) string { return TraceRequestsPrefix + UserKey(user) }

// TraceEventsPrefix is where the nodes write user's trace events.
func TraceEventsPrefix(user string) string { return traceEventsPrefix + UserKey(user) + "/" }

// TraceRequest asks every node to trace one user's requests until Until.
type TraceRequest struct {
	// User is the directory's canonical name, lower-cased (UserKey
	// unescaped).
	User string `json:"user"`
	// Typed is the name as the admin typed it, when it differs: a
	// request whose User-Name is this name is traced too.
	Typed string `json:"typed,omitempty"`
	// Since and Until bound the trace.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// By is who asked (twostepctl OSUSER@HOST).
	By    string `json:"by"`
	Nonce string `json:"nonce"`
	rev   int64
}

// Ends returns when a node stops tracing r: Until, but no later than
// MaxTraceFor after Since.
func (r TraceRequest) Ends() time.Time {
	if latest := r.Since.Add(MaxTraceFor); r.Until.After(latest) {
		return latest
	}
	return r.Until
}

// Ask writes r, or renews it: a new nonce, the lease afresh. Two admins
// tracing one user share the key; each renewal writes the renewing
// admin's Until.
func (t *Traces) Ask(ctx context.Context, r *TraceRequest) error {
	r.User = strings.ToLower(r.User)
	r.Nonce = newNonce()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	rev, err := t.store.Commit(ctx, Txn{Then: []Op{{Key: TraceRequestKey(r.User), Value: b, TTL: TraceRequestTTL}}})
	if err != nil {
		return fmt.Errorf("cluster: ask to trace %q: %w", r.User, err)
	}
	r.rev = rev
	return nil
}

// Stop deletes r, unless somebody wrote the key since r's last Ask (a
// second admin tracing the same user, whose renewals keep it).
func (t *Traces) Stop(ctx context.Context, r *TraceRequest) error {
	key := TraceRequestKey(r.User)
	_, err := t.store.Commit(ctx, Txn{If: []Compare{{Key: key, ModRevision: r.rev}}, Then: []Op{Delete(key)}})
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("cluster: stop tracing %q: %w", r.User, err)
	}
	return nil
}

// DecodeTraceRequest reads the trace request at e.
func DecodeTraceRequest(e Entry) (TraceRequest, error) {
	var r TraceRequest
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return r, fmt.Errorf("cluster: trace request %s: %w", e.Key, err)
	}
	r.rev = e.ModRevision
	return r, nil
}

// TraceRecord is what one node saw of one traced request, or of its
// first part (a request that waits for a push writes what came before
// the wait, then the rest with its answer).
type TraceRecord struct {
	// ID is the login's correlation id (LoginID): the same for every
	// request, round and node of one login.
	ID string `json:"id"`
	// User is the traced user (the trace request's), TypedUser the
	// User-Name as sent when it differs.
	User      string `json:"user"`
	TypedUser string `json:"typed_user,omitempty"`
	// Node is the twostepd that saw the request (cluster.node_name).
	Node string `json:"node"`
	// Arrived is when the request reached the node.
	Arrived time.Time `json:"arrived"`
	// Part counts the records of one request from 0; Final marks the one
	// with its answer.
	Part  int  `json:"part"`
	Final bool `json:"final"`
	// Events are the request's steps, in order.
	Events []TraceEvent `json:"events"`
	// Dropped counts the steps beyond what one record keeps.
	Dropped int `json:"dropped,omitempty"`
	// Seq tells apart the records one node writes in one instant.
	Seq uint64 `json:"seq"`
	// Written is when the node handed the record to its writer.
	Written time.Time `json:"written"`
}

// TraceEvent is one step of a traced request. Its JSON names are those
// `twostepctl trace -json` prints.
type TraceEvent struct {
	Time time.Time `json:"time"`
	// Kind is request (the Access-Request and its attributes), reply (the
	// answer and its attributes), directory, store, notification (a push
	// service or webhook), or a step of the login engine (input,
	// first_factor, policy, account, passcode, bypass, lockout,
	// unenrolled, round, push).
	Kind string `json:"kind"`
	// Op is the operation of a directory (search, groups, bind,
	// authenticate), store (get, list, commit) or notification (webpush,
	// webhook, app) event.
	Op string `json:"op,omitempty"`
	// Result is how it ended (ok, not_found, rejected, accepted, …).
	Result string `json:"result,omitempty"`
	// MS is how long it took, in milliseconds; 0 for a decision.
	MS float64 `json:"ms,omitempty"`
	// Detail says what it was about, never a secret.
	Detail string `json:"detail,omitempty"`
	// Keys are the store keys of a store event.
	Keys []string `json:"keys,omitempty"`
	// Attributes are a packet's, by dictionary name, secrets masked.
	Attributes []TraceAttribute `json:"attributes,omitempty"`
}

// TraceAttribute is one RADIUS attribute of a traced packet.
type TraceAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// traceEventKey is the key of rec.
func traceEventKey(rec *TraceRecord) string {
	return TraceEventsPrefix(rec.User) + rec.Written.UTC().Format(traceTimeLayout) + "-" +
		url.PathEscape(rec.Node) + "-" + strconv.FormatUint(rec.Seq, 10)
}

// WriteTraces stores recs, at most MaxTxnOps of them, in one transaction,
// each with a lease of TraceEventTTL.
func (t *Traces) WriteTraces(ctx context.Context, recs []TraceRecord) error {
	txn := Txn{Then: make([]Op, 0, len(recs))}
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		if err != nil {
			return err
		}
		txn.Then = append(txn.Then, Op{Key: traceEventKey(&recs[i]), Value: b, TTL: TraceEventTTL})
	}
	if len(txn.Then) == 0 {
		return nil
	}
	if _, err := t.store.Commit(ctx, txn); err != nil {
		return fmt.Errorf("cluster: write %d trace records: %w", len(recs), err)
	}
	return nil
}

// DecodeTraceRecord reads the trace record at e.
func DecodeTraceRecord(e Entry) (TraceRecord, error) {
	var r TraceRecord
	if err := json.Unmarshal(e.Value, &r); err != nil {
		return r, fmt.Errorf("cluster: trace record %s: %w", e.Key, err)
	}
	return r, nil
}
