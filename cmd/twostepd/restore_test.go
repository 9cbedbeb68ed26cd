package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"twostep/cluster/etcdtest"
)

// etcdctl runs Debian's etcdctl (package etcd-client) with args.
func etcdctl(t *testing.T, args ...string) {
	t.Helper()
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Fatal("etcdctl not found: run `make peers` as root, or `apt-get install -y etcd-client`")
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestEmbeddedEtcdPlainRestore: a snapshot restored with a plain
// `etcdctl snapshot restore`, without the member's name and peer URL,
// makes a data directory whose member finds no cluster and waits for a
// leader for ever. twostepd must fail its start within
// cluster.embedded.start_timeout, saying what is wrong and how to restore,
// and a SIGTERM during that wait must end it.
func TestEmbeddedEtcdPlainRestore(t *testing.T) {
	src := etcdtest.Start(t)
	dir := t.TempDir()
	snap := filepath.Join(dir, "twostep.db")
	etcdctl(t, "--endpoints", src.Endpoints()[0], "put", "/twostep/probe", "x")
	etcdctl(t, "--endpoints", src.Endpoints()[0], "snapshot", "save", snap)
	etcdctl(t, "snapshot", "restore", snap, "--data-dir", filepath.Join(dir, "etcd"))
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), demoUsers(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, defaultClients())
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	peer := regexp.MustCompile(`peer_url: "(http://127\.0\.0\.1:\d+)"`).FindSubmatch(b)
	if peer == nil {
		t.Fatalf("no peer_url in\n%s", b)
	}
	withTimeout := func(d string) {
		t.Helper()
		c := bytes.Replace(b, []byte("embedded: {data_dir: etcd,"), []byte("embedded: {data_dir: etcd, start_timeout: "+d+","), 1)
		if err := os.WriteFile(cfg, c, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the start fails within start_timeout", func(t *testing.T) {
		withTimeout("3s")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		began := time.Now()
		out, err := exec.CommandContext(ctx, daemonBin, "-config", cfg).CombinedOutput()
		took := time.Since(began)
		if ctx.Err() != nil {
			t.Fatalf("twostepd still starting after 60s:\n%s", out)
		}
		if err == nil {
			t.Fatalf("twostepd started on a restored directory without its member:\n%s", out)
		}
		if took > 3*time.Second+10*time.Second {
			t.Errorf("the start failed after %v, want about 3s", took)
		}
		jsonLines(t, string(out))
		for _, want := range []string{
			"embedded etcd in " + filepath.Join(dir, "etcd") + " not ready after 3s",
			"the data directory's member is not one of the members it records",
			"Was a snapshot restored without --name, --initial-cluster and --initial-advertise-peer-urls?",
			"`etcdutl snapshot restore SNAPSHOT --data-dir NEWDIR --name twostep --initial-cluster twostep=" + string(peer[1]) + " --initial-advertise-peer-urls " + string(peer[1]) + "`",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the log lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("SIGTERM during the wait", func(t *testing.T) {
		withTimeout("10m")
		cmd := exec.Command(daemonBin, "-config", cfg)
		var out lockedBuffer
		cmd.Stderr = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "starting the embedded etcd") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // etcd is up, waiting for a leader
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("exit after SIGTERM: %v, want 0\n%s", err, out.String())
			}
		case <-time.After(shutdownGrace):
			cmd.Process.Kill()
			<-exited
			t.Fatalf("still running %v after SIGTERM:\n%s", shutdownGrace, out.String())
		}
		if !strings.Contains(out.String(), "twostepd stopped before it was ready") {
			t.Errorf("the log does not say the start was stopped:\n%s", out.String())
		}
		jsonLines(t, out.String())
	})
}
