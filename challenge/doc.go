// Package challenge is the login state machine: it takes a decoded login
// request, checks the first factor against the directory and (in later
// steps) the second factor against the cluster, and returns a Decision.
//
// A rejected user is a Decision; an error means the infrastructure failed
// and the caller must never turn it into an Accept.
package challenge
