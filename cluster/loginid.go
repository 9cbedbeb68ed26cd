package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// One correlation id per login: every node that sees a request of the
// login, its retransmissions, its challenge rounds and its push, logs and
// records the same id.
//
// The first request's id is derived from what a retransmission repeats
// (the NAS's address, the Identifier, the Request Authenticator and the
// User-Name, as JoinKey names the request for a push), so a copy that
// reaches another node gets the same id without reading the store. The
// Request Authenticator is 16 random bytes the NAS draws for each new
// request, which is what makes ids of different logins differ. A plain
// hash suffices: the inputs travel in clear on the wire and hide no
// secret, and the id only names the login. A later round carries another
// Identifier and Authenticator, so the id travels in the records the
// login leaves for it: the challenge round (Pending.Login) and the push
// (Push.Login), under their MACs.

// LoginIDLen is the length of a login id: 12 hex digits, 48 bits, enough
// that two logins of the retention period do not share one in practice.
const LoginIDLen = 12

// refLen is how many hex digits of the id the reference shown to users
// carries: "Ref 3f9a-c21b".
const refLen = 8

// LoginID returns the correlation id of the request that the NAS at nas
// sent with identifier, authenticator and user: the same for every copy
// of that request, on any node.
func LoginID(nas string, identifier byte, authenticator [16]byte, user string) string {
	h := sha256.New()
	// Apart from JoinKey's hash, so that neither tells the other.
	fmt.Fprintf(h, "twostep login id\x00%s\x00%d\x00", nas, identifier)
	h.Write(authenticator[:])
	h.Write([]byte(user))
	return hex.EncodeToString(h.Sum(nil))[:LoginIDLen]
}

// LoginReference is the short reference to login id that a Reply-Message
// may end with, for the user to read to the help desk: "Ref 3f9a-c21b",
// the id's first 8 hex digits. `twostepctl logins -id` takes it back.
// Empty for an id too short to have one.
func LoginReference(id string) string {
	if len(id) < refLen {
		return ""
	}
	return "Ref " + id[:refLen/2] + "-" + id[refLen/2:refLen]
}

// ParseLoginReference reads what a user or an admin typed to name a
// login: a reference as shown ("Ref 3f9a-c21b", "3f9a-c21b", "3F9AC21B")
// or a whole id. It returns the id's prefix that the text gives, lower
// case, with no dash or space: 8 to LoginIDLen hex digits. The prefix of
// a reference may match more than one login: 32 bits tell a day's logins
// apart, not every login of the retention, so a listing shows them all.
func ParseLoginReference(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSpace(strings.TrimPrefix(t, "ref"))
	t = strings.TrimSpace(strings.TrimPrefix(t, ":"))
	t = strings.NewReplacer("-", "", " ", "").Replace(t)
	if len(t) < refLen || len(t) > LoginIDLen {
		return "", fmt.Errorf("cluster: login reference %q: want %d to %d hex digits (Ref 3f9a-c21b, or a whole id)", s, refLen, LoginIDLen)
	}
	if strings.Trim(t, "0123456789abcdef") != "" {
		return "", fmt.Errorf("cluster: login reference %q: not hex digits", s)
	}
	return t, nil
}
