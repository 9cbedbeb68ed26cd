// Package portal serves twostep's HTTPS endpoints on every node: the
// self-service pages (sign-in, "My Settings & Devices", "Add a new
// device"), the web authenticator (/app/) and the push approval API that
// devices answer pushes through. Sessions live in the cluster, so any
// node serves a browser's next page; what a sign-in or an answer proves
// is decided by the challenge package.
//
// Metrics (metrics.go, a struct of collectors made by NewMetrics from a
// prometheus.Registerer, as in every package of twostep) count requests
// by route pattern and status, sign-in steps by result, and the rate
// limits' refusals.
package portal
