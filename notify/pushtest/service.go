package pushtest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/notify"
)

// Push is one message a Service accepted, with what its request said.
type Push struct {
	Message  notify.Message
	Endpoint string    // the subscription's endpoint
	TTL      int       // the TTL header
	Urgency  string    // the Urgency header
	Topic    string    // the Topic header
	Key      string    // the VAPID public key (k=), base64url
	Subject  string    // the VAPID token's sub claim
	Expires  time.Time // the VAPID token's exp claim
}

// Service is a Web Push push service (RFC 8030) on an httptest TLS server.
// For each POST to a subscription it checks the VAPID Authorization (RFC
// 8292), decrypts the body as the subscribed browser would (RFC 8291),
// decodes the notify.Message and answers 201. A request it refuses gets
// 400, 401 or 413, and its reason is kept for Rejected.
type Service struct {
	receiver
	srv *httptest.Server

	mu     sync.Mutex
	subs   map[string]*subscription // by endpoint path
	pushes []Push
}

type subscription struct {
	key  *ecdh.PrivateKey
	auth []byte
	gone bool
}

// NewService starts a push service, closed when t's test ends.
func NewService(t testing.TB) *Service {
	s := &Service{
		receiver: newReceiver(),
		subs:     make(map[string]*subscription),
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.quit)
		s.srv.Close()
	})
	return s
}

// URL returns the service's origin, https://127.0.0.1:port: the audience a
// VAPID token for it must name.
func (s *Service) URL() string { return s.srv.URL }

// CertificatePEM returns the service's TLS certificate, for a process
// that must trust it (SSL_CERT_FILE).
func (s *Service) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Client returns an HTTP client that trusts the service's certificate.
func (s *Service) Client() *http.Client { return s.srv.Client() }

// Subscribe makes a subscription as a browser's pushManager.subscribe does:
// a new P-256 key pair and auth secret, kept by the service to decrypt, and
// an endpoint on it that holds a random token.
func (s *Service) Subscribe() notify.Target {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	token := make([]byte, 16)
	rand.Read(auth)
	rand.Read(token)
	path := "/push/" + base64.RawURLEncoding.EncodeToString(token)
	s.mu.Lock()
	s.subs[path] = &subscription{key: key, auth: auth}
	s.mu.Unlock()
	return notify.Target{
		Kind:     notify.KindWebPush,
		Endpoint: s.srv.URL + path,
		P256DH:   key.PublicKey().Bytes(),
		Auth:     auth,
	}
}

// Pushes returns every push the service accepted so far, in order.
func (s *Service) Pushes() []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Push(nil), s.pushes...)
}

