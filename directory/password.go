package directory

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// Scheme names a password hash scheme.
type Scheme string

// The supported schemes. A stored hash announces its scheme by its prefix:
// $argon2id$, $2a$/$2b$/$2y$, {SSHA256} or {SSHA512}.
const (
	// Argon2id is the PHC string form, $argon2id$v=19$m=…,t=…,p=…$salt$hash.
	// It is the default for new passwords.
	Argon2id Scheme = "argon2id"
	// Bcrypt is the $2a$/$2b$/$2y$ modular crypt form.
	Bcrypt Scheme = "bcrypt"
	// SSHA256 is {SSHA256}base64(SHA-256(password||salt)||salt), as written
	// by OpenLDAP and read by FreeRADIUS's pap module. It is a fast hash: fit
	// for migrating users and for benchmarks beside FreeRADIUS, not for new
	// passwords, because a stolen file can be guessed at billions per second.
	SSHA256 Scheme = "ssha256"
	// SSHA512 is {SSHA512}, like SSHA256 with SHA-512, and as fast.
	SSHA512 Scheme = "ssha512"
)

// DefaultScheme hashes new passwords unless told otherwise.
const DefaultScheme = Argon2id

// Schemes lists the supported schemes, the default first.
func Schemes() []Scheme {
	return []Scheme{Argon2id, Bcrypt, SSHA256, SSHA512}
}

// ParseScheme returns the scheme named s (case-insensitive), as given on a
// command line.
func ParseScheme(s string) (Scheme, error) {
	for _, sc := range Schemes() {
		if strings.EqualFold(s, string(sc)) {
			return sc, nil
		}
	}
	return "", fmt.Errorf("directory: unknown password scheme %q; known: argon2id (default), bcrypt, ssha256, ssha512", s)
}

// HashError reports a stored password hash that cannot be used. It never
// holds the hash: a value in the password field may be a misplaced plain
// password, and error strings end up in logs.
type HashError struct {
	// Scheme is the scheme the hash's prefix announced; empty when the
	// prefix is not one of a supported scheme.
	Scheme Scheme
	// Reason says what is wrong.
	Reason string
}

// Error says what is wrong and what form was expected.
func (e *HashError) Error() string {
	if e.Scheme == "" {
		return e.Reason
	}
	return fmt.Sprintf("bad %s hash (want %s): %s", e.Scheme, schemeForm(e.Scheme), e.Reason)
}

func schemeForm(s Scheme) string {
	switch s {
	case Argon2id:
		return "$argon2id$v=19$m=KIB,t=PASSES,p=LANES$SALT$HASH"
	case Bcrypt:
		return "$2b$COST$ and 53 characters"
	case SSHA256:
		return "{SSHA256} and base64 of the 32-byte digest and the salt"
	case SSHA512:
		return "{SSHA512} and base64 of the 64-byte digest and the salt"
	}
	return string(s)
}

// HashPassword hashes password with scheme and a fresh random salt. The
// expensive schemes use their default cost: argon2id m=19456 KiB, t=2, p=1
// (OWASP's recommendation) and bcrypt cost 12.
func HashPassword(scheme Scheme, password string) (string, error) {
	switch scheme {
	case Argon2id:
		return newArgon2id(password, defaultArgon2id()).String(), nil
	case Bcrypt:
		return hashBcrypt(password, bcryptDefaultCost)
	case SSHA256, SSHA512:
		return newSSHA(scheme, password, randomBytes(sshaSaltLen)).String(), nil
	}
	return "", fmt.Errorf("directory: hash password: unknown scheme %q", scheme)
}

// CheckPassword reports whether password matches hash. The error is for a
// hash that cannot be parsed or whose scheme is not supported, never for a
// wrong password; comparisons take constant time in the password.
func CheckPassword(hash, password string) (bool, error) {
	h, err := parseHash(hash)
	if err != nil {
		return false, fmt.Errorf("directory: check password: %w", err)
	}
	return h.verify(password), nil
}

// SchemeOf returns the scheme of a stored hash, checking the whole hash.
func SchemeOf(hash string) (Scheme, error) {
	h, err := parseHash(hash)
	if err != nil {
		return "", fmt.Errorf("directory: %w", err)
	}
	return h.scheme(), nil
}

// passwordHash is a parsed stored hash.
type passwordHash interface {
	scheme() Scheme
	// verify reports whether password matches, in constant time.
	verify(password string) bool
	// expensive reports whether verify is slow or memory-hungry enough to
	// be rationed among concurrent logins.
	expensive() bool
	// cost names the scheme and its parameters: two hashes of one cost take
	// the same time to verify.
	cost() string
	// decoy returns a random hash of the same cost, checked for unknown
	// users so that they take as long as known ones.
	decoy() passwordHash
}

// unsupported are prefixes of schemes we know and do not read, named in the
// error so that an admin knows what the file holds. Anything else is never
// echoed: it may be a plain password.
var unsupported = []struct{ prefix, name string }{
	{"$argon2i$", "argon2i (only argon2id is supported)"},
	{"$argon2d$", "argon2d (only argon2id is supported)"},
	{"$2x$", "bcrypt $2x$ (the buggy variant)"},
	{"$1$", "MD5-crypt"},
	{"$5$", "SHA-256-crypt"},
	{"$6$", "SHA-512-crypt"},
	{"$y$", "yescrypt"},
	{"{SHA}", "{SHA} (unsalted SHA-1)"},
	{"{SSHA}", "{SSHA} (salted SHA-1)"},
	{"{SHA256}", "{SHA256} (unsalted)"},
	{"{SHA512}", "{SHA512} (unsalted)"},
	{"{MD5}", "{MD5}"},
	{"{SMD5}", "{SMD5}"},
	{"{CRYPT}", "{CRYPT}"},
	{"{CLEARTEXT}", "a plain password"},
	{"{PLAIN}", "a plain password"},
}

const supportedList = "$argon2id$, $2a$/$2b$/$2y$ (bcrypt), {SSHA256} or {SSHA512}"

// parseHash recognises a stored hash by its prefix and parses all of it.
func parseHash(s string) (passwordHash, error) {
	switch {
	case strings.HasPrefix(s, argon2idPrefix):
		return orNil(parseArgon2id(s))
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return orNil(parseBcrypt(s))
	case hasPrefixFold(s, ssha256Prefix):
		return orNil(parseSSHA(SSHA256, s))
	case hasPrefixFold(s, ssha512Prefix):
		return orNil(parseSSHA(SSHA512, s))
	}
	for _, u := range unsupported {
		if hasPrefixFold(s, u.prefix) {
			return nil, &HashError{Reason: fmt.Sprintf("unsupported password hash scheme %s; want %s", u.name, supportedList)}
		}
	}
	if s == "" {
		return nil, &HashError{Reason: "empty password hash"}
	}
	return nil, &HashError{Reason: "not a supported password hash (want one starting with " + supportedList + "); a plain password is never accepted"}
}

// orNil turns a typed nil into a nil interface, so that callers can test
// the hash against nil.
func orNil[H passwordHash](h H, err error) (passwordHash, error) {
	if err != nil {
		return nil, err
	}
	return h, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// defaultDecoy is checked for unknown users when no user sets an example.
func defaultDecoy() passwordHash {
	return (&argon2idHash{params: defaultArgon2id(), key: make([]byte, argon2idKeyLen)}).decoy()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return b
}
