// Package cluster keeps what every twostepd of a cluster must agree on,
// in etcd: users' devices and used passcodes, lockout counters, bypass and
// recovery codes, waiting challenges and push transactions, portal
// sessions, the token inventory, the audit trail and the login history
// (history.go), whose one correlation id per login loginid.go derives.
//
// The records sit on Store, a four-method key-value contract (Get, List,
// Commit, Watch; store.go). Its implementations live beside it:
// cluster/etcdstore on etcd (external, or the single member that
// cluster/embedded runs inside twostepd) and cluster/memstore in memory for
// unit tests, each held to the conformance suite in cluster/storetest. A
// store may offer more as an optional capability: KeyRanger (etcd's
// limited ranges) lets History.Latest read each user's newest login
// record without listing the bucket; other stores are listed.
// Every read-modify-write goes through Retry or Update (update.go): read,
// decide, compare-and-swap on the revisions read, and read again on a
// conflict until the context ends. Seeds are sealed and records signed
// with the Keyring, a key file kept outside etcd (integrity.go), so a copy
// of etcd reveals no secret and an edit made without the key file is
// refused as ErrTampered.
//
// Metrics (metrics.go) follow the daemon's one idiom: a struct of
// collectors made by NewMetrics from a prometheus.Registerer, nil
// counting nothing. MeteredStore counts and times every call of the
// Store it wraps, and marks its conflicts for Retry to count when it
// reads again; Nodes (nodes.go) is the node registry, through which every
// node measures its clock offset to the others. A call whose context
// carries an Observer (observe.go) is also told to it, for `twostepctl
// trace`, whose records Traces keeps (trace.go).
package cluster
