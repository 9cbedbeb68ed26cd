// Package ldapclient is the LDAP client of the directory package's LDAP
// backend: connections that carry one operation at a time (a simple
// bind, a search, StartTLS at the start), servers tried in order, and
// pools that retry a request only when its connection was dead before
// the server could act on it.
//
// It speaks in go-ldap's request, result and error types, and reads
// answers with go-ldap's decoders, but not through go-ldap's Conn, whose
// dispatcher costs more than the rest of a login (see Conn). Its errors
// keep the "directory:" prefix of the backend they are reported through.
package ldapclient
