package etcdtest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/internal/leakcheck"
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

// TestStartCluster: three members serve one cluster; with one stopped the
// other two still answer, and nothing of the stopped one runs on.
func TestStartCluster(t *testing.T) {
	leakcheck.Check(t)
	c := StartCluster(t, 3)
	eps := c.Endpoints()
	if len(eps) != 3 || eps[0] == eps[1] || eps[1] == eps[2] {
		t.Fatalf("endpoints: %v", eps)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	first, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: eps[:1]})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Commit(ctx, cluster.Txn{Then: []cluster.Op{cluster.Put("k", []byte("v"))}}); err != nil {
		t.Fatal(err)
	}
	c.StopMember(2)
	second, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: eps[1:2]})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if e, err := second.Get(ctx, "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("another member, one stopped: got %q, %v", e.Value, err)
	}
}
