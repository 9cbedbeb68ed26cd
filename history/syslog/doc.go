// Package syslog exports the login history and the audit trail to a
// syslog receiver (history.syslog, Config): each login record and each
// audit event as one RFC 5424 message whose MSG is the record's JSON,
// with the field names of `twostepctl logins -json` (MSGID login) and of
// `twostepctl audit -json` (MSGID audit), over UDP (RFC 5426), TCP or
// TLS (RFC 5425), both with octet-counting framing (RFC 6587). message.go
// says how a message is made; Go's log/syslog does neither RFC 5424 nor
// TLS, and the formatter and framer are a few lines.
//
// Login records (Exporter) are this node's, handed over by the RADIUS
// layer after each answer beside the cluster's login history (and also
// when that is off): Record never waits, a bounded queue holds them, and
// Run, one goroutine, sends them in order. While the receiver cannot be
// reached, Run waits, longer after each failure (0.2 s doubling to 30
// s), and the records wait in the queue; when it is full the newest are
// dropped and counted (twostep_history_syslog_messages_total{kind="login",
// result="queue_full"}). At shutdown what is queued is sent within the
// daemon's bound, and the rest counted as shutdown.
//
// Audit events are written by many writers (twostepctl, the portal,
// every node) straight into etcd, in the transactions of their changes,
// so no twostepd sees them all pass: AuditExporter follows the trail in
// etcd instead, on the node that holds the cluster's claim to export it
// (cluster.AuditExport), so that each event leaves once for the whole
// cluster, not once per node. The trail is its queue: while the receiver
// is down nothing is dropped, and the exporter resumes from the last
// event it sent, as the node that takes the claim over does from the
// cursor the claim keeps. Around a handover an event may be sent twice
// (the event's nonce tells the copies apart); none is lost while it is
// in the trail (90 days).
//
// What can be lost: login records beyond the queue during a long outage
// (counted), and those still queued at a shutdown that runs out of time
// (counted); over UDP whatever the network or the receiver drops
// (nothing says so), and a message longer than 8 KiB is not sent
// (counted as too_large); over TCP and TLS the messages written in the
// moment before a receiver crashes (the kernel took them; the next
// message finds the connection closed and is sent on a new one).
package syslog
