package tokenfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Encryption and MAC algorithms of PSKC's pre-shared key protection
// (RFC 6030 section 6.1): AES-CBC from XML Encryption, HMAC from XML
// Signature. The MAC key is itself encrypted under the pre-shared key.
var (
	cbcKeyLen = map[string]int{
		"http://www.w3.org/2001/04/xmlenc#aes128-cbc": 16,
		"http://www.w3.org/2001/04/xmlenc#aes192-cbc": 24,
		"http://www.w3.org/2001/04/xmlenc#aes256-cbc": 32,
	}
	macHashes = map[string]func() hash.Hash{
		"http://www.w3.org/2000/09/xmldsig#hmac-sha1":        sha1.New,
		"http://www.w3.org/2001/04/xmldsig-more#hmac-sha224": sha256.New224,
		"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": sha256.New,
		"http://www.w3.org/2001/04/xmldsig-more#hmac-sha384": sha512.New384,
		"http://www.w3.org/2001/04/xmldsig-more#hmac-sha512": sha512.New,
	}
)

// encrypted is an xenc:EncryptedDataType element read: an EncryptedValue
// or the MACKey.
type encrypted struct {
	n      *node
	alg    string // URI
	keyLen int    // of the AES key alg needs
	data   []byte // IV followed by the ciphertext
}

// readEncrypted reads n's EncryptionMethod and CipherValue; false when it
// reported a problem.
func (p *pskcReader) readEncrypted(n *node, serial string) (encrypted, bool) {
	e := encrypted{n: n}
	em := n.child("EncryptionMethod")
	if em == nil {
		p.addf(n, serial, "%s has no EncryptionMethod", n.name.Local)
		return e, false
	}
	e.alg, _ = em.attr("Algorithm")
	var ok bool
	if e.keyLen, ok = cbcKeyLen[e.alg]; !ok {
		p.once("encryption "+e.alg, func() {
			p.unsupported(em, serial, "encryption %s is not supported: only aes128-cbc, aes192-cbc and aes256-cbc with a pre-shared key", quoteURI(e.alg))
		})
		return e, false
	}
	cd := n.child("CipherData")
	switch {
	case cd == nil:
		p.addf(n, serial, "%s has no CipherData", n.name.Local)
		return e, false
	case cd.child("CipherReference") != nil:
		p.unsupported(cd.child("CipherReference"), serial, "a cipher value kept outside the file is not supported")
		return e, false
	case cd.child("CipherValue") == nil:
		p.addf(cd, serial, "CipherData has no CipherValue")
		return e, false
	}
	cv := cd.child("CipherValue")
	data, err := decodeBase64(cv.value())
	if err != nil {
		p.addf(cv, serial, "CipherValue is not base64")
		return e, false
	}
	if len(data) < 2*aes.BlockSize || len(data)%aes.BlockSize != 0 {
		p.addf(cv, serial, "CipherValue is %d bytes: want a %d-byte IV and whole %d-byte blocks", len(data), aes.BlockSize, aes.BlockSize)
		return e, false
	}
	e.data = data
	return e, true
}

// keyFits checks the pre-shared key against the algorithm, once per
// algorithm.
func (p *pskcReader) keyFits(e encrypted, serial string) bool {
	if len(p.key) == e.keyLen {
		return true
	}
	p.once("keylen "+e.alg, func() {
		at, s := e.n.child("EncryptionMethod"), serial
		if p.encryptionKey != nil {
			at, s = p.encryptionKey, "" // the key's fault, not the value's
		}
		p.addf(at, s, "%s needs a %d-byte pre-shared key; the key given is %d bytes",
			shortURI(e.alg), e.keyLen, len(p.key))
	})
	return false
}

