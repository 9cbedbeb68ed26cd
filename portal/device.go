package portal

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"twostep/cluster"
)

// DeviceKey is a push device's signing key, as the simulator and tests
// hold it (the web authenticator keeps its key in WebCrypto).
type DeviceKey struct {
	Key *ecdsa.PrivateKey
}

// PublicKey returns the uncompressed point the device registers.
func (k DeviceKey) PublicKey() []byte {
	b, err := k.Key.PublicKey.Bytes()
	if err != nil {
		panic(err) // a P-256 key always encodes
	}
	return b
}

// Sign returns the AnswerRequest for an answer to push id by device.
func (k DeviceKey) Sign(id, device string, decision cluster.PushState, number string, at time.Time) (AnswerRequest, error) {
	sum := sha256.Sum256(cluster.PushSigned(id, decision, number, at))
	r, s, err := ecdsa.Sign(rand.Reader, k.Key, sum[:])
	if err != nil {
		return AnswerRequest{}, err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return AnswerRequest{Push: id, Device: device, Decision: string(decision), Number: number,
		At: at.Unix(), Signature: base64.RawURLEncoding.EncodeToString(sig)}, nil
}

// PostAnswer sends req to the approval API at base (e.g.
// "https://twostep1.example.edu:8443") and returns its state or error.
func PostAnswer(ctx context.Context, client *http.Client, base string, req AnswerRequest) (AnswerResponse, int, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return AnswerResponse{}, 0, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+AnswerPath, bytes.NewReader(b))
	if err != nil {
		return AnswerResponse{}, 0, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		return AnswerResponse{}, 0, err
	}
	defer resp.Body.Close()
	var out AnswerResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return out, resp.StatusCode, fmt.Errorf("portal: answer: status %d: %w", resp.StatusCode, err)
	}
	if out.Error != "" {
		return out, resp.StatusCode, fmt.Errorf("portal: answer refused (%d): %s", resp.StatusCode, out.Error)
	}
	return out, resp.StatusCode, nil
}
