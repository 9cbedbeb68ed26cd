package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// ClientRecords keeps what the cluster learnt about RADIUS clients (NASes)
// from their traffic. Today that is one fact: a client has sent a
// Message-Authenticator. A client configured with
// require_message_authenticator: auto is held to it from then on, on every
// node, so that a node the NAS fails over to cannot be fooled by a forged
// request without one (BlastRADIUS, CVE-2024-3596).
//
// The record is written once and never changed: it carries no MAC, since
// creating it only makes a legacy NAS fail, and deleting it (what an admin
// does when a NAS that cannot send the attribute replaces one that could)
// cannot be told from the owner's own delete by any MAC.
type ClientRecords struct {
	store Store
	node  string
	now   func() time.Time
}

// NewClientRecords returns the client records of store; node names this
// node in what it writes, now is its clock (time.Now when nil).
func NewClientRecords(store Store, node string, now func() time.Time) *ClientRecords {
	if now == nil {
		now = time.Now
	}
	return &ClientRecords{store: store, node: node, now: now}
}

// maRecord is the value at MessageAuthenticatorKey: when and where the
// client was first seen sending the attribute, for whoever reads it with
// etcdctl.
type maRecord struct {
	Client    string    `json:"client"`
	FirstSeen time.Time `json:"first_seen"`
	Node      string    `json:"node,omitempty"`
	Nonce     string    `json:"nonce"`
}

// MessageAuthenticatorKey is the key recording that client has sent a
// Message-Authenticator: clients/<name>/message-authenticator, the name
// path-escaped.
func MessageAuthenticatorKey(client string) string {
	return "clients/" + url.PathEscape(client) + "/message-authenticator"
}

// SeenMessageAuthenticator reports whether client is recorded as having
// sent a Message-Authenticator, on any node.
func (r *ClientRecords) SeenMessageAuthenticator(ctx context.Context, client string) (bool, error) {
	_, err := r.store.Get(ctx, MessageAuthenticatorKey(client))
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cluster: client %q: %w", client, err)
	}
	return true, nil
}

// RecordMessageAuthenticator records that client has sent a
// Message-Authenticator. The record is created once (compare-create): a
// client recorded already, by this node or another, is no error.
func (r *ClientRecords) RecordMessageAuthenticator(ctx context.Context, client string) error {
	key := MessageAuthenticatorKey(client)
	v, err := json.Marshal(maRecord{Client: client, FirstSeen: r.now().UTC(), Node: r.node, Nonce: newNonce()})
	if err != nil {
		return fmt.Errorf("cluster: client %q: %w", client, err)
	}
	_, err = r.store.Commit(ctx, Txn{If: []Compare{{Key: key, ModRevision: 0}}, Then: []Op{Put(key, v)}})
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("cluster: record client %q's Message-Authenticator: %w", client, err)
	}
	return nil
}
