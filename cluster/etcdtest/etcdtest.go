// Package etcdtest runs a real etcd for tests: one member embedded in the
// test process, on free loopback ports, with its data in t.TempDir(). Other
// processes the test starts (twostepd, twostepctl, etcdctl) reach it at
// Endpoints.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"twostep/cluster"
)

// startTimeout bounds one start of etcd; a single member is usually ready
// in about a second.
const startTimeout = 30 * time.Second

// Server is a running (or stopped) embedded etcd owned by one test.
type Server struct {
	t   testing.TB
	cfg cluster.EmbeddedConfig

	mu  sync.Mutex
	emb *cluster.Embedded // nil while stopped
}

// Start starts etcd and registers its Stop with t.Cleanup. It fails the
// test if etcd does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	var err error
	// A free port found by listening and closing can be taken by someone
	// else before etcd binds it; try again with fresh ports then.
	for i := range 3 {
		s := &Server{t: t, cfg: cluster.EmbeddedConfig{
			DataDir:   fmt.Sprintf("%s/etcd%d", dir, i),
			ClientURL: "http://" + freeAddr(t),
			PeerURL:   "http://" + freeAddr(t),
		}}
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("etcdtest: %v", err)
	return nil
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	emb, err := cluster.StartEmbedded(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.emb = emb
	return nil
}

// Endpoints returns the client URLs, for cluster.EtcdConfig.Endpoints or
// another process's configuration. They stay the same across Restart.
func (s *Server) Endpoints() []string {
	return []string{s.cfg.ClientURL}
}

// Open connects a cluster.Etcd to the server under the default prefix, the
// one twostepd uses, and closes it in t.Cleanup.
func (s *Server) Open(t testing.TB) *cluster.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	store, err := cluster.OpenEtcd(ctx, cluster.EtcdConfig{Endpoints: s.Endpoints()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// DataDir returns etcd's data directory.
func (s *Server) DataDir() string {
	return s.cfg.DataDir
}

// Stop stops etcd and waits until it has; the data stays for Restart.
// Clients then see the store unavailable. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emb != nil {
		s.emb.Close()
		s.emb = nil
	}
}

// Restart starts a stopped etcd again on the same ports and data, and
// returns once it serves clients; it stops a running one first.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emb != nil {
		s.emb.Close()
		s.emb = nil
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("etcdtest: restart: %v", err)
	}
}
