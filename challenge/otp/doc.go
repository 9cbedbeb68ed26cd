// Package otp is the one-time password mathematics of twostep: TOTP
// (RFC 6238) and HOTP (RFC 4226) codes and their checks, otpauth:// URIs,
// fresh secrets, and the reading of a passcode as people type it.
//
// Every function is pure: the time, the last accepted step or counter and
// the window come from the caller, who keeps them in the cluster and
// writes what a check returns back in a transaction, so that every node
// decides alike and a code is used once cluster-wide. The login engine
// (package challenge), the portal, twostepctl and the benchmark use it.
package otp
