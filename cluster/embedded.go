package cluster

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults of EmbeddedConfig.
const (
	// DefaultClientURL is on loopback: etcdctl and twostepctl on the same
	// host reach the embedded etcd, other hosts do not.
	DefaultClientURL = "http://127.0.0.1:2379"
	// DefaultPeerURL is on loopback too: a single member has no peers.
	DefaultPeerURL      = "http://127.0.0.1:2380"
	DefaultEmbeddedName = "twostep"
)

// EmbeddedConfig configures the single-member etcd that twostepd runs
// in-process when no external cluster is configured.
type EmbeddedConfig struct {
	// DataDir holds etcd's write-ahead log and database. Required; etcd
	// wants it mode 0700 and creates it so.
	DataDir string
	// ClientURL is where clients (this daemon, etcdctl, twostepctl)
	// connect. Default "http://127.0.0.1:2379"; https:// needs CertFile
	// and KeyFile.
	ClientURL string
	// PeerURL is the raft peer URL; nobody connects to it while the
	// member is alone, but etcd needs one. Default "http://127.0.0.1:2380".
	PeerURL string
	// Name is the member name recorded in the data directory. Default
	// "twostep".
	Name string
	// CertFile and KeyFile are the PEM server certificate and key for an
	// https:// ClientURL. Default none.
	CertFile string
	KeyFile  string
	// ClientCAFile, when set, makes etcd demand client certificates
	// signed by this PEM CA (etcd's --client-cert-auth). Default none.
	ClientCAFile string
}

// withDefaults returns c with every zero field set to its default.
func (c EmbeddedConfig) withDefaults() EmbeddedConfig {
	if c.ClientURL == "" {
		c.ClientURL = DefaultClientURL
	}
	if c.PeerURL == "" {
		c.PeerURL = DefaultPeerURL
	}
	if c.Name == "" {
		c.Name = DefaultEmbeddedName
	}
	return c
}

// Validate reports every problem of c in one error.
func (c EmbeddedConfig) Validate() error {
	c = c.withDefaults()
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.DataDir == "" {
		add("data_dir: required")
	}
	cu, err := parseListenURL(c.ClientURL)
	if err != nil {
		add("client_url: %v", err)
	}
	if _, err := parseListenURL(c.PeerURL); err != nil {
		add("peer_url: %v", err)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		add("cert_file, key_file: give both or neither")
	}
	if cu != nil {
		switch tls := c.CertFile != ""; {
		case cu.Scheme == "https" && !tls:
			add("client_url: https:// needs cert_file and key_file")
		case cu.Scheme == "http" && tls:
			add("client_url: %q is http:// but cert_file is set; use https://", c.ClientURL)
		}
	}
	if c.ClientCAFile != "" && c.CertFile == "" {
		add("client_ca_file: client certificates need TLS: give cert_file and key_file")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("embedded etcd: %s", strings.Join(problems, "; "))
}

// parseListenURL accepts scheme://host:port with an http or https scheme
// and a fixed port: etcd advertises the URL as given, so port 0 would
// advertise a port nobody listens on.
func parseListenURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Port() == "" || u.Port() == "0" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%q: want scheme://host:port with a fixed port", s)
	}
	return u, nil
}

// Embedded is a running single-member etcd inside this process.
type Embedded struct {
	etcd      *embed.Etcd
	level     zap.AtomicLevel // of etcd's logger
	endpoints []string
	closeOnce sync.Once
}

// StartEmbedded starts etcd on cfg and returns once it serves clients, or
// fails when etcd does or ctx ends first. etcd logs errors only, as JSON
// lines on stderr, so the daemon's own log stays its own.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cfg = cfg.withDefaults()
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
	// etcd logs errors only, without stack traces; Close silences it
	// first, since etcd reports its own shutdown as errors.
	level := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	lg, err := zap.Config{
		Level:             level,
		Encoding:          "json",
		EncoderConfig:     zap.NewProductionEncoderConfig(),
		OutputPaths:       []string{"stderr"},
		ErrorOutputPaths:  []string{"stderr"},
		DisableStacktrace: true,
	}.Build()
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded etcd logger: %w", err)
	}
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

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	em := &Embedded{etcd: e, level: level, endpoints: []string{cfg.ClientURL}}
	select {
	case <-e.Server.ReadyNotify():
		return em, nil
	case err := <-e.Err():
		em.Close()
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: %w", cfg.DataDir, err)
	case <-ctx.Done():
		em.Close()
		return nil, fmt.Errorf("cluster: start embedded etcd in %s: not ready: %w", cfg.DataDir, ctx.Err())
	}
}

// Endpoints returns the client URLs to put in EtcdConfig.Endpoints.
func (em *Embedded) Endpoints() []string {
	return append([]string(nil), em.endpoints...)
}

// Close stops etcd and returns once it has stopped; the data stays in
// DataDir. Later calls do nothing.
func (em *Embedded) Close() {
	em.closeOnce.Do(func() {
		// "server closed", "use of closed network connection": etcd
		// logs its own shutdown as errors; they are not.
		em.level.SetLevel(zapcore.FatalLevel)
		em.etcd.Close()
	})
}