// decrypt returns the plaintext of an EncryptedValue after checking its
// ValueMAC (vmac, nil when the file has none) in constant time: nothing is
// decrypted before its MAC matches. False when it reported a problem, or
// when the problem was one of the file's and was reported already.
func (p *pskcReader) decrypt(ev, vmac *node, serial string) ([]byte, bool) {
	if p.keyUnsupported {
		return nil, false // said at EncryptionKey
	}
	e, ok := p.readEncrypted(ev, serial)
	if !ok {
		return nil, false
	}
	if p.key == nil {
		p.needKey(ev)
		return nil, false
	}
	if !p.keyFits(e, serial) {
		return nil, false
	}
	if p.macMethod == nil {
		p.once("no MACMethod", func() {
			p.addf(ev, serial, "the file has no MACMethod, so its encrypted values cannot be checked (RFC 6030 requires a MAC with CBC encryption)")
		})
		return nil, false
	}
	if p.macNew == nil {
		return nil, false // said at MACMethod
	}
	if vmac == nil {
		p.addf(ev, serial, "EncryptedValue has no ValueMAC, so it cannot be checked")
		return nil, false
	}
	want, err := decodeBase64(vmac.value())
	if err != nil {
		p.addf(vmac, serial, "ValueMAC is not base64")
		return nil, false
	}
	macKey, ok := p.macKey(serial)
	if !ok {
		return nil, false
	}
	m := hmac.New(p.macNew, macKey)
	m.Write(e.data) // RFC 6030 6.1.1: the MAC is over the IV and the ciphertext
	if !hmac.Equal(m.Sum(nil), want) {
		if p.macPassed {
			p.addf(vmac, serial, "ValueMAC does not match: the value was changed or damaged since the file was written")
		} else {
			p.wrongKey(vmac)
		}
		return nil, false
	}
	p.macPassed = true
	plain, ok := cbcDecrypt(p.key, e.data)
	if !ok {
		p.addf(ev, serial, "the value's MAC matches but it does not decrypt (bad padding): the file was written wrong")
		return nil, false
	}
	return plain, true
}

// macKey decrypts the file's MAC key under the pre-shared key, once. A
// wrong pre-shared key usually shows here, as bad padding.
func (p *pskcReader) macKey(serial string) ([]byte, bool) {
	if p.macKeyDone {
		return p.macKeyBytes, p.macKeyBytes != nil
	}
	p.macKeyDone = true
	mk := p.macMethod.child("MACKey")
	if mk == nil {
		return nil, false // said at MACMethod
	}
	e, ok := p.readEncrypted(mk, "")
	if !ok || !p.keyFits(e, serial) {
		return nil, false
	}
	key, ok := cbcDecrypt(p.key, e.data)
	if !ok || len(key) == 0 {
		p.wrongKey(mk)
		return nil, false
	}
	p.macKeyBytes = key
	return key, true
}

// needKey says, once, that the file cannot be read without its key.
func (p *pskcReader) needKey(at *node) {
	p.once("key needed", func() {
		if p.encryptionKey != nil {
			at = p.encryptionKey
		}
		msg := "the file is encrypted: give its pre-shared key (twostepctl: --psk-file)"
		if len(p.keyNames) > 0 {
			msg = fmt.Sprintf("the file is encrypted with the pre-shared key named %s: give that key (twostepctl: --psk-file)", quoteName(p.keyNames[0]))
		}
		p.add(Problem{Line: at.line, Field: at.path(), Message: msg, Err: ErrKeyNeeded})
	})
}

// wrongKey says, once, that the key given is not the file's: at the
// EncryptionKey that names the key, when there is one, rather than at the
// value where the wrong key happened to show.
func (p *pskcReader) wrongKey(at *node) {
	p.once("wrong key", func() {
		if p.encryptionKey != nil {
			at = p.encryptionKey
		}
		msg := ErrWrongKey.Error()
		if len(p.keyNames) > 0 {
			msg += fmt.Sprintf(" (the file names its key %s)", quoteName(p.keyNames[0]))
		}
		p.add(Problem{Line: at.line, Field: at.path(), Message: msg, Err: ErrWrongKey})
	})
}

// cbcDecrypt decrypts data, an IV and whole blocks, and drops the XML
// Encryption padding: the last byte counts the padding bytes, 1 to a
// block, whose other values are arbitrary (XML Encryption 1.0, 5.2).
func cbcDecrypt(key, data []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil || len(data) < 2*aes.BlockSize || len(data)%aes.BlockSize != 0 {
		return nil, false
	}
	iv, ct := data[:aes.BlockSize], data[aes.BlockSize:]
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > aes.BlockSize {
		clear(plain)
		return nil, false
	}
	return plain[:len(plain)-pad], true
}

// decodeBase64 reads base64 with line breaks and spaces, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty")
	}
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
