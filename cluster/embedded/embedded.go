// Package embedded runs the single-member etcd that twostepd starts
// in-process when the configuration names no external cluster (the
// cluster section's embedded keys): its settings and their checks (a URL
// off loopback needs TLS and client certificates), start-up bounded by
// start_timeout with a reason when etcd is not ready, and a stop that
// gives up after its grace period. The daemon reaches it as any other
// etcd, through etcdstore.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"twostep/confcheck"
)

// Defaults of Config.
const (
	// DefaultDataDir is where a configuration without endpoints keeps
	// the embedded etcd's data.
	DefaultDataDir = "/var/lib/twostep/etcd"
	// DefaultClientURL is on loopback: etcdctl and twostepctl on the same
	// host reach the embedded etcd, other hosts do not.
	DefaultClientURL = "http://127.0.0.1:2379"
	// DefaultPeerURL is on loopback too: a single member has no peers.
	DefaultPeerURL = "http://127.0.0.1:2380"
	DefaultName    = "twostep"
	// DefaultStartTimeout bounds the wait for a start: a single member
	// is ready in about a second, or never (a data directory restored
	// for another member waits for a leader for ever).
	DefaultStartTimeout = time.Minute
)

// stopTimeout bounds how long a start that failed waits for etcd to
// stop before it returns anyway.
const stopTimeout = 10 * time.Second

