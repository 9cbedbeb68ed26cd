package radiusd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// memoryMA is an MAMemory shared by the servers of a test, as etcd is by
// the nodes of a cluster. It counts reads and writes and can fail.
type memoryMA struct {
	mu     sync.Mutex
	seen   map[string]bool
	reads  int
	writes int
	down   bool
}

func newMemoryMA() *memoryMA { return &memoryMA{seen: map[string]bool{}} }

var errStoreDown = errors.New("cluster: store unavailable")

func (m *memoryMA) SeenMessageAuthenticator(_ context.Context, client string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return false, errStoreDown
	}
	m.reads++
	return m.seen[client], nil
}

func (m *memoryMA) RecordMessageAuthenticator(_ context.Context, client string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errStoreDown
	}
	m.writes++
	m.seen[client] = true
	return nil
}

func (m *memoryMA) set(client string, seen, down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen[client], m.down = seen, down
}

func (m *memoryMA) counts() (reads, writes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads, m.writes
}

// TestMessageAuthenticatorAuto follows one client with
// require_message_authenticator auto across two nodes sharing the
// memory: taken without the attribute until it has sent one, on any node,
// then held to it everywhere (a node that read "not seen" learns it within
// maRecheck); the store is asked at most every maRecheck until then, and
// never again after; a store that cannot answer leaves the last answer
// standing while it is fresh (TestMessageAuthenticatorAutoStoreDown).
func TestMessageAuthenticatorAuto(t *testing.T) {
	mem := newMemoryMA()
	clock := newFakeClock()
	node := func() *harness {
		return newHarness(t, nil, func(o *Options) {
			o.Clients = testClientsMA(t, MAAuto)
			o.MessageAuthenticators = mem
			o.Now = clock.Now
		})
	}
	a, b := node(), node()
	unsignedReq := func(t *testing.T) []byte {
		p, _ := NewAccessRequest(testSecret, "alice", testPassword)
		return unsigned(t, p)
	}
	signedReq := func(t *testing.T) []byte { return request(t, testSecret, "alice", testPassword, nil) }
	steps := []struct {
		name       string
		before     func()
		on         *harness
		build      func(t *testing.T) []byte
		cause      string // "" means answered
		reads      int    // the store's reads and writes after the step
		writes     int
		wantLogged string // in the node's log after the step
	}{
		{"unsigned, never seen: taken, the admin told", nil, a, unsignedReq, "", 1, 0, "client sends no Message-Authenticator"},
		{"unsigned again within maRecheck: no read", nil, a, unsignedReq, "", 1, 0, ""},
		{"seen on another node, within maRecheck: not known yet", func() { mem.set("nas1", true, false) }, a, unsignedReq, "", 1, 0, ""},
		{"Proxy-State without it: dropped all the same", nil, a, func(t *testing.T) []byte {
			p, _ := NewAccessRequest(testSecret, "alice", testPassword)
			p.Add(rfc2865.ProxyState_Type, radius.Attribute("proxy"))
			return unsigned(t, p)
		}, causeProxyStateNoMA, 1, 0, ""},
		{"store down after maRecheck: taken, said", func() { clock.Advance(maRecheck); mem.set("nas1", false, true) }, a, unsignedReq, "", 1, 0, "could not read from the cluster"},
		{"signed on node B: taken, recorded", func() { mem.set("nas1", false, false) }, b, signedReq, "", 1, 1, "client sent a Message-Authenticator"},
		{"signed again: no second write", nil, b, signedReq, "", 1, 1, ""},
		{"unsigned on node B: held in memory", nil, b, unsignedReq, causeMissingMA, 1, 1, `"setting":"auto"`},
		{"unsigned on node A after maRecheck: held, read from the store", func() { clock.Advance(maRecheck) }, a, unsignedReq, causeMissingMA, 2, 1, "has sent Message-Authenticator before"},
		{"unsigned on node A again: no read", func() { clock.Advance(time.Hour) }, a, unsignedReq, causeMissingMA, 2, 1, ""},
		{"signed on node A: no write", nil, a, signedReq, "", 2, 1, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before()
			}
			clock.Advance(2 * time.Second) // one log line a second per cause
			if st.cause != "" {
				st.on.expectDrop(st.build(t), st.cause)
			} else if resp := st.on.exchange(st.build(t), testSecret); resp.Code != radius.CodeAccessAccept {
				t.Fatalf("got %v, want Access-Accept", resp.Code)
			}
			if reads, writes := mem.counts(); reads != st.reads || writes != st.writes {
				t.Errorf("store: got %d reads %d writes, want %d and %d", reads, writes, st.reads, st.writes)
			}
			if st.wantLogged != "" {
				st.on.waitLog(st.wantLogged, 1)
			}
		})
	}
	if n := strings.Count(a.logs.String(), "client sends no Message-Authenticator"); n != 1 {
		t.Errorf("node A told the admin %d times that the client sends none, want once", n)
	}
}

// TestMissingMessageAuthenticatorLine: the drop line names the client
// option to change and the NAS versions known never to send the
// attribute, so the admin does not see only a cause.
func TestMissingMessageAuthenticatorLine(t *testing.T) {
	h := newHarness(t, nil, nil) // require_message_authenticator: true
	p, _ := NewAccessRequest(testSecret, "alice", testPassword)
	h.expectDrop(unsigned(t, p), causeMissingMA)
	logs := h.waitLog(`"cause":"missing_message_authenticator"`, 1)
	for _, want := range []string{`"client":"nas1"`, `"option":"require_message_authenticator"`, `"setting":"true"`,
		"radcli before 1.5", "pam_radius_auth before 3.0", "require_message_authenticator: auto"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the drop line lacks %q:\n%s", want, logs)
		}
	}
}

// TestMessageAuthenticatorAutoStoreDown: a node that has no recent answer
// from the cluster drops an auto client's request without the attribute
// while the store cannot be read (the NAS sends it again), reads again
// after maRetry, and takes it once the store says the client never sent
// one; a node whose "not seen" is younger than maStale keeps to it.
func TestMessageAuthenticatorAutoStoreDown(t *testing.T) {
	mem := newMemoryMA()
	clock := newFakeClock()
	h := newHarness(t, nil, func(o *Options) {
		o.Clients = testClientsMA(t, MAAuto)
		o.MessageAuthenticators = mem
		o.Now = clock.Now
	})
	unsignedReq := func() []byte {
		p, _ := NewAccessRequest(testSecret, "alice", testPassword)
		return unsigned(t, p)
	}
	mem.set("nas1", false, true)
	h.expectDrop(unsignedReq(), causeMAUnknown)
	h.waitLog(`"cause":"message_authenticator_unknown"`, 1)
	clock.Advance(maRetry)
	mem.set("nas1", false, false)
	if resp := h.exchange(unsignedReq(), testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("store back, never seen: got %v, want Access-Accept", resp.Code)
	}
	// Down again: the answer of a moment ago stands, until it is stale.
	mem.set("nas1", false, true)
	clock.Advance(maRecheck)
	if resp := h.exchange(unsignedReq(), testSecret); resp.Code != radius.CodeAccessAccept {
		t.Fatalf("store down, not seen a moment ago: got %v, want Access-Accept", resp.Code)
	}
	clock.Advance(maStale)
	h.expectDrop(unsignedReq(), causeMAUnknown)
}
