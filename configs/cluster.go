package configs

import (
	"os"
	"strings"
	"unicode"

	"twostep/cluster"
	"twostep/cluster/embedded"
	"twostep/cluster/etcdstore"
	"twostep/confcheck"
)

// Cluster is the cluster section of the configuration file: where the
// shared state lives, an external etcd cluster or the embedded
// single-member one, and the key file that seals OTP seeds. Each node's
// daemon and twostepctl read it. The section is assembled here from its
// owners' parts, since no one package owns all of them: etcdstore.Open
// takes Etcd, embedded.Start takes Embedded, cluster.LoadKeyring takes
// SeedKeys, and the cross-part rules (endpoints or embedded; the embedded
// etcd's client CA needs a client certificate) are checked by Validate.
type Cluster struct {
	// Etcd reaches the store; its keys (endpoints, prefix, the TLS files,
	// username and password, timeouts) are the section's own. Without
	// endpoints it reaches the embedded etcd (WithDefaults).
	Etcd etcdstore.Config `yaml:",inline"`
	// Embedded is the single-member etcd twostepd runs when Etcd has no
	// endpoints (the default); its data in embedded.DefaultDataDir unless set.
	Embedded embedded.Config `yaml:"embedded"`
	// SeedKeys is the key file sealing OTP seeds (AES-256-GCM), kept
	// outside etcd (cluster.LoadKeyring); default /etc/twostep/seed.key
	// (cluster.DefaultSeedKeys). Create it with `twostepctl keygen -out FILE`.
	SeedKeys string `yaml:"seed_keys" config:"path"`
	// Issuer names the service in authenticator apps (otpauth URIs, the
	// portal); default "twostep" (cluster.DefaultIssuer).
	Issuer string `yaml:"issuer"`
	// Node names this node in the cluster: its record in the node
	// registry (nodes/<name>, the label of the other nodes' clock offset
	// to it), the answers to pushes it records, its audit events. Unique
	// per node; default the host name (NodeName).
	Node string `yaml:"node_name"`
}

// NodeName is the name of this node: Node, or the host name when Node is
// empty ("twostepd" if the system does not say).
func (c Cluster) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "twostepd"
}

// maxNodeName bounds node_name: it is a key and a metric label.
const maxNodeName = 64

// DefaultCluster is the section a configuration file that leaves every key
// out stands for, for a loader to decode the file's keys over: in the
// file, embedded.start_timeout left out is embedded.DefaultStartTimeout, and 0s is
// refused (Validate), where embedded.Config's zero value is the default.
func DefaultCluster() Cluster {
	return Cluster{Embedded: embedded.Config{StartTimeout: embedded.DefaultStartTimeout}}
}

// UsesEmbedded reports whether twostepd runs its own etcd (after
// WithDefaults).
func (c Cluster) UsesEmbedded() bool { return c.Embedded.DataDir != "" }

// WithDefaults returns c with its defaults applied: without endpoints,
// the embedded etcd's, and its client URL as the only endpoint.
func (c Cluster) WithDefaults() Cluster {
	if c.SeedKeys == "" {
		c.SeedKeys = cluster.DefaultSeedKeys
	}
	if c.Issuer == "" {
		c.Issuer = cluster.DefaultIssuer
	}
	if len(c.Etcd.Endpoints) > 0 {
		c.Embedded = embedded.Config{}
	} else {
		if c.Embedded.DataDir == "" {
			c.Embedded.DataDir = embedded.DefaultDataDir
		}
		c.Embedded = c.Embedded.WithDefaults()
		c.Embedded.Name = "" // not the file's; embedded.Start fills it in
		c.Etcd.Endpoints = []string{c.Embedded.ClientURL}
	}
	c.Etcd = c.Etcd.WithDefaults()
	return c
}

// Validate reports every problem of c, a section decoded over
// DefaultConfig, in one confcheck.Problems.
func (c Cluster) Validate() error {
	var ps confcheck.Problems
	if len(c.Etcd.Endpoints) > 0 {
		if c.Embedded != DefaultCluster().Embedded {
			ps.Add("embedded", "give either endpoints (an external etcd) or embedded, not both")
		}
	} else {
		if c.Embedded.StartTimeout == 0 {
			// Written as 0s: embedded.Config would take it for the default.
			ps.Add("embedded.start_timeout", "at least 1s; got 0s")
		}
		d := c.WithDefaults()
		ps.Include("embedded", d.Embedded.Validate())
		// twostepd and twostepctl reach the embedded etcd as any other,
		// with the section's TLS files: without a certificate their own
		// etcd would refuse them at start.
		if c.Embedded.ClientCAFile != "" && c.Etcd.CertFile == "" && c.Etcd.KeyFile == "" {
			ps.Add("embedded.client_ca_file", "the embedded etcd will demand a client certificate from twostepd and twostepctl too: give cluster.cert_file and cluster.key_file, signed by this CA")
		}
		c.Etcd.Endpoints = d.Etcd.Endpoints
	}
	ps.Include("", c.Etcd.Validate())
	if n := c.Node; n != "" && (len(n) > maxNodeName || strings.ContainsFunc(n, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '/' })) {
		ps.Add("node_name", "%q: at most %d printable characters, without spaces or /", n, maxNodeName)
	}
	return ps.Err()
}