// Config configures the single-member etcd that twostepd runs
// in-process when no external cluster is configured. Whoever reaches its
// client URL can read and write every record (delete lockouts, remove
// devices), and whoever reaches its peer URL can speak to it as a
// member: a URL off loopback needs https:// and certificate
// authentication of the other side (Validate).
type Config struct {
	// DataDir holds etcd's write-ahead log and database. Required; etcd
	// wants it mode 0700 and creates it so.
	DataDir string `yaml:"data_dir" config:"path"`
	// ClientURL is where clients (this daemon, etcdctl, twostepctl)
	// connect. Default "http://127.0.0.1:2379"; https:// needs CertFile
	// and KeyFile; a host other than loopback needs https:// and
	// ClientCAFile.
	ClientURL string `yaml:"client_url"`
	// PeerURL is the raft peer URL; nobody connects to it while the
	// member is alone, but etcd needs one. Default "http://127.0.0.1:2380";
	// https:// needs PeerCertFile and PeerKeyFile; a host other than
	// loopback needs https:// and PeerCAFile.
	PeerURL string `yaml:"peer_url"`
	// Name is the member name recorded in the data directory. Default
	// "twostep". Not a key of the configuration file.
	Name string `yaml:"-"`
	// CertFile and KeyFile are the PEM server certificate and key for an
	// https:// ClientURL. Default none.
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
	// ClientCAFile, when set, makes etcd demand client certificates
	// signed by this PEM CA (etcd's --client-cert-auth). Default none.
	ClientCAFile string `yaml:"client_ca_file" config:"path"`
	// PeerCertFile and PeerKeyFile are the PEM certificate and key for an
	// https:// PeerURL (etcd's --peer-cert-file, --peer-key-file); etcd
	// also presents them when it connects to peers. Default none.
	PeerCertFile string `yaml:"peer_cert_file" config:"path"`
	PeerKeyFile  string `yaml:"peer_key_file" config:"path"`
	// PeerCAFile, when set, makes etcd demand peer certificates signed by
	// this PEM CA (etcd's --peer-client-cert-auth with
	// --peer-trusted-ca-file). Default none.
	PeerCAFile string `yaml:"peer_ca_file" config:"path"`
	// StartTimeout bounds Start's wait for etcd to serve, at
	// least 1s; default one minute (DefaultStartTimeout).
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Log takes etcd's own log lines, at the levels it enables (the
	// daemon's log, in its format). Default: errors only, as JSON lines
	// on standard error. Close silences it, since etcd reports its own
	// shutdown as errors.
	Log *zap.Logger `yaml:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.ClientURL == "" {
		c.ClientURL = DefaultClientURL
	}
	if c.PeerURL == "" {
		c.PeerURL = DefaultPeerURL
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	return c
}

// Validate reports every problem of c in one confcheck.Problems, each
// under its key as configuration files spell it ("data_dir",
// "client_url", "peer_ca_file"), so that a loader can point at the line
// of each. It reads no files; etcd does at start.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var ps confcheck.Problems
	add := ps.Add
	if c.DataDir == "" {
		add("data_dir", "required")
	}
	if c.StartTimeout < time.Second {
		add("start_timeout", "at least 1s; got %v", c.StartTimeout)
	}
	// Clients can do anything to the records; peers can speak to etcd as
	// members. Off loopback both must prove who they are.
	listeners := []struct {
		urlKey, certKey, keyKey, caKey string
		url, cert, key, ca             string
		who, risk                      string
	}{{
		urlKey: "client_url", certKey: "cert_file", keyKey: "key_file", caKey: "client_ca_file",
		url: c.ClientURL, cert: c.CertFile, key: c.KeyFile, ca: c.ClientCAFile,
		who: "client", risk: "edit the cluster's records",
	}, {
		urlKey: "peer_url", certKey: "peer_cert_file", keyKey: "peer_key_file", caKey: "peer_ca_file",
		url: c.PeerURL, cert: c.PeerCertFile, key: c.PeerKeyFile, ca: c.PeerCAFile,
		who: "peer", risk: "speak to etcd as a cluster member",
	}}
	for _, l := range listeners {
		u, err := parseListenURL(l.url)
		if err != nil {
			add(l.urlKey, "%v", err)
		}
		switch {
		case l.cert != "" && l.key == "":
			add(l.certKey, "give %s too, or neither", l.keyKey)
		case l.cert == "" && l.key != "":
			add(l.keyKey, "give %s too, or neither", l.certKey)
		}
		tlsFile := l.certKey
		if l.cert == "" {
			tlsFile = l.keyKey
		}
		tls := l.cert != "" || l.key != ""
		if l.ca != "" && !tls {
			add(l.caKey, "%s certificates need TLS: give %s and %s", l.who, l.certKey, l.keyKey)
		}
		if u == nil {
			continue
		}
		switch {
		case u.Scheme == "https" && !tls:
			add(l.urlKey, "https:// needs %s and %s", l.certKey, l.keyKey)
		case u.Scheme == "http" && tls:
			add(l.urlKey, "%q is http:// but %s is set; use https://", l.url, tlsFile)
		}
		if confcheck.Loopback(u.Hostname()) {
			continue
		}
		switch {
		case u.Scheme == "http":
			add(l.urlKey, "%q listens off loopback without TLS and %s certificates: anyone on the network could %s; use https:// with %s, %s and %s, or a loopback address",
				l.url, l.who, l.risk, l.certKey, l.keyKey, l.caKey)
		case l.ca == "":
			add(l.urlKey, "%q listens off loopback without %s certificates: anyone on the network could %s; give %s (the CA of the %ss' certificates), or use a loopback address",
				l.url, l.who, l.risk, l.caKey, l.who)
		}
	}
	// etcd advertises ClientURL and twostepd connects to it: over TLS its
	// host is what the certificate is checked for, and 0.0.0.0 or :: is
	// no name a certificate holds (the client refuses it at start).
	if u, err := parseListenURL(c.ClientURL); err == nil && u.Scheme == "https" && everyAddress(u) {
		add("client_url", "%q: clients, twostepd too, connect to this URL and check cert_file for its host, and no certificate names every address: give this host's address or a name in cert_file", c.ClientURL)
	}
	return ps.Err()
}

// everyAddress reports whether u's host is empty, 0.0.0.0 or ::, which
// etcd listens on as every address of the host.
func everyAddress(u *url.URL) bool {
	a, err := netip.ParseAddr(u.Hostname())
	return u.Hostname() == "" || (err == nil && a.IsUnspecified())
}

// parseListenURL accepts scheme://host:port with an http or https scheme
// and a fixed port: etcd advertises the URL as given, so port 0 would
// advertise a port nobody listens on.
func parseListenURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's error repeats the URL, which may hold a password.
		return nil, errors.New("not a URL (want scheme://host:port)")
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: a listen URL takes no credentials", u.Redacted())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Port() == "" || u.Port() == "0" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%q: want scheme://host:port with a fixed port", s)
	}
	return u, nil
}

// Server is a running single-member etcd inside this process.
type Server struct {
	etcd      *embed.Etcd
	level     zap.AtomicLevel // of etcd's logger
	endpoints []string
	closeOnce sync.Once
}

// Start starts etcd on cfg and returns once it serves clients, or
// fails when etcd does or ctx ends first. etcd logs errors only, as JSON
// lines on stderr, so the daemon's own log stays its own.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: embedded etcd: %w", err)
	}
	cfg = cfg.WithDefaults()
	cu, _ := url.Parse(cfg.ClientURL)
	pu, _ := url.Parse(cfg.PeerURL)

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*cu}
	ec.AdvertiseClientUrls = []url.URL{*cu}
	ec.ListenPeerUrls = []url.URL{*pu}
	ec.AdvertisePeerUrls = []url.URL{*pu}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	lg := cfg.Log
	if lg == nil {
		// Errors only, without stack traces.
		var err error
		lg, err = zap.Config{
			Level:             zap.NewAtomicLevelAt(zapcore.ErrorLevel),
			Encoding:          "json",
			EncoderConfig:     zap.NewProductionEncoderConfig(),
			OutputPaths:       []string{"stderr"},
			ErrorOutputPaths:  []string{"stderr"},
			DisableStacktrace: true,
		}.Build()
		if err != nil {
			return nil, fmt.Errorf("cluster: embedded etcd logger: %w", err)
		}
	}
	// Close raises level first, since etcd reports its own shutdown as
	// errors.
	level := zap.NewAtomicLevelAt(zapcore.DebugLevel)
	lg = lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return gatedCore{c, level} }))
	lg = lg.Named("etcd")
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	// Keep an hour of history, then compact: nothing here reads old
	// revisions, and an etcd never compacted fills its quota and turns
	// read-only.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	if cfg.CertFile != "" {
		ec.ClientTLSInfo = transport.TLSInfo{
			CertFile:       cfg.CertFile,
			KeyFile:        cfg.KeyFile,
			TrustedCAFile:  cfg.ClientCAFile,
			ClientCertAuth: cfg.ClientCAFile != "",
		}
	}
	if cfg.PeerCertFile != "" {
		ec.PeerTLSInfo = transport.TLSInfo{
			CertFile:       cfg.PeerCertFile,
			KeyFile:        cfg.PeerKeyFile,
			TrustedCAFile:  cfg.PeerCAFile,
			ClientCertAuth: cfg.PeerCAFile != "",
		}
	}

	if err := dataDirFree(cfg.DataDir); err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	em := &Server{etcd: e, level: level, endpoints: []string{cfg.ClientURL}}
	deadline := time.NewTimer(cfg.StartTimeout)
	defer deadline.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return em, nil
	case err := <-e.Err():
		em.abort()
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: %w", cfg.DataDir, err)
	case <-ctx.Done():
		em.abort()
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: not ready: %w", cfg.DataDir, ctx.Err())
	case <-deadline.C:
		why := em.notReady(cfg)
		em.abort()
		return nil, fmt.Errorf("cluster: embedded etcd in %s not ready after %v: %w", cfg.DataDir, cfg.StartTimeout, why)
	}
}

// ErrNotMember is Start's error for a data directory whose member
// is not one the directory itself records: a snapshot restored without
// the member's name and peer URL (etcdutl snapshot restore's --name,
// --initial-cluster and --initial-advertise-peer-urls) holds a member of
// its own, which finds no cluster to join and waits for a leader for
// ever.
var ErrNotMember = errors.New("the data directory's member is not one of the members it records")

// notReady says why a start that timed out is not ready, from what the
// member knows of its cluster.
func (em *Server) notReady(cfg Config) error {
	s := em.etcd.Server
	id := s.MemberID()
	var known []string
	for _, m := range s.Cluster().Members() {
		known = append(known, fmt.Sprintf("%s (id %s) at %s", m.Name, m.ID, strings.Join(m.PeerURLs, ", ")))
	}
	restore := fmt.Sprintf("restore the snapshot again, into a new directory, with this member's name and peer URL, and put that directory in data_dir's place: "+
		"`etcdutl snapshot restore SNAPSHOT --data-dir NEWDIR --name %[1]s --initial-cluster %[1]s=%[2]s --initial-advertise-peer-urls %[2]s` "+
		"(etcdctl snapshot restore, with the same flags, before etcd 3.5)", cfg.Name, cfg.PeerURL)
	local := s.Cluster().Member(id)
	switch {
	case local == nil:
		return fmt.Errorf("%w: it is %s, the directory records %s. Was a snapshot restored without --name, --initial-cluster and --initial-advertise-peer-urls? Then %s",
			ErrNotMember, id, orNone(known), restore)
	case !slices.Contains(local.PeerURLs, cfg.PeerURL):
		return fmt.Errorf("%w: it is %s with the peer URL %s, but peer_url is %s. To move the member, %s",
			ErrNotMember, local.Name, strings.Join(local.PeerURLs, ", "), cfg.PeerURL, restore)
	case len(known) > 1:
		return fmt.Errorf("no leader: the data directory records %d members (%s), and a member alone cannot reach their quorum. To run it alone, %s",
			len(known), strings.Join(known, "; "), restore)
	}
	return fmt.Errorf("no leader elected yet (a very slow disk?); if etcd only needs longer, raise cluster.embedded.start_timeout")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no member"
	}
	return strings.Join(s, "; ")
}

// abort stops an etcd that never became ready, waiting at most
// stopTimeout. etcd's own Close waits for the client servers, which start
// only once etcd is ready: the server is stopped first, which ends that
// wait.
func (em *Server) abort() {
	em.level.SetLevel(zapcore.FatalLevel)
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		em.etcd.Server.HardStop()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return // the process is about to end
	}
	em.Stop(ctx)
}

// gatedCore passes etcd's entries on while level enables them.
type gatedCore struct {
	zapcore.Core
	level zap.AtomicLevel
}

func (g gatedCore) Enabled(l zapcore.Level) bool { return g.level.Enabled(l) && g.Core.Enabled(l) }

func (g gatedCore) With(fields []zapcore.Field) zapcore.Core {
	return gatedCore{g.Core.With(fields), g.level}
}

func (g gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !g.level.Enabled(e.Level) {
		return ce
	}
	return g.Core.Check(e, ce)
}

// Endpoints returns the client URLs to put in etcdstore.Config.Endpoints.
func (em *Server) Endpoints() []string {
	return append([]string(nil), em.endpoints...)
}

// Stop is Close bounded by ctx: it returns ctx's error when etcd has not
// stopped by the time ctx ends, and etcd goes on stopping meanwhile (a
// daemon that stops exits then).
func (em *Server) Stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		em.Close()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: embedded etcd still stopping: %w", ctx.Err())
	}
}

// Close stops etcd and returns once it has stopped; the data stays in
// DataDir. Later calls do nothing.
func (em *Server) Close() {
	em.closeOnce.Do(func() {
		// "server closed", "use of closed network connection": etcd
		// logs its own shutdown as errors; they are not.
		em.level.SetLevel(zapcore.FatalLevel)
		em.etcd.Close()
	})
}
