package notify

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The aes128gcm content coding (RFC 8188) as Web Push uses it (RFC 8291):
// one record, whose header carries the salt, the record size and the
// sender's ephemeral public key.
const (
	recordSize = 4096
	headerSize = 16 + 4 + 1 + 65 // salt, rs, idlen, keyid (the ephemeral key)
	tagSize    = 16
	// maxPayload is the largest Message encoding that still fits the 4096
	// bytes every push service must accept (RFC 8030, Section 7.2) after the
	// header, the record's delimiter and its tag.
	maxPayload = recordSize - headerSize - 1 - tagSize
)

// encrypt encodes plaintext for the user agent whose subscription has the
// public key uaPublic and the auth secret auth, per RFC 8291 Section 3: as is
// the sender's ephemeral key and salt is random, both new for each message.
// The result is the whole request body.
func encrypt(plaintext, uaPublic, auth []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(auth) != 16 {
		return nil, fmt.Errorf("auth secret is %d bytes, want 16", len(auth))
	}
	if len(salt) != 16 {
		return nil, fmt.Errorf("salt is %d bytes, want 16", len(salt))
	}
	if len(plaintext) > maxPayload {
		return nil, fmt.Errorf("message is %d bytes, more than the %d a push can carry", len(plaintext), maxPayload)
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, errors.New("subscription key is not an uncompressed P-256 point")
	}
	ecdhSecret, err := as.ECDH(ua)
	if err != nil {
		return nil, errors.New("key agreement with the subscription key failed")
	}
	asPublic := as.PublicKey().Bytes()

	// Section 3.3: the auth secret and both public keys go into the input
	// keying material, so that only this subscription can decrypt.
	keyInfo := "WebPush: info\x00" + string(ua.Bytes()) + string(asPublic)
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, auth, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 Section 2.2 and 2.3: content encryption key and nonce.
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	body := make([]byte, headerSize, headerSize+len(plaintext)+1+tagSize)
	copy(body, salt)
	binary.BigEndian.PutUint32(body[16:20], recordSize)
	body[20] = byte(len(asPublic))
	copy(body[21:], asPublic)
	// The only record is the last: the delimiter is 2, and no padding
	// follows it (the sequence number is 0, so the nonce is used as is).
	record := make([]byte, 0, len(plaintext)+1)
	record = append(record, plaintext...)
	record = append(record, 2)
	return gcm.Seal(body, nonce, record, nil), nil
}
