package directory

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

const (
	bcryptDefaultCost = 12
	// bcryptMaxCost bounds costs read from a file: each step doubles the
	// work, and cost 16 already takes seconds, longer than a NAS waits.
	bcryptMaxCost = 16
	bcryptLen     = 60
	bcryptChars   = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// bcryptHash is a stored $2a$/$2b$/$2y$ hash; x/crypto/bcrypt parses it
// again on every check, which costs nothing beside the key schedule.
type bcryptHash struct {
	hash     []byte
	hashCost int
}

func hashBcrypt(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", fmt.Errorf("directory: hash password: bcrypt reads at most 72 bytes of a password; use argon2id for longer ones")
	}
	if err != nil {
		return "", fmt.Errorf("directory: hash password: %w", err)
	}
	return string(h), nil
}

func (h *bcryptHash) scheme() Scheme  { return Bcrypt }
func (h *bcryptHash) expensive() bool { return true }
func (h *bcryptHash) cost() string    { return fmt.Sprintf("bcrypt cost=%d", h.hashCost) }

// verify uses bcrypt's own constant-time comparison. Like every bcrypt
// implementation it reads only the first 72 bytes of the password.
func (h *bcryptHash) verify(password string) bool {
	return bcrypt.CompareHashAndPassword(h.hash, []byte(password)) == nil
}

func (h *bcryptHash) decoy() passwordHash {
	b := []byte(fmt.Sprintf("$2b$%02d$", h.hashCost))
	for _, r := range randomBytes(bcryptLen - len(b)) {
		b = append(b, bcryptChars[int(r)%len(bcryptChars)])
	}
	return &bcryptHash{hash: b, hashCost: h.hashCost}
}

// parseBcrypt checks the whole $2?$NN$ + 53 characters form, so that a
// broken hash is refused when the file is loaded, not at a login.
func parseBcrypt(s string) (*bcryptHash, error) {
	bad := func(format string, args ...any) error {
		return &HashError{Scheme: Bcrypt, Reason: fmt.Sprintf(format, args...)}
	}
	if len(s) != bcryptLen {
		return nil, bad("%d characters, want %d", len(s), bcryptLen)
	}
	if s[6] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return nil, bad("cost is not two digits")
	}
	if strings.Trim(s[7:], bcryptChars) != "" {
		return nil, bad("salt and hash hold characters outside bcrypt's base64 alphabet")
	}
	cost, err := bcrypt.Cost([]byte(s))
	if err != nil {
		return nil, bad("%v", err)
	}
	if cost < bcrypt.MinCost || cost > bcryptMaxCost {
		return nil, bad("cost %d, want %d to %d", cost, bcrypt.MinCost, bcryptMaxCost)
	}
	return &bcryptHash{hash: []byte(s), hashCost: cost}, nil
}
