// Package trace is the nodes' side of `twostepctl trace USER`: radiusd -X
// for one user, in production, on every node of the cluster at once. An
// admin asks for a user; every node then records what it does with each
// of that user's requests (the packet's attributes with their secrets
// masked, the client matched, the directory's searches, group searches
// and binds, the policy rule, each second-factor step with its store
// reads and writes, the push notification and its answer, the reply) and
// writes it to the cluster, where the command prints it as it comes.
//
// # Control: a request in etcd, a set in memory
//
// twostepctl writes trace/requests/<user> (cluster.Traces: the canonical
// name, lower-cased as every user key; the name as the admin typed it;
// until when), with a lease of a minute that it renews every 20 s while
// it runs and takes back when it exits, Ctrl-C included; a command that
// is killed stops the nodes within the minute. The value carries its
// end, which the nodes keep by a timer: a lease only cleans up (etcd
// resets leases on a leader change), as everywhere in twostep.
//
// Every node follows trace/requests/ with one watch (Run, in the
// daemon's run group; started again when lost, and the requests read
// again once it is in place, so none is missed) and keeps the users
// traced in an immutable set behind an atomic pointer. Begin, which the
// RADIUS layer calls for every request, loads that pointer: when nobody
// is traced it returns nil, and the request costs that one load. No
// store operation is made for a login while no trace is active, nor for
// the logins of users nobody traces; the tests count them.
//
// A request whose User-Name is a traced user's (the canonical name or the
// name the admin typed, without case or surrounding spaces) is traced
// from its first step. While a trace is active the other requests keep
// their steps in memory too, in case the directory turns out to name a
// traced user (a realm stripped, another spelling), and drop them when
// their answer shows it does not: nothing of a user nobody asked about
// leaves the node, in a record, a log or a metric.
//
// # Transport: one record per request, written off its path
//
// A request's steps are buffered with it and handed over when its answer
// is decided (End), as one record; a request that waits for a push hands
// over what came before the wait when it begins (Flush), so the admin
// sees the push sent and waiting, and the rest with the answer. This is
// the history recorder's shape and cost, chosen over a write per step: a
// traced login costs one or two records, written by one writer goroutine
// in batches of one transaction (trace/events/<user>/<time>-<node>-<n>,
// lease 5 minutes), from a bounded queue. Handing over never waits: a
// full queue drops the record, and a batch etcd refuses is dropped, each
// counted by cause (twostep_trace_events_dropped_total); an answer never
// waits for a trace. A node writes at most 20 records a second (bursts
// of 200): anybody can send requests in a traced user's name, and a
// flood of them must not fill etcd.
//
// # Where the tracer travels
//
// The project keeps behaviour out of context values. The tracer of a
// request travels explicitly where the request already does: the RADIUS
// exchange holds it, and the engine's challenge.Request carries it as a
// challenge.Tracer, which the engine tells its steps (the password box,
// the first factor, the policy rule, the account, passcodes, rounds,
// pushes). The calls deep below the engine (each etcd Get, List and
// Commit; each LDAP search, group search and bind; each notification)
// are observed the way net/http/httptrace observes a request: the
// request's context carries an observer (cluster.WithObserver,
// directory.WithObserver, notify.WithObserver) that the metered store,
// the directory's metrics and notify.Dispatch tell where they already
// count the call. That is the one exception to the rule, and it is for
// observation only: an observer records, returns nothing, and no code
// decides anything on whether one is there. A context without one costs
// those calls a context lookup.
//
// # What is masked
//
// The RADIUS layer names every attribute by the dictionaries and masks
// what could help somebody log in (radiusd/traceside.go): User-Password
// whole (a passcode or push keyword after the separator with it), CHAP
// and ARAP material, EAP-Message, State, Proxy-State,
// Message-Authenticator, Tunnel-Password, anything a dictionary marks
// encrypted, Microsoft's attributes, vendor attributes whose names speak
// of passwords, secrets, keys, challenges or responses, and anything in
// no dictionary; a masked value shows its length. The engine's steps
// name devices, rounds and pushes, never a code, a State or a verified
// push's number; the directory's name DNs and groups, never a password;
// the store's name keys, which hold names, ids and hashes (etcdctl shows
// them anyway), never values.
//
// Metrics: twostep_trace_active_users (users this node traces now) and
// twostep_trace_events_dropped_total{cause}.
package trace
