// Package portal serves twostep's HTTPS endpoints on every node: today
// the push approval API that devices answer pushes through (the
// self-service pages will join it). It decodes requests and maps results
// to HTTP statuses; what an answer proves is decided by the challenge
// package.
package portal
