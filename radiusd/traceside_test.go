package radiusd

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
	"twostep/cluster"
	"twostep/cluster/memstore"
	"twostep/trace"
)

// vsa is a Vendor-Specific attribute of vendor, type typ, holding v.
func vsa(vendor uint32, typ byte, v string) *radius.AVP {
	b := binary.BigEndian.AppendUint32(nil, vendor)
	b = append(b, typ, byte(len(v)+2))
	return &radius.AVP{Type: 26, Attribute: append(b, v...)}
}

// TestTraceAttributesMasked: every attribute that could help to log in
// is masked, by type, by vendor, by a dictionary's encrypt flag or by its
// name, and so is anything no dictionary names; the others are shown by
// their dictionary names and types.
func TestTraceAttributesMasked(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dictionary.acme")
	os.WriteFile(file, []byte(`VENDOR	Microsoft	311
BEGIN-VENDOR	Microsoft
ATTRIBUTE	MS-CHAP2-Response	25	octets
ATTRIBUTE	MS-Primary-DNS-Server	28	ipaddr
END-VENDOR	Microsoft
VENDOR	Acme	9999
BEGIN-VENDOR	Acme
ATTRIBUTE	Acme-Group	1	string
ATTRIBUTE	Acme-Session-Key	2	octets
ATTRIBUTE	Acme-Hidden	3	string	encrypt=2
END-VENDOR	Acme
`), 0o600)
	dict, err := NewDictionary(file)
	if err != nil {
		t.Fatal(err)
	}
	p := radius.New(radius.CodeAccessRequest, testSecret)
	secrets := map[radius.Type]string{
		2:   "pass-word,123456", // User-Password, a code after the separator
		3:   "chap-password-xx",
		24:  "state-secret-xxx",
		33:  "proxy-state-xxxx",
		60:  "chap-challenge-x",
		69:  "tunnel-password1",
		70:  "arap-password-xx",
		74:  "arap-security-dt",
		79:  "eap-message-xxxx",
		80:  "message-authentx",
		84:  "arap-response-xx",
		200: "unknown-attr-xxx",
	}
	for typ, v := range secrets {
		p.Add(typ, radius.Attribute(v))
	}
	rfc2865.UserName_SetString(p, "alice")
	rfc2865.NASIdentifier_SetString(p, "vpn-gw-1")
	rfc2865.NASIPAddress_Set(p, []byte{192, 0, 2, 10})
	rfc2865.ServiceType_Set(p, rfc2865.ServiceType_Value_FramedUser)
	rfc2865.Class_Set(p, []byte("staff"))
	p.Attributes = append(p.Attributes,
		vsa(311, 25, "ms-chap2-response"),
		vsa(311, 28, "\xc0\x00\x02\x35"),
		vsa(9999, 1, "staff"),
		vsa(9999, 2, "acme-session-key"),
		vsa(9999, 3, "acme-hidden-xxxx"),
		vsa(4242, 1, "unknown-vendor-x"),
		vsa(9, 1, "shell:priv-lvl=15"), // Cisco-AVPair, built in
	)
	got := map[string]string{}
	for _, a := range dict.traceAttributes(p) {
		got[a.Name] = a.Value
		for _, s := range secrets {
			if strings.Contains(a.Value, s) || strings.Contains(a.Value, "123456") {
				t.Errorf("%s = %s shows a secret", a.Name, a.Value)
			}
		}
		for _, s := range []string{"ms-chap2-response", "acme-session-key", "acme-hidden", "unknown-vendor"} {
			if strings.Contains(a.Value, s) {
				t.Errorf("%s = %s shows a vendor secret", a.Name, a.Value)
			}
		}
	}
	for _, name := range []string{"User-Password", "CHAP-Password", "State", "Proxy-State", "CHAP-Challenge", "Tunnel-Password", "ARAP-Password",
		"ARAP-Security-Data", "EAP-Message", "Message-Authenticator", "ARAP-Challenge-Response", "Attr-200",
		"MS-CHAP2-Response", "MS-Primary-DNS-Server", "Acme-Session-Key", "Acme-Hidden", "Vendor-4242-Attr-1"} {
		if v, ok := got[name]; !ok || !strings.HasPrefix(v, "<masked, 16 bytes>") && !strings.HasPrefix(v, "<masked, ") {
			t.Errorf("%s = %q, want it masked", name, v)
		}
	}
	if v := got["User-Password"]; v != "<masked, 16 bytes>" {
		t.Errorf("User-Password = %q, want its length alone", v)
	}
	shown := map[string]string{
		"User-Name":      `"alice"`,
		"NAS-Identifier": `"vpn-gw-1"`,
		"NAS-IP-Address": "192.0.2.10",
		"Service-Type":   "Framed-User",
		"Class":          `0x7374616666 ("staff")`,
		"Acme-Group":     `"staff"`,
		"Cisco-AVPair":   `"shell:priv-lvl=15"`,
	}
	for name, want := range shown {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}

// TestTraceThroughServer: a traced request's record holds its packet and
// its answer, secrets masked, the code appended to the password nowhere.
func TestTraceThroughServer(t *testing.T) {
	mem := memstore.New()
	tr := trace.New(trace.Options{Store: mem, Node: "node-1"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	req := &cluster.TraceRequest{User: "alice", Since: time.Now(), Until: time.Now().Add(time.Minute)}
	if err := cluster.NewTraces(mem).Ask(ctx, req); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.Traced() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("alice never traced")
		}
		time.Sleep(time.Millisecond)
	}
	auth := newFakeAuth(func(_ context.Context, req *challenge.Request) (challenge.Decision, error) {
		if req.Trace == nil {
			return challenge.Decision{}, nil
		}
		req.Trace.Step("policy", "require", "a step of the engine")
		return challenge.Decision{Outcome: challenge.Ask, Reason: "passcode_requested", Message: "Passcode:", State: []byte("state-secret-xxx"), User: "alice"}, nil
	})
	h := newHarness(t, auth, func(o *Options) { o.Trace = tr })
	resp := h.exchange(request(t, testSecret, "ALICE", testPassword+",654321", func(p *radius.Packet) {
		rfc2865.ProxyState_Add(p, []byte("proxy-state-xxxx"))
	}), testSecret)
	if resp.Code != radius.CodeAccessChallenge {
		t.Fatalf("got %v, want an Access-Challenge (a traced request gets the engine's tracer)", resp.Code)
	}
	var entries []cluster.Entry
	for len(entries) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no trace record")
		}
		time.Sleep(time.Millisecond)
		entries, _ = mem.List(context.Background(), cluster.TraceEventsPrefix("alice"))
	}
	raw := string(entries[0].Value)
	for _, s := range []string{testPassword, "654321", "state-secret", "proxy-state", string(testSecret)} {
		if strings.Contains(raw, s) {
			t.Errorf("the record shows %q: %s", s, raw)
		}
	}
	rec, err := cluster.DecodeTraceRecord(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	if rec.TypedUser != "ALICE" || len(rec.Events) != 3 || rec.Events[0].Kind != "request" || rec.Events[1].Kind != "policy" || rec.Events[2].Kind != "reply" {
		t.Fatalf("record %+v: want ALICE's request, the engine's step and the reply", rec)
	}
	if d := rec.Events[0].Detail; !strings.Contains(d, "client nas1") {
		t.Errorf("request detail %q, want the client", d)
	}
	if d := rec.Events[2].Detail; !strings.HasPrefix(d, "Access-Challenge (passcode_requested") {
		t.Errorf("reply detail %q", d)
	}
	reply := map[string]string{}
	for _, a := range rec.Events[2].Attributes {
		reply[a.Name] = a.Value
	}
	if reply["Reply-Message"] != `"Passcode:"` || reply["State"] != "<masked, 16 bytes>" || reply["Proxy-State"] != "<masked, 16 bytes>" {
		t.Errorf("reply attributes %v: want the prompt shown (its digits masked: it may show verified push's number), State and Proxy-State masked", reply)
	}
}

