package pushtest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"twostep/notify"
	"twostep/notify/pushtest"
)

// token builds a VAPID header by hand, so that each test can break one part.
type token struct {
	alg    string
	aud    string
	exp    time.Time
	sub    string
	signer *ecdsa.PrivateKey // signs the JWT
	k      *ecdsa.PrivateKey // named in k=
	noK    bool
	scheme string
	rawSig bool // false: ASN.1 instead of R||S
}

func (tk token) header(t *testing.T) string {
	t.Helper()
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": tk.alg})
	claims, _ := json.Marshal(map[string]any{"aud": tk.aud, "exp": tk.exp.Unix(), "sub": tk.sub})
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims)
	d := sha256.Sum256([]byte(input))
	var sig []byte
	if tk.rawSig {
		r, s, err := ecdsa.Sign(rand.Reader, tk.signer, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	} else {
		var err error
		if sig, err = ecdsa.SignASN1(rand.Reader, tk.signer, d[:]); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := tk.k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	h := tk.scheme + " t=" + input + "." + enc.EncodeToString(sig)
	if !tk.noK {
		h += ", k=" + enc.EncodeToString(pub)
	}
	return h
}

func TestServiceChecksVAPID(t *testing.T) {
	svc := pushtest.NewService(t)
	tg := svc.Subscribe()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := token{alg: "ES256", aud: svc.URL(), exp: time.Now().Add(time.Hour), sub: "mailto:ops@example.org",
		signer: key, k: key, scheme: "vapid", rawSig: true}
	tests := []struct {
		name       string
		edit       func(*token)
		wantStatus int
		wantReason string
	}{
		// A good token gets past VAPID and fails on the garbage body.
		{"good token", func(*token) {}, http.StatusBadRequest, "decrypt"},
		{"scheme", func(tk *token) { tk.scheme = "WebPush" }, http.StatusUnauthorized, "vapid"},
		{"no k", func(tk *token) { tk.noK = true }, http.StatusUnauthorized, "k= missing"},
		{"alg", func(tk *token) { tk.alg = "HS256" }, http.StatusUnauthorized, "alg"},
		{"ASN.1 signature", func(tk *token) { tk.rawSig = false }, http.StatusUnauthorized, "signature"},
		{"signed by another key", func(tk *token) { tk.signer = other }, http.StatusUnauthorized, "does not verify"},
		{"aud", func(tk *token) { tk.aud = "https://push.example.net" }, http.StatusUnauthorized, "aud"},
		{"aud with path", func(tk *token) { tk.aud = svc.URL() + "/push" }, http.StatusUnauthorized, "aud"},
		{"expired", func(tk *token) { tk.exp = time.Now().Add(-time.Second) }, http.StatusUnauthorized, "expired"},
		{"exp beyond 24h", func(tk *token) { tk.exp = time.Now().Add(25 * time.Hour) }, http.StatusUnauthorized, "24 hours"},
		{"sub", func(tk *token) { tk.sub = "ops@example.org" }, http.StatusUnauthorized, "sub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := good
			tc.edit(&tk)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.Endpoint, strings.NewReader(strings.Repeat("x", 200)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", tk.header(t))
			req.Header.Set("TTL", "30")
			req.Header.Set("Content-Encoding", "aes128gcm")
			resp, err := svc.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			r := svc.Rejected()
			if len(r) == 0 || !strings.Contains(r[len(r)-1], tc.wantReason) {
				t.Errorf("reasons %q, want the last to hold %q", r, tc.wantReason)
			}
		})
	}
	if len(svc.Pushes()) != 0 {
		t.Errorf("accepted %d pushes, want 0", len(svc.Pushes()))
	}
}

func TestServiceChecksHeaders(t *testing.T) {
	svc := pushtest.NewService(t)
	tg := svc.Subscribe()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tk := token{alg: "ES256", aud: svc.URL(), exp: time.Now().Add(time.Hour), sub: "https://example.org/",
		signer: key, k: key, scheme: "vapid", rawSig: true}
	tests := []struct {
		name, ttl, encoding string
		size                int
		wantStatus          int
	}{
		{"no TTL", "", "aes128gcm", 100, http.StatusBadRequest},
		{"negative TTL", "-1", "aes128gcm", 100, http.StatusBadRequest},
		{"aesgcm", "30", "aesgcm", 100, http.StatusBadRequest},
		{"over 4096 bytes", "30", "aes128gcm", 4097, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.Endpoint, bytes.NewReader(make([]byte, tc.size)))
			req.Header.Set("Authorization", tk.header(t))
			if tc.ttl != "" {
				req.Header.Set("TTL", tc.ttl)
			}
			req.Header.Set("Content-Encoding", tc.encoding)
			resp, err := svc.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

// TestServiceFaults checks Fail and Delay through notify.WebPush.
func TestServiceFaults(t *testing.T) {
	svc := pushtest.NewService(t)
	k, _ := notify.GenerateVAPID()
	wp := &notify.WebPush{VAPID: notify.VAPID{Private: k, Subject: "mailto:a@example.org"}, Client: svc.Client()}
	tg := svc.Subscribe()
	m := notify.Message{Tx: "t", User: "u", Device: "d", Service: "s", Expires: time.Now().Add(time.Minute)}

	svc.Fail(http.StatusServiceUnavailable, 2)
	for range 2 {
		if err := wp.Notify(t.Context(), tg, m); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("got %v, want a 503 error", err)
		}
	}
	if err := wp.Notify(t.Context(), tg, m); err != nil {
		t.Fatalf("after the failures: %v", err)
	}
	<-svc.Messages()

	svc.Delay(200 * time.Millisecond)
	start := time.Now()
	if err := wp.Notify(t.Context(), tg, m); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("answered after %v, want at least 200ms", d)
	}
	<-svc.Messages()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := wp.Notify(ctx, tg, m); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}
