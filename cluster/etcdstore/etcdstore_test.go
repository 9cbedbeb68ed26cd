package etcdstore_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"twostep/cluster"
	"twostep/cluster/embedded"
	"twostep/cluster/etcdstore"
	"twostep/cluster/etcdtest"
	"twostep/cluster/storetest"
	"twostep/internal/leakcheck"
)

// uniquePrefix gives each store its own key range, so the subtests share
// one server, and runs against an external etcd never see each other.
func uniquePrefix(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	return "/twostep-test/" + name + "-" + hex.EncodeToString(b) + "/"
}

// openEtcd connects to endpoints under a unique prefix; cleanup deletes
// the prefix and closes the client.
func openEtcd(t *testing.T, endpoints []string) *etcdstore.Store {
	t.Helper()
	return openEtcdConfig(t, etcdstore.Config{Endpoints: endpoints, Prefix: uniquePrefix(t)})
}

func openEtcdConfig(t *testing.T, cfg etcdstore.Config) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deletePrefix(t, cfg.Endpoints, cfg.Prefix)
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// deletePrefix removes what a test left, which matters on an external
// etcd; the Store has no range delete, so it takes a raw client.
func deletePrefix(t *testing.T, endpoints []string, prefix string) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		t.Errorf("cleanup of %s: %v", prefix, err)
	}
}

func TestConformance(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	t.Run("embedded", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) cluster.Store { return openEtcd(t, srv.Endpoints()) })
	})
	if eps := os.Getenv("TWOSTEP_TEST_ETCD"); eps != "" {
		t.Run("external", func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) cluster.Store { return openEtcd(t, strings.Split(eps, ",")) })
		})
	}
}

func TestPrefixIsolation(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	ctx := t.Context()
	a, b := openEtcd(t, srv.Endpoints()), openEtcd(t, srv.Endpoints())
	if _, err := a.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("users/alice", []byte("a"))}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "users/alice"); !errors.Is(err, cluster.ErrNotFound) {
		t.Errorf("b.Get of a's key: got %v, want ErrNotFound", err)
	}
	if es, err := b.List(ctx, ""); err != nil || len(es) != 0 {
		t.Errorf("b.List(\"\"): got %d entries, %v; want none", len(es), err)
	}
	// A Compare in b on the same relative key sees b's (absent) key.
	if _, err := b.Commit(ctx, cluster.Txn{If: []cluster.Compare{{Key: "users/alice"}}, Then: []cluster.Op{cluster.Put("users/alice", []byte("b"))}}); err != nil {
		t.Errorf("create in b: %v", err)
	}
	if e, err := a.Get(ctx, "users/alice"); err != nil || string(e.Value) != "a" {
		t.Errorf("a.Get: got %q, %v; want %q", e.Value, err, "a")
	}
}

