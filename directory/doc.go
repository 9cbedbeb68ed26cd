// Package directory checks the first factor: a username and password
// against a user store, behind one small method, Authenticate.
//
// Backends: File, a YAML users file with password hashes (the embedded
// default, edited with FileEditor), and LDAP, OpenLDAP or Active Directory
// searched with a service account and bound as the user. The LDAP backend
// holds what a login means (the user's search, the bind, groups, Active
// Directory's account states, the DN cache, health); the ldapclient
// subpackage holds the wire: connections, BER, servers and pools. The
// ldaptest subpackage starts a real slapd for tests.
//
// Both backends count their requests on a Metrics (metrics.go: a struct
// of collectors made by NewMetrics from a prometheus.Registerer, as in
// every package of twostep), given by WithLDAPMetrics or WithFileMetrics;
// the LDAP backend also reports its pools' connections in use and each
// server's health, which its connections note at every exchange
// (ldapclient.Server.Health). Where they count a request they also tell
// the Observer the request's context carries, if any (observe.go: a
// traced login's searches, group searches and binds, for `twostepctl
// trace`).
package directory
