package main

import (
	"context"
	"fmt"
	"path/filepath"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/directory"
)

// The users file is a local file, not etcd: its edits cannot share a
// transaction with their audit event. The event is written right after
// the file, to the cluster of the -config file (the cluster's trail,
// wherever the edit was made). A cluster that cannot be reached (no
// configuration, the embedded etcd of a twostepd that is not running)
// leaves the edit unaudited, and a note says so; a cluster that answers
// but does not take the event fails the command, which says the edit is
// written.

// fileChanged reports an edit of ed's users file written for user:
// format and args say what changed, action and detail are its audit
// event (detail never holds a password or hash). The hint about the
// running twostepd follows, or the problems the file still has.
func (c *cli) fileChanged(ctx context.Context, f userFlags, ed *directory.FileEditor, action, user, detail, format string, args ...any) error {
	fmt.Fprintf(c.stdout, format+"\n", args...)
	refused := stillRefused(ed)
	if refused == nil {
		fmt.Fprintln(c.stdout, reloadHint)
	}
	if err := c.recordFileChange(ctx, *f.config, action, user, detail); err != nil {
		if refused != nil {
			return fmt.Errorf("%w\n%w", refused, err)
		}
		return err
	}
	return refused
}

// recordFileChange writes the audit event of an edit of the users file
// to the cluster config names, if it can be reached.
func (c *cli) recordFileChange(ctx context.Context, config, action, user, detail string) error {
	unaudited := func(why error) error {
		fmt.Fprintf(c.stderr, "note: the change is not in the cluster's audit trail (%s): %v\n", action, why)
		return nil
	}
	cfg, err := loadConfig(config)
	if err != nil {
		return unaudited(err)
	}
	s := &session{cfg: cfg, by: c.actor()}
	octx, cancel := op(ctx)
	defer cancel()
	store, err := etcdstore.Open(octx, cfg.Cluster.Etcd)
	if err != nil {
		return unaudited(s.storeErr(err))
	}
	defer store.Close()
	s.audit = cluster.NewAudit(store, 0)
	if err := c.record(ctx, s, action, user, detail); err != nil {
		return fmt.Errorf("the change is written to the users file, but %w", err)
	}
	return nil
}

// fileText names the users file at path in audit events, absolute.
func fileText(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
