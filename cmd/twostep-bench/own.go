package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"twostep/cluster"
	"twostep/cluster/etcdstore"
	"twostep/cmd/twostep-bench/internal/peer"
	"twostep/directory"
)

// ownSpec says how a scenario's own twostepd is set up.
type ownSpec struct {
	Name      string   // the scenario, for progress lines and the key prefix
	Binary    string   // the twostepd to start
	Endpoints []string // external etcd; empty: twostepd's embedded one
	Users     int      // users named Prefix0.. with the password "bench-password"
	Prefix    string   // the users' name prefix
	Ports     int      // free ports the configuration needs (beyond metrics and the embedded etcd's two)
	// Config fills in what the scenario needs beyond the users file, the
	// cluster, metrics and the log level, on its Ports free ports.
	Config func(c *peer.Twostepd, ports []int)
	// Ready is the index in ports of the TCP listener that opens last.
	Ready    int
	Progress io.Writer
}

// ownDaemon is a twostepd that a scenario started for itself on
// loopback, with a users file, a key file and a key prefix of its own.
type ownDaemon struct {
	dir     string
	ports   []int // the spec's
	metrics string
	keys    *cluster.Keyring
	store   *etcdstore.Store // the daemon's etcd, under its prefix
	proc    *peer.Proc
}

// startOwnDaemon writes the files, starts twostepd, waits until it
// listens and connects to its etcd.
func startOwnDaemon(ctx context.Context, spec ownSpec) (_ *ownDaemon, err error) {
	d := &ownDaemon{}
	if d.dir, err = os.MkdirTemp("", "twostep-bench-"+spec.Name+"-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	fmt.Fprintf(spec.Progress, "%s: writing %d users\n", spec.Name, spec.Users)
	if err := d.writeFiles(spec); err != nil {
		return nil, err
	}
	conf, store, err := d.config(spec)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(spec.Progress, "%s: starting %s\n", spec.Name, spec.Binary)
	if d.proc, err = conf.Start(ctx, spec.Binary, d.dir, "twostep"); err != nil {
		return nil, fmt.Errorf("%w:\n%s", err, d.tail())
	}
	d.proc.Grace = 20 * time.Second // it drains what is in flight
	ready := addr(d.ports[spec.Ready])
	if err := d.proc.WaitReady(ctx, 60*time.Second, func() bool { return dialOK(ready) }); err != nil {
		return nil, fmt.Errorf("%w:\n%s", err, d.tail())
	}
	if d.store, err = etcdstore.Open(ctx, store); err != nil {
		return nil, err
	}
	return d, nil
}

// writeFiles writes the users file and the seed key.
func (d *ownDaemon) writeFiles(spec ownSpec) error {
	// A salted SHA-512, as FreeRADIUS's users are: the password check is
	// not what these scenarios measure.
	hash, err := directory.HashPassword(directory.SSHA512, "bench-password")
	if err != nil {
		return err
	}
	var users strings.Builder
	users.WriteString("users:\n")
	for i := range spec.Users {
		fmt.Fprintf(&users, "  %s%d:\n    password: %q\n", spec.Prefix, i, hash)
	}
	if err := os.WriteFile(filepath.Join(d.dir, "users.yaml"), []byte(users.String()), 0o600); err != nil {
		return err
	}
	keyFile, err := cluster.NewKeyFile(rand.Reader, time.Now())
	if err != nil {
		return err
	}
	if d.keys, err = cluster.ParseKeyring(keyFile); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, "seed.key"), keyFile, 0o600)
}

// config is the daemon's configuration on free ports, and how to reach
// its etcd: the external one or its embedded one, under a prefix of this
// run's own so that runs on one external etcd do not meet.
func (d *ownDaemon) config(spec ownSpec) (peer.Twostepd, etcdstore.Config, error) {
	var ports peer.Ports
	all := make([]int, spec.Ports+3) // the spec's, metrics, the embedded etcd's client and peer
	for i := range all {
		var err error
		if all[i], err = ports.Pick(); err != nil {
			return peer.Twostepd{}, etcdstore.Config{}, err
		}
	}
	d.ports, d.metrics = all[:spec.Ports], addr(all[spec.Ports])
	store := etcdstore.Config{Prefix: fmt.Sprintf("/twostep-%s-bench-%d/", spec.Name, time.Now().UnixNano())}
	c := peer.Twostepd{
		Log:       peer.TwostepdLog{Level: "warn"},
		Directory: peer.TwostepdDirectory{Backend: "file", File: &peer.TwostepdFile{Path: "users.yaml"}},
		Metrics:   &peer.TwostepdListen{Listen: d.metrics},
		Cluster:   peer.TwostepdCluster{Endpoints: spec.Endpoints, SeedKeys: "seed.key", Prefix: store.Prefix},
	}
	store.Endpoints = spec.Endpoints
	if len(spec.Endpoints) == 0 {
		client := "http://" + addr(all[spec.Ports+1])
		c.Cluster.Embedded = &peer.TwostepdEmbedded{DataDir: "etcd", ClientURL: client, PeerURL: "http://" + addr(all[spec.Ports+2])}
		store.Endpoints = []string{client}
	}
	spec.Config(&c, d.ports)
	return c, store, nil
}

// dialOK reports whether a TCP connection to addr opens.
func dialOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// tail is the start of the daemon's log, for errors.
func (d *ownDaemon) tail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "twostep.log"))
	return string(b[:min(len(b), 8192)])
}

func (d *ownDaemon) pid() int { return d.proc.Pid() }

// close stops the daemon and removes its files.
func (d *ownDaemon) close() {
	if d.store != nil {
		d.store.Close()
	}
	if d.proc != nil {
		d.proc.Stop()
	}
	os.RemoveAll(d.dir)
}
