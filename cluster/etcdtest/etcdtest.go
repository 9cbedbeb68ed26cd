// Package etcdtest runs a real etcd for tests: one member embedded in the
// test process, on free loopback ports, with its data in t.TempDir(). Other
// processes the test starts (twostepd, twostepctl, etcdctl) reach it at
// Endpoints. StartCluster starts a cluster of several members in the
// same way, for tests of members, leaders and a member that stops.
//
// StartServer is the same start-up without a test: it returns an error
// instead of failing one and leaves the stop to its caller. With
// Options.Binary it runs an etcd executable (Debian's etcd-server) as a
// child process instead, whose CPU and memory are its own: twostep-bench
// starts its external store that way.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"twostep/cluster/embedded"
	"twostep/cluster/etcdstore"
)

// startTimeout bounds one start of etcd; a single member is usually ready
// in about a second.
const startTimeout = 30 * time.Second

// Options says how StartServer runs etcd.
type Options struct {
	// Dir holds the data directory (and, with Binary, etcd.log). It must
	// exist; nothing is removed from it at Stop. Required.
	Dir string
	// Binary is an etcd executable to run as a child process, one
	// member on the same free ports, compacted every hour as twostepd's
	// embedded etcd is, logging warnings to Dir/etcd.log. Empty: etcd
	// runs embedded in this process (embedded.Start).
	Binary string
}

// Server is a running (or stopped) etcd, embedded or a child process.
type Server struct {
	t      testing.TB // nil for a server from StartServer
	cfg    embedded.Config
	binary string

	mu   sync.Mutex
	emb  *embedded.Server // nil while stopped (embedded)
	proc *exec.Cmd        // nil while stopped (Binary)
	done chan struct{}    // closed when proc has exited
}

// Start starts an embedded etcd and registers its Stop with t.Cleanup.
// It fails the test if etcd does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Stop)
	return s
}

// StartServer starts etcd on free loopback ports with its data under
// o.Dir and returns once it serves clients. The caller stops it with
// Stop; Restart is for tests and panics on a server started here.
func StartServer(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("etcdtest: Options.Dir is required")
	}
	var err error
	// A free port found by listening and closing can be taken by someone
	// else before etcd binds it; try again with fresh ports then.
	for i := range 3 {
		s := &Server{binary: o.Binary, cfg: embedded.Config{DataDir: fmt.Sprintf("%s/etcd%d", o.Dir, i)}}
		var client, peer string
		if client, err = freeAddr(); err == nil {
			peer, err = freeAddr()
		}
		if err != nil {
			return nil, fmt.Errorf("etcdtest: find a free port: %w", err)
		}
		s.cfg.ClientURL, s.cfg.PeerURL = "http://"+client, "http://"+peer
		if err = s.start(ctx); err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, fmt.Errorf("etcdtest: %w", err)
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (s *Server) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if s.binary != "" {
		return s.startProcess(ctx)
	}
	emb, err := embedded.Start(ctx, s.cfg)
	if err != nil {
		return err
	}
	s.emb = emb
	return nil
}

// startProcess runs s.binary and waits until /health answers 200.
func (s *Server) startProcess(ctx context.Context) error {
	logPath := filepath.Join(filepath.Dir(s.cfg.DataDir), "etcd.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.binary, "--name", "etcdtest", "--data-dir", s.cfg.DataDir,
		"--listen-client-urls", s.cfg.ClientURL, "--advertise-client-urls", s.cfg.ClientURL,
		"--listen-peer-urls", s.cfg.PeerURL, "--initial-advertise-peer-urls", s.cfg.PeerURL,
		"--initial-cluster", "etcdtest="+s.cfg.PeerURL,
		"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1h",
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that a ^C meant for the caller does not
	// reach it before the caller has stopped it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.binary, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	health := s.cfg.ClientURL + "/health"
	for {
		if healthy(ctx, health) {
			s.proc, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited at start:\n%s", s.binary, out)
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s not ready: %w", s.binary, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy reports whether etcd's /health answers 200.
func healthy(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Endpoints returns the client URLs, for etcdstore.Config.Endpoints or
// another process's configuration. They stay the same across Restart.
func (s *Server) Endpoints() []string {
	return []string{s.cfg.ClientURL}
}

// Pid returns the etcd child process's id (Options.Binary), or 0 when
// etcd runs in this process or is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Process.Pid
}

// Open connects a etcdstore.Store to the server under the default prefix, the
// one twostepd uses, and closes it in t.Cleanup.
func (s *Server) Open(t testing.TB) *etcdstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	store, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: s.Endpoints()})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// Stop stops etcd and waits until it has; the data stays for Restart.
// Clients then see the store unavailable. Stopping twice is harmless.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.emb != nil {
		s.emb.Close()
		s.emb = nil
	}
	if s.proc != nil {
		// SIGCONT too: a paused etcd must run to act on SIGTERM.
		_ = s.proc.Process.Signal(syscall.SIGTERM)
		_ = s.proc.Process.Signal(syscall.SIGCONT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.proc.Process.Kill()
			<-s.done
		}
		s.proc, s.done = nil, nil
	}
}

// Restart starts a stopped etcd again on the same ports and data, and
// returns once it serves clients; it stops a running one first.
func (s *Server) Restart() {
	if s.t == nil {
		panic("etcdtest: Restart of a server from StartServer")
	}
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if err := s.start(context.Background()); err != nil {
		s.t.Fatalf("etcdtest: restart: %v", err)
	}
}
