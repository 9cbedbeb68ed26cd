package portal_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"twostep/challenge/otp"
	"twostep/cluster"
	"twostep/portal"
)

// TestSelfServiceAudit: every change a user makes to their own account
// in the portal is an audit event with the user as the actor ("portal
// alice") and the browser's address, and none shows a code or seed.
func TestSelfServiceAudit(t *testing.T) {
	w := newWorld(t, portal.Config{SignInsPerMinute: 1000, WebAuthenticator: true, Tokens: portal.TokensConfig{SelfAssign: true}})
	ctx := context.Background()
	tokenSeed := make([]byte, 20)
	rand.Read(tokenSeed)
	if err := w.accounts.ImportTokens(ctx, []cluster.Token{{Serial: "TK-1", Type: cluster.TOTP, Algorithm: "SHA1",
		Digits: 6, Period: 30 * time.Second, Secret: tokenSeed}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	rc, _, err := w.accounts.IssueRecovery(ctx, "alice", time.Hour, 9, "help desk", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{rc, string(tokenSeed)}
	b := w.browser()
	// deviceID is the id of alice's device named name.
	deviceID := func(t *testing.T, name string) string {
		t.Helper()
		acct, err := w.accounts.Load(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range acct.Devices {
			if d.Name == name {
				return d.ID
			}
		}
		t.Fatalf("alice has no device %q: %+v", name, acct.Devices)
		return ""
	}
	steps := []struct {
		name   string
		do     func(t *testing.T)
		action string
		detail []string
	}{
		{"sign in with a recovery passcode", func(t *testing.T) {
			b.signInPassword()
			if code, body := b.post("/signin/recovery", url.Values{"code": {rc}}); code != 200 || !strings.Contains(body, "Add a new device") {
				t.Fatalf("recovery: %d:\n%s", code, body)
			}
		}, cluster.ActionRecoveryUse, []string{"(issued by help desk); to sign in to the portal"}},
		{"add an authenticator app", func(t *testing.T) {
			_, body := b.get("/devices/add/totp")
			m := keyRE.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no key on the page:\n%s", body)
			}
			secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
			secrets = append(secrets, string(secret), m[1])
			totp := otp.TOTP{Secret: secret, Digits: 6, Period: 30 * time.Second}
			if code, body := b.post("/devices/add/totp", url.Values{"name": {"phone"}, "shown": {b.shown()}, "code": {totp.Code(totp.Step(time.Now()))}}); code != 200 || !strings.Contains(body, "Your new device is ready") {
				t.Fatalf("add: %d:\n%s", code, body)
			}
		}, cluster.ActionDeviceEnroll, []string{`totp device "phone" (id `, "; authenticator app, from 127.0.0.1"}},
		{"add a web authenticator", func(t *testing.T) {
			b.get("/devices/add/app")
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			pub, _ := key.PublicKey.Bytes()
			body := fmt.Sprintf(`{"name":"pixel","public_key":%q,"subscription":{"endpoint":"https://fcm.googleapis.com/fcm/send/secret-token","keys":{"p256dh":%q,"auth":%q}}}`,
				base64.RawURLEncoding.EncodeToString(pub), base64.RawURLEncoding.EncodeToString(pub), base64.RawURLEncoding.EncodeToString(make([]byte, 16)))
			req, _ := http.NewRequest(http.MethodPost, b.url("/devices/add/app"), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-CSRF-Token", b.csrfAttr())
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("add: %d", resp.StatusCode)
			}
			secrets = append(secrets, "secret-token")
		}, cluster.ActionDeviceEnroll, []string{`push device "pixel" (id `, "; web authenticator, from 127.0.0.1"}},
		{"choose the default push device", func(t *testing.T) {
			b.get("/devices")
			if code, _ := b.post("/devices/default", url.Values{"device": {deviceID(t, "pixel")}}); code != 200 {
				t.Fatalf("default: %d:\n%s", code, b.last)
			}
		}, cluster.ActionDeviceDefault, []string{`push device "pixel" (id `, "gets the automatic pushes; from 127.0.0.1"}},
		{"rename", func(t *testing.T) {
			b.get("/devices")
			if code, body := b.post("/devices/rename", url.Values{"device": {deviceID(t, "phone")}, "name": {"old phone"}}); code != 200 || !strings.Contains(body, "The device was renamed") {
				t.Fatalf("rename: %d:\n%s", code, body)
			}
		}, cluster.ActionDeviceRename, []string{`totp device "phone" (id `, `renamed "old phone"; from 127.0.0.1`}},
		{"remove, confirmed", func(t *testing.T) {
			b.get("/devices")
			b.post("/devices/remove", url.Values{"device": {deviceID(t, "old phone")}})
			code := b.bypass()
			secrets = append(secrets, code)
			if status, body := b.post("/signin/passcode", url.Values{"code": {code}}); status != 200 || !strings.Contains(body, "The device was removed") {
				t.Fatalf("remove: %d:\n%s", status, body)
			}
		}, cluster.ActionDeviceRemove, []string{`totp device "old phone" (id `, "; from 127.0.0.1"}},
		{"take a hardware token", func(t *testing.T) {
			b.get("/devices/add/token")
			totp := otp.TOTP{Secret: tokenSeed, Digits: 6, Period: 30 * time.Second}
			code := totp.Code(totp.Step(time.Now()))
			secrets = append(secrets, code)
			if status, body := b.post("/devices/add/token", url.Values{"serial": {"TK-1"}, "name": {"fob"}, "code": {code}}); status != 200 || !strings.Contains(body, "Your new device is ready") {
				t.Fatalf("token: %d:\n%s", status, body)
			}
		}, cluster.ActionTokenAssign, []string{`token TK-1 (totp) as device "fob" (id `, "; from 127.0.0.1"}},
	}
	audit := cluster.NewAudit(w.store, 0)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			events, err := audit.List(ctx, time.Time{}, "alice")
			if err != nil {
				t.Fatal(err)
			}
			var got *cluster.Event
			for i := range events {
				if events[i].Action == s.action {
					got = &events[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s event in %+v", s.action, events)
			}
			if got.Actor != "portal alice" || got.User != "alice" {
				t.Errorf("got %+v, want %s by portal alice", got, s.action)
			}
			for _, d := range s.detail {
				if !strings.Contains(got.Detail, d) {
					t.Errorf("detail %q lacks %q", got.Detail, d)
				}
			}
		})
	}
	t.Run("no event shows a secret, and a node's own events are the node's", func(t *testing.T) {
		events, _ := audit.List(ctx, time.Time{}, "")
		uses := 0
		for _, e := range events {
			for _, s := range secrets {
				if strings.Contains(fmt.Sprintf("%+v", e), s) {
					t.Errorf("event %+v shows the secret %q", e, s)
				}
			}
			if e.Action == cluster.ActionBypassUse {
				uses++
				if e.Actor != "test" {
					t.Errorf("got %+v, want the bypass use by the node", e)
				}
			}
		}
		if uses != 1 {
			t.Errorf("got %d bypass.use events, want 1 (the removal's confirmation)", uses)
		}
	})
}

// signInPassword signs in with alice's password, up to the second
// factor.
func (b *visitor) signInPassword() {
	b.t.Helper()
	b.get("/signin")
	if code, body := b.post("/signin", url.Values{"username": {"alice"}, "password": {"pw"}}); code != 200 {
		b.t.Fatalf("sign-in: %d:\n%s", code, body)
	}
}
