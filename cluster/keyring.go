package cluster

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Sentinel errors of Keyring.Open, for callers that tell a missing key
// (an admin removed a line too early) from a damaged or moved record.
var (
	// ErrUnknownKey means a record was sealed with a key the key file no
	// longer lists.
	ErrUnknownKey = errors.New("cluster: unknown seed key")
	// ErrDecrypt means a sealed record fails authentication: it was
	// altered, or copied under another user or device (its AAD differs).
	ErrDecrypt = errors.New("cluster: sealed record fails authentication")
)

// DefaultSeedKeys is where a configuration that names no seed key file
// finds it (the cluster section's seed_keys).
const DefaultSeedKeys = "/etc/twostep/seed.key"

// DefaultIssuer names the service in authenticator apps when the cluster
// section names none (issuer): the otpauth URIs and the portal.
const DefaultIssuer = "twostep"

const (
	// keySize is the AES-256 key length the file holds.
	keySize = 32
	// maxKeyIDLen bounds ids so they stay readable in etcdctl output.
	maxKeyIDLen = 64
	// maxKeyFileSize keeps LoadKeyring from reading a wrong path whole.
	maxKeyFileSize = 1 << 20
)

// Keyring holds the keys that seal seeds; the first key of the file seals,
// every key opens. Keys live in a file outside etcd, so a copy of etcd's
// data alone reveals no seed. Its keys never change after it is built
// (only the count of tampered records it saw grows), and it is safe for
// concurrent use.
type Keyring struct {
	keys []ringKey // file order: keys[0] is active
	// tamper counts the records that failed their check with these keys
	// (integrity.go): the one thing about a Keyring that changes.
	tamper tamperCount
}

// ringKey is one line of the key file, with its cipher built once.
type ringKey struct {
	id   string
	raw  []byte // for HKDF: MAC subkeys are derived, never the raw key
	aead cipher.AEAD
}

// Sealed is a ciphertext as stored in JSON records:
// {"kid":"…","nonce":"base64","ct":"base64"}. The key id travels with the
// record so rotation can open records sealed by an older key.
type Sealed struct {
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"`
}

// LoadKeyring reads the key file at path. It refuses a file that group or
// others may read or write, because whoever reads it can decrypt every
// seed of the cluster.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: keyring: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cluster: keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cluster: keyring %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("cluster: keyring %s: mode %04o lets group or others at the seed keys: run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cluster: keyring %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("cluster: keyring %s: larger than %d bytes, not a key file", path, maxKeyFileSize)
	}
	k, err := ParseKeyring(b)
	var pe *keyringError
	if errors.As(err, &pe) {
		pe.path = path
	}
	return k, err
}

// ParseKeyring parses the content of a key file: blank lines, "#"
// comments, and lines "ID BASE64" where ID is 1 to 64 of A-Z a-z 0-9 . _ -
// and BASE64 (standard, padded) decodes to exactly 32 bytes. It reports
// every bad line with its number in one error; no error quotes the file's
// content, so a key cannot leak into a log.
func ParseKeyring(b []byte) (*Keyring, error) {
	var (
		k     Keyring
		probs []lineProblem
		seen  = map[string]int{} // id -> line
	)
	for i, line := range strings.Split(string(b), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(msg string) { probs = append(probs, lineProblem{n, msg}) }
		f := strings.Fields(line)
		if len(f) != 2 {
			bad(fmt.Sprintf(`want "ID BASE64" (2 fields), found %d`, len(f)))
			continue
		}
		id, enc := f[0], f[1]
		ok := true
		if !validKeyID(id) {
			bad("key id must be 1 to 64 of A-Z a-z 0-9 . _ -")
			ok = false
		} else if first, dup := seen[id]; dup {
			bad(fmt.Sprintf("duplicate key id (first on line %d)", first))
			ok = false
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil {
			bad("key is not base64 (standard alphabet, padded)")
			continue
		}
		if len(raw) != keySize {
			bad(fmt.Sprintf("key is %d bytes, want %d", len(raw), keySize))
			continue
		}
		if !ok {
			continue
		}
		seen[id] = n
		block, err := aes.NewCipher(raw)
		if err != nil { // unreachable: the length is checked above
			bad("key does not build an AES-256 cipher")
			continue
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			bad("key does not build AES-256-GCM")
			continue
		}
		k.keys = append(k.keys, ringKey{id: id, raw: raw, aead: aead})
	}
	if len(probs) == 0 && len(k.keys) == 0 {
		probs = append(probs, lineProblem{0, `no key: want at least one line "ID BASE64"`})
	}
	if len(probs) > 0 {
		return nil, &keyringError{problems: probs}
	}
	return &k, nil
}

// lineProblem is one complaint about the key file; line 0 is the file as a
// whole.
type lineProblem struct {
	line int
	msg  string
}

// keyringError lists every problem of a key file in one message, so an
// admin fixes the file in one pass.
type keyringError struct {
	path     string // set by LoadKeyring
	problems []lineProblem
}

func (e *keyringError) Error() string {
	var b strings.Builder
	b.WriteString("cluster: keyring")
	if e.path != "" {
		b.WriteString(" ")
		b.WriteString(e.path)
		b.WriteString(":")
	}
	for i, p := range e.problems {
		if i > 0 {
			b.WriteString(";")
		}
		switch {
		case p.line > 0:
			fmt.Fprintf(&b, " line %d:", p.line)
		case e.path == "":
			b.WriteString(":") // "cluster: keyring: no key"
		}
		b.WriteString(" ")
		b.WriteString(p.msg)
	}
	return b.String()
}

// validKeyID reports whether id is 1 to 64 of [A-Za-z0-9._-]: safe to
// print, to put in JSON and to type.
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > maxKeyIDLen {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// keyFileHeader explains the format to the admin who opens the file.
const keyFileHeader = `# twostep seed keys. The first key seals new records; every key listed opens old ones.
# Each key line is "ID BASE64": an id of A-Z a-z 0-9 . _ - and 32 random bytes in base64.
# Rotate: put a new key first (twostepctl keygen prints one), then re-seal with ` + "`twostepctl rekey`" + `, then remove the old line.
# Keep this file mode 600 and out of etcd: whoever reads it can decrypt every seed.
`

// NewKeyFile returns the content of a fresh key file: comment lines that
// explain the format and rotation, then one key read from rand with an id
// like "k20261123-a1b2" (now's UTC date and 4 random hex digits, so keys
// made the same day differ).
func NewKeyFile(rand io.Reader, now time.Time) ([]byte, error) {
	var buf [2 + keySize]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return nil, fmt.Errorf("cluster: new key: %w", err)
	}
	id := "k" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(buf[:2])
	var b bytes.Buffer
	b.WriteString(keyFileHeader)
	b.WriteString(id)
	b.WriteString(" ")
	b.WriteString(base64.StdEncoding.EncodeToString(buf[2:]))
	b.WriteString("\n")
	return b.Bytes(), nil
}

// ActiveID returns the id of the key that seals: the first of the file.
func (k *Keyring) ActiveID() string {
	if len(k.keys) == 0 {
		return ""
	}
	return k.keys[0].id
}

// IDs returns the ids of every key, in file order (the active one first).
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, r := range k.keys {
		ids[i] = r.id
	}
	return ids
}

