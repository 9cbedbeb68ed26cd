// Package portal serves twostep's HTTPS endpoints on every node: the
// self-service pages (sign-in, "My Settings & Devices", "Add a new
// device"), the web authenticator (/app/) and the push approval API that
// devices answer pushes through. Sessions live in the cluster, so any
// node serves a browser's next page; what a sign-in or an answer proves
// is decided by the challenge package.
package portal