// waitingAuth answers like a login that waits for a push: a step,
// Release, and the answer later from another goroutine.
type waitingAuth struct{ answer chan struct{} }

func (a waitingAuth) Authenticate(_ context.Context, req *challenge.Request, w challenge.Responder) {
	req.Trace.Step("push", "waiting", "for phone's answer")
	w.Release()
	go func() {
		<-a.answer
		req.Trace.Step("push", "approved", "phone answered")
		w.Respond(challenge.Decision{Outcome: challenge.Accept, Reason: "push_approved", User: "alice"}, nil)
	}()
}

// TestTraceOfAWait: a request that waits hands over what came before the
// wait at once, and the rest with its answer.
func TestTraceOfAWait(t *testing.T) {
	mem := memstore.New()
	tr := trace.New(trace.Options{Store: mem, Node: "node-1"})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	if err := cluster.NewTraces(mem).Ask(ctx, &cluster.TraceRequest{User: "alice", Since: time.Now(), Until: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	records := func(n int) []cluster.TraceRecord {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			entries, _ := mem.List(context.Background(), cluster.TraceEventsPrefix("alice"))
			if len(entries) >= n {
				var recs []cluster.TraceRecord
				for _, e := range entries {
					r, err := cluster.DecodeTraceRecord(e)
					if err != nil {
						t.Fatal(err)
					}
					recs = append(recs, r)
				}
				return recs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d trace records, want %d", len(entries), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.Traced() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("alice never traced")
		}
		time.Sleep(time.Millisecond)
	}
	auth := waitingAuth{answer: make(chan struct{})}
	h := newHarness(t, nil, func(o *Options) { o.Trace, o.Authenticator = tr, auth })
	c := h.dial()
	req := request(t, testSecret, "alice", testPassword+",push", nil)
	h.send(c, req)
	first := records(1)
	if len(first) != 1 || first[0].Final || len(first[0].Events) != 2 || first[0].Events[1].Result != "waiting" {
		t.Fatalf("before the answer: %+v, want the request and the wait, not final", first)
	}
	close(auth.answer)
	if resp := h.answer(c, req, testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v, want Access-Accept", resp.Code)
	}
	recs := records(2)
	if last := recs[1]; !last.Final || last.Part != 1 || len(last.Events) != 2 || last.Events[0].Result != "approved" || last.Events[1].Kind != "reply" {
		t.Errorf("with the answer: %+v, want part 1, final: the approval and the reply", last)
	}
}

// TestTraceMasksVerifiedNumber: a challenge's prompt keeps its words in a
// trace, and loses its digits (verified push's number).
func TestTraceMasksVerifiedNumber(t *testing.T) {
	if got, want := maskDigits(`"Enter 42 on your phone (Pixel 7) and approve"`), `"Enter ## on your phone (Pixel #) and approve"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
