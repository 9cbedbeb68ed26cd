package notify

// Encrypt exposes encrypt to the external tests, which check it against
// pushtest's decryption (an import cycle keeps those out of this package).
var Encrypt = encrypt

// MaxPayload exposes the largest Message encoding a push carries.
const MaxPayload = maxPayload

// Authorization exposes VAPID.authorization.
var Authorization = VAPID.authorization

// ParseEndpoint exposes parseEndpoint, returning the origin errors may name.
func ParseEndpoint(raw string, allowHTTP bool) (string, error) {
	e, err := parseEndpoint(raw, allowHTTP)
	return e.origin, err
}
