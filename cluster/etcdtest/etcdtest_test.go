package etcdtest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"twostep/cluster/etcdstore"
)

func TestStart(t *testing.T) {
	s := Start(t)
	store := s.Open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := store.List(ctx, "users/"); err != nil {
		t.Fatalf("List: %v", err)
	}
	if s.Pid() != 0 {
		t.Errorf("Pid of an embedded etcd: got %d, want 0", s.Pid())
	}
	s.Restart()
	if _, err := store.List(ctx, "users/"); err != nil {
		t.Fatalf("List after Restart: %v", err)
	}
}

// TestStartServerBinary runs Debian's etcd-server as a child process, as
// twostep-bench does.
func TestStartServerBinary(t *testing.T) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatal("etcd is not installed; run: sudo apt-get install -y etcd-server")
	}
	s, err := StartServer(t.Context(), Options{Dir: t.TempDir(), Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Pid() == 0 {
		t.Fatal("no pid for an etcd child process")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	store, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: s.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.List(ctx, "users/"); err != nil {
		t.Fatalf("List: %v", err)
	}
	s.Stop()
	if s.Pid() != 0 {
		t.Errorf("Pid after Stop: got %d, want 0", s.Pid())
	}
	s.Stop()
}
