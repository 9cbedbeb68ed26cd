package directory

import (
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

const (
	argon2idPrefix  = "$argon2id$"
	argon2idSaltLen = 16
	argon2idKeyLen  = 32
	// Bounds on parameters read from a file: beyond them one login would
	// take seconds or gigabytes, which is a mistake or an attack.
	argon2idMaxMemory  = 1 << 20 // KiB: 1 GiB
	argon2idMaxTime    = 64
	argon2idMaxThreads = 64
	argon2idMinSalt    = 8 // RFC 9106 section 3.1
	argon2idMaxSalt    = 64
	argon2idMinKey     = 16
	argon2idMaxKey     = 64
)

// argon2idParams are the cost parameters of a PHC argon2id string.
type argon2idParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultArgon2id is OWASP's first recommendation (Password Storage Cheat
// Sheet): 19 MiB, two passes, one lane.
func defaultArgon2id() argon2idParams {
	return argon2idParams{memory: 19456, time: 2, threads: 1}
}

type argon2idHash struct {
	params argon2idParams
	salt   []byte
	key    []byte
}

func newArgon2id(password string, p argon2idParams) *argon2idHash {
	salt := randomBytes(argon2idSaltLen)
	return &argon2idHash{params: p, salt: salt, key: argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argon2idKeyLen)}
}

// String is the PHC string form.
func (h *argon2idHash) String() string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2idPrefix, argon2.Version,
		h.params.memory, h.params.time, h.params.threads,
		base64.RawStdEncoding.EncodeToString(h.salt), base64.RawStdEncoding.EncodeToString(h.key))
}

func (h *argon2idHash) scheme() Scheme  { return Argon2id }
func (h *argon2idHash) expensive() bool { return true }

func (h *argon2idHash) cost() string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d,len=%d", h.params.memory, h.params.time, h.params.threads, len(h.key))
}

func (h *argon2idHash) verify(password string) bool {
	key := argon2.IDKey([]byte(password), h.salt, h.params.time, h.params.memory, h.params.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

func (h *argon2idHash) decoy() passwordHash {
	return &argon2idHash{params: h.params, salt: randomBytes(argon2idSaltLen), key: randomBytes(len(h.key))}
}

// parseArgon2id reads $argon2id$v=19$m=M,t=T,p=P$SALT$HASH, the PHC string
// format with unpadded standard base64, as argon2 reference tools write it.
func parseArgon2id(s string) (*argon2idHash, error) {
	bad := func(format string, args ...any) error {
		return &HashError{Scheme: Argon2id, Reason: fmt.Sprintf(format, args...)}
	}
	parts := strings.Split(strings.TrimPrefix(s, argon2idPrefix), "$")
	if len(parts) != 4 {
		return nil, bad("%d $-separated fields after $argon2id$, want 4", len(parts))
	}
	if parts[0] != "v=19" {
		return nil, bad("version field is not v=19 (only argon2 version 1.3 is supported)")
	}
	params := strings.Split(parts[1], ",")
	if len(params) != 3 {
		return nil, bad("parameters are not m=KIB,t=PASSES,p=LANES")
	}
	m, err1 := paramValue(params[0], "m=", argon2idMaxMemory)
	t, err2 := paramValue(params[1], "t=", argon2idMaxTime)
	l, err3 := paramValue(params[2], "p=", argon2idMaxThreads)
	switch {
	case err1 != nil:
		return nil, bad("m (memory in KiB): %v", err1)
	case err2 != nil:
		return nil, bad("t (passes): %v", err2)
	case err3 != nil:
		return nil, bad("p (lanes): %v", err3)
	case t < 1 || l < 1:
		return nil, bad("passes and lanes must be at least 1")
	case m < 8*l:
		return nil, bad("memory %d KiB is below 8 KiB per lane", m)
	}
	p := argon2idParams{memory: uint32(m), time: uint32(t), threads: uint8(l)}
	salt, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, bad("salt is not unpadded base64")
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[3])
	if err != nil {
		return nil, bad("hash is not unpadded base64")
	}
	if len(salt) < argon2idMinSalt || len(salt) > argon2idMaxSalt {
		return nil, bad("salt of %d bytes, want %d to %d", len(salt), argon2idMinSalt, argon2idMaxSalt)
	}
	if len(key) < argon2idMinKey || len(key) > argon2idMaxKey {
		return nil, bad("hash of %d bytes, want %d to %d", len(key), argon2idMinKey, argon2idMaxKey)
	}
	return &argon2idHash{params: p, salt: salt, key: key}, nil
}

// paramValue parses "name=N" with N a decimal number no greater than limit.
func paramValue(field, name string, limit uint64) (uint64, error) {
	digits, ok := strings.CutPrefix(field, name)
	if !ok {
		return 0, fmt.Errorf("want %sN", name)
	}
	if digits == "" || len(digits) > 10 || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("not a number")
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if n > limit {
		return 0, fmt.Errorf("%d is above the limit of %d", n, limit)
	}
	return n, nil
}