// Gone makes the service answer 410 Gone to pushes to t from now on, as a
// push service does once the browser unsubscribed.
func (s *Service) Gone(t notify.Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for path, sub := range s.subs {
		if s.srv.URL+path == t.Endpoint {
			sub.gone = true
		}
	}
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		s.reject(w, http.StatusMethodNotAllowed, "method %s", r.Method)
		return
	}
	s.mu.Lock()
	sub := s.subs[r.URL.Path]
	gone := sub != nil && sub.gone
	s.mu.Unlock()
	switch {
	case sub == nil:
		s.reject(w, http.StatusNotFound, "no such subscription")
		return
	case gone:
		http.Error(w, "subscription expired", http.StatusGone)
		return
	}
	claims, key, err := checkVAPID(r.Header.Get("Authorization"), s.srv.URL, time.Now())
	if err != nil {
		s.reject(w, http.StatusUnauthorized, "vapid: %v", err)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		s.reject(w, http.StatusBadRequest, "TTL header %q is not a non-negative integer", r.Header.Get("TTL"))
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		s.reject(w, http.StatusBadRequest, "Content-Encoding %q, want aes128gcm", ce)
		return
	}
	// RFC 8030 Section 7.2: a push service must take 4096 bytes, and may
	// refuse more.
	body, err := io.ReadAll(io.LimitReader(r.Body, 4097))
	if err != nil {
		s.reject(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	if len(body) > 4096 {
		s.reject(w, http.StatusRequestEntityTooLarge, "body over 4096 bytes")
		return
	}
	plain, err := Decrypt(body, sub.key, sub.auth)
	if err != nil {
		s.reject(w, http.StatusBadRequest, "decrypt: %v", err)
		return
	}
	m, err := decodeMessage(plain)
	if err != nil {
		s.reject(w, http.StatusBadRequest, "message: %v", err)
		return
	}
	s.mu.Lock()
	n := len(s.pushes) + 1
	s.pushes = append(s.pushes, Push{
		Message:  m,
		Endpoint: s.srv.URL + r.URL.Path,
		TTL:      ttl,
		Urgency:  r.Header.Get("Urgency"),
		Topic:    r.Header.Get("Topic"),
		Key:      key,
		Subject:  claims.Sub,
		Expires:  time.Unix(claims.Exp, 0),
	})
	s.mu.Unlock()
	if !s.deliver(r, m) {
		return
	}
	w.Header().Set("Location", s.srv.URL+"/message/"+strconv.Itoa(n))
	w.WriteHeader(http.StatusCreated)
}

// decodeMessage decodes a notify.Message strictly, so that a field the
// sender renamed shows up.
func decodeMessage(b []byte) (notify.Message, error) {
	var m notify.Message
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return notify.Message{}, err
	}
	if d.More() {
		return notify.Message{}, errors.New("data after the JSON object")
	}
	return m, nil
}

type vapidClaims struct {
	Aud string `json:"aud"`
	Exp int64  `json:"exp"`
	Sub string `json:"sub"`
}

// checkVAPID checks an Authorization header per RFC 8292: "vapid t=JWT,
// k=key", the JWT signed with ES256 by k, for audience origin, expiring
// after now and within 24 hours, with a mailto: or https: subject. It
// returns the claims and k.
func checkVAPID(header, origin string, now time.Time) (vapidClaims, string, error) {
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return vapidClaims{}, "", errors.New(`authorization is not of the "vapid" scheme`)
	}
	var token, k string
	for p := range strings.SplitSeq(params, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(name) {
		case "t":
			token = value
		case "k":
			k = value
		}
	}
	if token == "" || k == "" {
		return vapidClaims{}, "", errors.New("t= or k= missing")
	}
	b64 := base64.RawURLEncoding
	kb, err := b64.DecodeString(k)
	if err != nil {
		return vapidClaims{}, "", fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		return vapidClaims{}, "", fmt.Errorf("k: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return vapidClaims{}, "", errors.New("t is not a JWS compact serialization")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := decodeJSONPart(parts[0], &hdr); err != nil {
		return vapidClaims{}, "", fmt.Errorf("JWT header: %w", err)
	}
	if hdr.Alg != "ES256" {
		return vapidClaims{}, "", fmt.Errorf("JWT alg %q, want ES256", hdr.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return vapidClaims{}, "", errors.New("JWT signature is not 64 bytes of base64url")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		return vapidClaims{}, "", errors.New("JWT signature does not verify with k")
	}
	var c vapidClaims
	if err := decodeJSONPart(parts[1], &c); err != nil {
		return vapidClaims{}, "", fmt.Errorf("JWT claims: %w", err)
	}
	switch exp := time.Unix(c.Exp, 0); {
	case c.Aud != origin:
		return vapidClaims{}, "", fmt.Errorf("aud %q, want %q", c.Aud, origin)
	case !exp.After(now):
		return vapidClaims{}, "", fmt.Errorf("token expired at %v", exp)
	case exp.After(now.Add(24 * time.Hour)):
		return vapidClaims{}, "", fmt.Errorf("exp %v is more than 24 hours away", exp)
	case !strings.HasPrefix(c.Sub, "mailto:") && !strings.HasPrefix(c.Sub, "https:"):
		return vapidClaims{}, "", fmt.Errorf("sub %q has neither the mailto: nor the https: scheme", c.Sub)
	}
	return c, k, nil
}

func decodeJSONPart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
