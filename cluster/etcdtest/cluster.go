package etcdtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is an etcd cluster of several members, all embedded in the
// test process, each on its own free loopback ports, for tests of what
// only a cluster has: members, a leader, a member that stops.
type Cluster struct {
	t       testing.TB
	clients []string

	mu      sync.Mutex
	members []*embed.Etcd // nil once stopped
}

// StartCluster starts an etcd cluster of n members and returns once each
// serves clients; t.Cleanup stops them. It fails the test if the
// cluster does not start.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	var err error
	for range 3 {
		var c *Cluster
		if c, err = startCluster(t, n); err == nil {
			t.Cleanup(c.stop)
			return c
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatalf("etcdtest: cluster of %d: %v", n, err)
	return nil
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	c := &Cluster{t: t}
	var peers []string
	cfgs := make([]*embed.Config, n)
	dir := t.TempDir()
	for i := range n {
		client, err := freeAddr()
		if err != nil {
			return nil, err
		}
		peer, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cu, pu := url.URL{Scheme: "http", Host: client}, url.URL{Scheme: "http", Host: peer}
		ec := embed.NewConfig()
		ec.Name = fmt.Sprintf("member%d", i)
		ec.Dir = fmt.Sprintf("%s/member%d", dir, i)
		ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		ec.InitialClusterToken = "etcdtest-" + dir
		// A stopped member makes the others complain at every heartbeat.
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfgs[i] = ec
		c.clients = append(c.clients, cu.String())
		peers = append(peers, ec.Name+"="+pu.String())
	}
	for _, ec := range cfgs {
		ec.InitialCluster = strings.Join(peers, ",")
		e, err := embed.StartEtcd(ec)
		if err != nil {
			// The members started wait for a quorum that will not form;
			// their Close would wait for it too: stop their servers first
			// (as cluster/embedded's abort does).
			for _, m := range c.members {
				m.Server.HardStop()
			}
			c.stop()
			return nil, err
		}
		c.members = append(c.members, e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for _, e := range c.members {
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			c.stop()
			return nil, err
		case <-ctx.Done():
			c.stop()
			return nil, fmt.Errorf("not ready after %v", startTimeout)
		}
	}
	return c, nil
}

// Endpoints returns every member's client URL, in member order.
func (c *Cluster) Endpoints() []string {
	return append([]string(nil), c.clients...)
}

// StopMember stops member i (0-based) and waits until it has; the
// others go on, with a quorum while a majority runs.
func (c *Cluster) StopMember(i int) {
	c.mu.Lock()
	e := c.members[i]
	c.members[i] = nil
	c.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

func (c *Cluster) stop() {
	var wg sync.WaitGroup
	for i := range c.members {
		wg.Go(func() { c.StopMember(i) })
	}
	wg.Wait()
}
