// Package history records the login history: one record for every
// request a node answers (an Access-Accept, an Access-Reject, each
// Access-Challenge: a round that asks for a passcode, a push sent and
// waiting, the menu), written to the cluster so that `twostepctl logins`
// shows them from any machine that reaches etcd. It owns the history
// section of the configuration file (Config).
//
// Each record names its login by one correlation id, the same on the
// first request, on its retransmissions to any node, on every challenge
// round and on a push that another node completes: cluster.LoginID
// derives it from what a retransmission repeats (the NAS, the
// Identifier, the Request Authenticator and the User-Name), so a copy
// that reaches another node has it without a store read, and the
// challenge round's and the push's records carry it, under their MACs,
// to the requests that continue the login (cluster/loginid.go). The log
// line of each request carries the same id, and an Access-Reject may end
// with its short reference ("Ref 3f9a-c21b"), which
// `twostepctl logins -id` finds.
//
// The records are written off the login's path. The RADIUS layer hands
// each one to Recorder.Record after its answer is sent; Record never
// waits: it puts the record in a bounded queue, or drops and counts it
// when the queue is full. Recorder.Run, one goroutine the daemon's run
// group owns, takes what is queued in batches of at most
// cluster.MaxTxnOps records and writes each batch in one etcd
// transaction (cluster.History.Write), with a lease of the retention;
// while one batch is written the next one gathers, so a busy node writes
// larger batches, not more of them. A batch etcd does not take (down,
// slow past the request timeout, refusing) is dropped and counted: the
// history is a record of what happened, not a part of the decision, and
// a node must not hold memory for an outage of unknown length. After a
// batch the writer trims users to the per-user cap (the newest
// `per_user` records): each record written trims its user with a chance
// of 1 in per_user/4, a user at most once a second per node, so the cap
// costs one List per ~50 records (by default), not one per login, and
// no read on the login path. On shutdown the daemon
// stops the RADIUS server first, then Recorder.Shutdown writes what is
// queued within what is left of the grace period.
//
// Metrics: twostep_history_records_written_total,
// twostep_history_records_dropped_total{cause} (queue_full,
// store_unavailable, store_error, shutdown) and
// twostep_history_queue_length.
package history