// find returns the key with id, or nil.
func (k *Keyring) find(id string) *ringKey {
	for i := range k.keys {
		if k.keys[i].id == id {
			return &k.keys[i]
		}
	}
	return nil
}

// Seal encrypts plaintext with AES-256-GCM under the active key and a
// random 12-byte nonce. aad binds the record to its place (user and
// device): Open with another aad fails, so a sealed seed copied to another
// user in etcd is useless.
func (k *Keyring) Seal(plaintext, aad []byte) (Sealed, error) {
	if len(k.keys) == 0 {
		return Sealed{}, errors.New("cluster: seal: keyring has no key")
	}
	r := &k.keys[0]
	nonce := make([]byte, r.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("cluster: seal: nonce: %w", err)
	}
	return Sealed{KeyID: r.id, Nonce: nonce, Ciphertext: r.aead.Seal(nil, nonce, plaintext, aad)}, nil
}

// Open decrypts s, which must have been sealed with the same aad. It
// returns an error wrapping ErrUnknownKey when s.KeyID is not in the
// ring, and one wrapping ErrDecrypt when authentication fails.
func (k *Keyring) Open(s Sealed, aad []byte) ([]byte, error) {
	r := k.find(s.KeyID)
	if r == nil {
		return nil, fmt.Errorf("%w: record sealed with key %q, which the key file lacks (put that key back in the file)", ErrUnknownKey, s.KeyID)
	}
	if len(s.Nonce) != r.aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrDecrypt, len(s.Nonce), r.aead.NonceSize())
	}
	pt, err := r.aead.Open(nil, s.Nonce, s.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("%w (key %q): altered, or moved from another record", ErrDecrypt, s.KeyID)
	}
	return pt, nil
}

// MAC returns HMAC-SHA256 of msg under a subkey of the active key derived
// for purpose, and that key's id. Deriving per purpose (HKDF-SHA256, info
// "twostep "+purpose) keeps one file key from serving two uses: a MAC made
// for one purpose never verifies for another, and none relates to the
// AES key. An empty ring returns an empty id and a nil MAC, which
// VerifyMAC refuses.
func (k *Keyring) MAC(purpose string, msg []byte) (kid string, mac []byte) {
	if len(k.keys) == 0 {
		return "", nil
	}
	r := &k.keys[0]
	return r.id, r.mac(purpose, msg)
}

// VerifyMAC reports whether mac is MAC(purpose, msg) under the key kid,
// comparing in constant time. It is false for a kid not in the ring.
func (k *Keyring) VerifyMAC(kid, purpose string, msg, mac []byte) bool {
	r := k.find(kid)
	if r == nil || len(mac) == 0 {
		return false
	}
	return hmac.Equal(r.mac(purpose, msg), mac)
}

// mac computes HMAC-SHA256 under the purpose subkey of r.
func (r *ringKey) mac(purpose string, msg []byte) []byte {
	sub, err := hkdf.Key(sha256.New, r.raw, nil, "twostep "+purpose, sha256.Size)
	if err != nil {
		// Only a length above 255*32 bytes fails; ours is fixed.
		panic("cluster: hkdf: " + err.Error())
	}
	h := hmac.New(sha256.New, sub)
	h.Write(msg)
	return h.Sum(nil)
}