func TestOpenUnreachable(t *testing.T) {
	leakcheck.Check(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // now nobody listens there

	start := time.Now()
	_, err = etcdstore.Open(t.Context(), etcdstore.Config{
		Endpoints:   []string{"http://" + addr},
		DialTimeout: time.Second,
		Username:    "root",
		Password:    "hunter2-not-in-errors",
	})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	t.Logf("error: %v", err)
	if elapsed > 3*time.Second {
		t.Errorf("took %v, want about the 1s dial timeout", elapsed)
	}
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("got %v, want ErrUnavailable", err)
	}
	for _, want := range []string{addr, "connection refused", "check"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  etcdstore.Config
		want []string // substrings of the error; none means valid
	}{
		{"minimal", etcdstore.Config{Endpoints: []string{"http://127.0.0.1:2379"}}, nil},
		{"bare host:port", etcdstore.Config{Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379"}}, nil},
		{"full tls", etcdstore.Config{
			Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379"}, Prefix: "/radius/",
			CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", Username: "u", Password: "p",
			DialTimeout: time.Second, RequestTimeout: time.Second,
		}, nil},
		{"empty", etcdstore.Config{}, []string{"endpoints: at least one"}},
		{"many problems", etcdstore.Config{
			Endpoints:      []string{"http://a:2379", "https://b:2379", "ftp://c:21", "nocolon"},
			Prefix:         "twostep",
			CertFile:       "c.pem",
			Username:       "u",
			RequestTimeout: -time.Second,
		}, []string{
			`"http://a:2379" is http:// but TLS files are set`,
			"both http:// and https://",
			`"ftp://c:21": scheme must be http or https`,
			`"nocolon" is neither a URL nor host:port`,
			`prefix: "twostep" must start and end with "/"`,
			"cert_file: give key_file too, or neither",
			"username: give password too, or neither",
			"request_timeout: must not be negative",
		}},
		{"prefix without trailing slash", etcdstore.Config{Endpoints: []string{"a:1"}, Prefix: "/twostep"}, []string{"prefix"}},
		{"path in endpoint", etcdstore.Config{Endpoints: []string{"http://a:1/v3"}}, []string{"nothing more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got valid, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// TestUnavailable stops etcd under an open client: requests fail
// with ErrUnavailable within their timeouts, and work again after a
// restart on the same ports and data.
func TestUnavailable(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	s, err := etcdstore.Open(t.Context(), etcdstore.Config{Endpoints: srv.Endpoints(), RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rev, err := s.Commit(t.Context(), cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("before"))}})
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Get while etcd is down: got %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get while etcd is down took %v, want about the 300ms context", d)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Ping while etcd is down: got %v, want ErrUnavailable", err)
	}
	// The outcome of this Commit cannot be learnt either: unavailable,
	// never a success.
	_, err = s.Commit(t.Context(), cluster.Txn{If: []cluster.Compare{{Key: "k", ModRevision: rev}}, Then: []cluster.Op{cluster.Put("k", []byte("during"))}})
	if !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Commit while etcd is down: got %v, want ErrUnavailable", err)
	}
	t.Logf("Commit error: %v", err)

	srv.Restart()
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var e cluster.Entry
	for {
		if e, err = s.Get(ctx, "k"); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || string(e.Value) != "before" {
		t.Fatalf("Get after restart: got %q, %v; want %q", e.Value, err, "before")
	}
}

func TestTLS(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	pki := etcdtest.NewPKI(t, dir)
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	peerURL := "https://" + port()
	emb, err := embedded.Start(t.Context(), embedded.Config{
		DataDir:      filepath.Join(dir, "etcd"),
		ClientURL:    "https://" + port(),
		PeerURL:      peerURL,
		CertFile:     pki.ServerCert,
		KeyFile:      pki.ServerKey,
		ClientCAFile: pki.CACert,
		PeerCertFile: pki.PeerCert,
		PeerKeyFile:  pki.PeerKey,
		PeerCAFile:   pki.CACert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()

	t.Run("client certificate", func(t *testing.T) {
		s, err := etcdstore.Open(t.Context(), etcdstore.Config{
			Endpoints: emb.Endpoints(), CAFile: pki.CACert, CertFile: pki.ClientCert, KeyFile: pki.ClientKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Commit(t.Context(), cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v"))}}); err != nil {
			t.Fatal(err)
		}
		if e, err := s.Get(t.Context(), "k"); err != nil || string(e.Value) != "v" {
			t.Fatalf("Get: got %q, %v", e.Value, err)
		}
	})
	failures := []struct {
		name string
		cfg  etcdstore.Config
		want string
	}{
		{"no client certificate", etcdstore.Config{CAFile: pki.CACert}, "certificate"},
		{"unknown CA", etcdstore.Config{CAFile: pki.ClientCert, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, "x509"},
		{"missing CA file", etcdstore.Config{CAFile: filepath.Join(dir, "nope.pem")}, "ca_file"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Endpoints = emb.Endpoints()
			cfg.DialTimeout = time.Second
			s, err := etcdstore.Open(t.Context(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}

	// The peer listener demands a certificate of the cluster's CA too
	// (etcd's --peer-client-cert-auth).
	peers := []struct {
		name       string
		cert, key  string
		wantRefuse bool
	}{
		{"peer certificate", pki.PeerCert, pki.PeerKey, false},
		{"no peer certificate", "", "", true},
	}
	for _, tt := range peers {
		t.Run(tt.name, func(t *testing.T) {
			roots := x509.NewCertPool()
			b, err := os.ReadFile(pki.CACert)
			if err != nil || !roots.AppendCertsFromPEM(b) {
				t.Fatalf("read CA: %v", err)
			}
			tc := &tls.Config{RootCAs: roots}
			if tt.cert != "" {
				c, err := tls.LoadX509KeyPair(tt.cert, tt.key)
				if err != nil {
					t.Fatal(err)
				}
				tc.Certificates = []tls.Certificate{c}
			}
			tr := &http.Transport{TLSClientConfig: tc}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(peerURL + "/version")
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tt.wantRefuse && err == nil:
				t.Fatalf("GET %s/version without a certificate: %s, want refused", peerURL, resp.Status)
			case tt.wantRefuse:
				t.Logf("error: %v", err)
			case err != nil || resp.StatusCode != http.StatusOK:
				t.Fatalf("GET %s/version: %v, %v; want 200 OK", peerURL, resp, err)
			}
		})
	}
}

// holdProxy forwards TCP to an etcd and can hold back its replies for a
// while: the Txn reaches etcd and is applied, but the client times out
// before it hears so, which is the unknown outcome Commit must resolve.
type holdProxy struct {
	t        *testing.T
	l        net.Listener
	upstream string

	mu        sync.Mutex
	holdUntil time.Time
	conns     []net.Conn
	wg        sync.WaitGroup
}

func startHoldProxy(t *testing.T, upstream string) *holdProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{t: t, l: l, upstream: upstream}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) endpoint() string { return "http://" + p.l.Addr().String() }

// hold delays every reply byte arriving in the next d until d has passed.
func (p *holdProxy) hold(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdUntil = time.Now().Add(d)
}

func (p *holdProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(u, c); u.Close() })
		p.wg.Go(func() { p.replies(c, u); c.Close() })
	}
}

func (p *holdProxy) replies(c, u net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		until := p.holdUntil
		p.mu.Unlock()
		time.Sleep(time.Until(until))
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (p *holdProxy) close() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestCommitUnknownOutcome loses the reply of applied Txns and checks
// that Commit learns the truth by reading back.
func TestCommitUnknownOutcome(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	prefix := uniquePrefix(t)
	direct := openEtcdConfig(t, etcdstore.Config{Endpoints: srv.Endpoints(), Prefix: prefix})
	proxy := startHoldProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	const timeout = time.Second
	s, err := etcdstore.Open(t.Context(), etcdstore.Config{
		Endpoints: []string{proxy.endpoint()}, Prefix: prefix, RequestTimeout: timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	t.Run("applied", func(t *testing.T) {
		proxy.hold(timeout + timeout/2) // past the Txn's timeout, within the read-back's
		start := time.Now()
		rev, err := s.Commit(ctx, cluster.Txn{
			If:   []cluster.Compare{{Key: "k1"}},
			Then: []cluster.Op{cluster.Put("k1", []byte("v1-nonce")), cluster.Put("k2", []byte("v2-nonce"))},
		})
		if d := time.Since(start); d < timeout {
			t.Fatalf("Commit returned after %v, before the reply hold ended: the test did not lose the reply", d)
		}
		if err != nil {
			t.Fatalf("Commit: %v; want success resolved by reading back", err)
		}
		e, err := direct.Get(ctx, "k1")
		if err != nil || e.ModRevision != rev || string(e.Value) != "v1-nonce" {
			t.Errorf("k1: got %q at %d, %v; want %q at %d", e.Value, e.ModRevision, err, "v1-nonce", rev)
		}
	})
	t.Run("overwritten meanwhile", func(t *testing.T) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		events := direct.Watch(wctx, "k3")
		if ev := <-events; !ev.Created {
			t.Fatalf("watch: got %+v, want Created first", ev)
		}
		proxy.hold(timeout + timeout/2)
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() {
			// Another node overwrites k3 once the Txn has applied (its
			// reply is held), before the read back after the timeout.
			for ev := range events {
				if string(ev.Entry.Value) == "mine" {
					break
				}
			}
			if _, err := direct.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("k3", []byte("other-node"))}}); err != nil {
				t.Error(err)
			}
			cancel()
		})
		_, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("k3", []byte("mine"))}})
		if !errors.Is(err, cluster.ErrConflict) {
			t.Fatalf("Commit: got %v, want ErrConflict", err)
		}
		t.Logf("error: %v", err)
	})
}

// TestAuth logs in to an etcd with RBAC: the right password works,
// a wrong one or a prefix outside the user's role fails with an error
// that says so and never shows the password.
func TestAuth(t *testing.T) {
	leakcheck.Check(t)
	srv := etcdtest.Start(t)
	ctx := t.Context()
	admin, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	steps := []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "twostep"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "twostep", "/twostep/", clientv3.GetPrefixRangeEnd("/twostep/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "twostepd", "right-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "twostepd", "twostep"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}

	cfg := etcdstore.Config{Endpoints: srv.Endpoints(), Username: "twostepd", Password: "right-pw", DialTimeout: 10 * time.Second} // etcd checks passwords with bcrypt: slow on a loaded machine
	s, err := etcdstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Commit(ctx, cluster.Txn{Then: []cluster.Op{{Key: "k", Value: []byte("v"), TTL: time.Minute}}}); err != nil {
		t.Fatalf("Commit as twostepd: %v", err)
	}

	failures := []struct {
		name     string
		password string
		prefix   string
		want     string
	}{
		{"wrong password", "wrong-pw-1234", "", "authentication failed"},
		{"prefix outside the role", "right-pw", "/elsewhere/", "permission denied"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			cfg.Password, cfg.Prefix = tt.password, tt.prefix
			s, err := etcdstore.Open(ctx, cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q shows the password", err)
			}
			if errors.Is(err, cluster.ErrUnavailable) {
				t.Errorf("error %q is ErrUnavailable; it is a refusal", err)
			}
		})
	}
}
