package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"twostep/cluster"
	"twostep/directory"
)

// ownSpec says how a scenario's own twostepd is set up.
type ownSpec struct {
	Name      string   // the scenario, for progress lines and the key prefix
	Binary    string   // the twostepd to start
	Endpoints []string // external etcd; empty: twostepd's embedded one
	Users     int      // users named UserPrefix0.. with the password "bench-password"
	Prefix    string   // the users' name prefix
	Ports     int      // free ports the config needs (beyond the embedded etcd's two)
	// Config returns the configuration beyond the users file and the
	// seed key: ports are Ports free ports, cluster the cluster section's
	// lines (indented two spaces).
	Config func(ports []int, cluster string) string
	// Ready is the index in ports of the TCP listener that opens last.
	Ready    int
	Progress io.Writer
}

// ownDaemon is a twostepd that a scenario started for itself on
// loopback, with a users file, a key file and a key prefix of its own.
type ownDaemon struct {
	dir    string
	ports  []int
	keys   *cluster.Keyring
	store  *cluster.Etcd // the daemon's etcd, under its prefix
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder
}

// startOwnDaemon writes the files, starts twostepd, waits until it
// listens and connects to its etcd.
func startOwnDaemon(ctx context.Context, spec ownSpec) (_ *ownDaemon, err error) {
	d := &ownDaemon{exited: make(chan struct{})}
	if d.dir, err = os.MkdirTemp("", "twostep-bench-"+spec.Name+"-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	fmt.Fprintf(spec.Progress, "%s: writing %d users\n", spec.Name, spec.Users)
	// A salted SHA-512, as FreeRADIUS's users are: the password check is
	// not what these scenarios measure.
	hash, err := directory.HashPassword(directory.SSHA512, "bench-password")
	if err != nil {
		return nil, err
	}
	var users strings.Builder
	users.WriteString("users:\n")
	for i := range spec.Users {
		fmt.Fprintf(&users, "  %s%d:\n    password: %q\n", spec.Prefix, i, hash)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "users.yaml"), []byte(users.String()), 0o600); err != nil {
		return nil, err
	}
	keyFile, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "seed.key"), keyFile, 0o600); err != nil {
		return nil, err
	}
	if d.keys, err = cluster.ParseKeyring(keyFile); err != nil {
		return nil, err
	}
	ports, err := freePorts(spec.Ports + 2)
	if err != nil {
		return nil, err
	}
	d.ports = ports[2:]
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	endpoints := []string{clientURL}
	clusterLines := fmt.Sprintf(`  embedded: {data_dir: etcd, client_url: "%s", peer_url: "http://127.0.0.1:%d"}`, clientURL, ports[1])
	if len(spec.Endpoints) > 0 {
		endpoints = spec.Endpoints
		clusterLines = "  endpoints: [" + strings.Join(spec.Endpoints, ", ") + "]"
	}
	// A prefix of this run's own, so that runs on one external etcd do
	// not meet.
	prefix := fmt.Sprintf("/twostep-%s-bench-%d/", spec.Name, time.Now().UnixNano())
	clusterLines += "\n  seed_keys: seed.key\n  prefix: " + prefix
	conf := "directory: {backend: file, file: {path: users.yaml}}\n" + spec.Config(d.ports, clusterLines)
	cfgPath := filepath.Join(d.dir, "twostep.yaml")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	fmt.Fprintf(spec.Progress, "%s: starting %s\n", spec.Name, spec.Binary)
	d.cmd = exec.CommandContext(ctx, spec.Binary, "-config", cfgPath)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		d.cmd = nil
		return nil, err
	}
	go func() {
		defer close(d.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			if d.log.Len() < 8192 {
				d.log.WriteString(sc.Text() + "\n")
			}
			d.mu.Unlock()
		}
	}()
	ready := fmt.Sprintf("127.0.0.1:%d", d.ports[spec.Ready])
	for up := time.Now().Add(60 * time.Second); ; {
		c, err := net.DialTimeout("tcp", ready, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("twostepd exited at start:\n%s", d.tail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(up) {
			return nil, fmt.Errorf("twostepd not ready after 60s:\n%s", d.tail())
		}
	}
	if d.store, err = cluster.OpenEtcd(ctx, cluster.EtcdConfig{Endpoints: endpoints, Prefix: prefix}); err != nil {
		return nil, err
	}
	return d, nil
}

// tail is the start of the daemon's log, for errors.
func (d *ownDaemon) tail() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

func (d *ownDaemon) pid() int { return d.cmd.Process.Pid }

// close stops the daemon (SIGINT, then SIGKILL after 20 s) and removes
// its files.
func (d *ownDaemon) close() {
	if d.store != nil {
		d.store.Close()
	}
	if d.cmd != nil {
		d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
		}
	}
	os.RemoveAll(d.dir)
}
