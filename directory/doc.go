// Package directory checks the first factor: a username and password
// against a user store. The file backend (YAML users with password hashes)
// is the embedded default; LDAP and Active Directory sit behind the same
// small method, Authenticate.
package directory
