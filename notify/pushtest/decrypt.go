package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Decrypt is the user agent's side of RFC 8291: it opens body, an aes128gcm
// request body of one record (RFC 8188), with the subscription's private
// key and auth secret, and returns the plaintext.
func Decrypt(body []byte, key *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	// RFC 8188 Section 2.1: salt(16) rs(4) idlen(1) keyid(idlen), records.
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt := body[:16]
	rs := binary.BigEndian.Uint32(body[16:20])
	idlen := int(body[20])
	if rs < 18 {
		return nil, fmt.Errorf("record size %d is less than 18", rs)
	}
	// RFC 8291 Section 4: the keyid is the sender's 65-byte ephemeral key.
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid is %d bytes, want a 65-byte P-256 point", idlen)
	}
	asPublic := body[21 : 21+idlen]
	records := body[21+idlen:]
	if len(records) == 0 {
		return nil, errors.New("no record")
	}
	if uint64(len(records)) > uint64(rs) {
		return nil, fmt.Errorf("%d bytes of records with record size %d: more than one record", len(records), rs)
	}
	as, err := ecdh.P256().NewPublicKey(asPublic)
	if err != nil {
		return nil, fmt.Errorf("keyid: %w", err)
	}
	ecdhSecret, err := key.ECDH(as)
	if err != nil {
		return nil, err
	}

	// RFC 8291 Section 3.3 and 3.4, with HKDF (RFC 5869) written out: every
	// output is at most one SHA-256 block, so Expand is T(1) cut short.
	uaPublic := key.PublicKey().Bytes()
	prkKey := hmacSHA256(auth, ecdhSecret)
	keyInfo := append(append([]byte("WebPush: info\x00"), uaPublic...), asPublic...)
	ikm := hmacSHA256(prkKey, append(keyInfo, 1))
	prk := hmacSHA256(salt, ikm)
	cek := hmacSHA256(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := hmacSHA256(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]

	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	// Record 0: the nonce XOR the sequence number 0 is the nonce.
	plain, err := gcm.Open(nil, nonce, records, nil)
	if err != nil {
		return nil, errors.New("record does not decrypt: wrong key, auth secret or derivation")
	}
	// RFC 8188 Section 2: data, a delimiter (2 for the last record), zeros.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("record lacks the last-record delimiter 2")
	}
	return plain[:i], nil
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
