// Package notify delivers push notifications to users' devices: the message
// that a login waits for the device's answer. A device receives them through
// Web Push (RFC 8030, with the payload encrypted per RFC 8291 and the sender
// identified per RFC 8292), or through a webhook such as an ntfy or Gotify
// topic, signed with HMAC-SHA256.
//
// Endpoint URLs often carry a secret (a capability URL, a topic name), so no
// error of this package names more of an endpoint than its scheme and host,
// and none carries a key, an auth secret or a signature.
//
// Dispatch counts every notification it sends, by kind and result, on a
// Metrics (a struct of collectors made by NewMetrics from a
// prometheus.Registerer, as in every package of twostep), and tells the
// Observer the notification's context carries, if any (observe.go, for
// `twostepctl trace`).
package notify
