package peer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Twostepd is the part of twostepd's configuration a benchmark writes
// (configs/example.yaml documents every field). Paths are relative to
// the file; durations are written as twostepd reads them ("10s").
type Twostepd struct {
	Log       TwostepdLog       `yaml:"log"`
	Radius    TwostepdRadius    `yaml:"radius"`
	Clients   []TwostepdClient  `yaml:"clients"`
	Directory TwostepdDirectory `yaml:"directory"`
	Cluster   TwostepdCluster   `yaml:"cluster"`
	Policy    *TwostepdPolicy   `yaml:"policy,omitempty"`
	Metrics   *TwostepdListen   `yaml:"metrics,omitempty"`
	Push      *TwostepdPush     `yaml:"push,omitempty"`
	Portal    *TwostepdPortal   `yaml:"portal,omitempty"`
	History   *TwostepdHistory  `yaml:"history,omitempty"`
}

// TwostepdLog is the log section.
type TwostepdLog struct {
	Level string `yaml:"level"`
}

// TwostepdRadius is the radius section.
type TwostepdRadius struct {
	Listen       []string `yaml:"listen"`
	Workers      int      `yaml:"workers,omitempty"`
	DuplicateTTL string   `yaml:"duplicate_ttl,omitempty"`
	RejectDelay  string   `yaml:"reject_delay,omitempty"`
}

// TwostepdClient is one NAS.
type TwostepdClient struct {
	Name                        string   `yaml:"name"`
	Networks                    []string `yaml:"networks"`
	Secret                      string   `yaml:"secret"`
	RequireMessageAuthenticator bool     `yaml:"require_message_authenticator,omitempty"`
	Mode                        string   `yaml:"mode,omitempty"`
	NASTimeout                  string   `yaml:"nas_timeout,omitempty"`
	NASRetries                  *int     `yaml:"nas_retries,omitempty"`
}

// TwostepdDirectory is the directory section: a users file or LDAP.
type TwostepdDirectory struct {
	Backend string        `yaml:"backend"`
	File    *TwostepdFile `yaml:"file,omitempty"`
	LDAP    *TwostepdLDAP `yaml:"ldap,omitempty"`
}

// TwostepdFile is the users file backend.
type TwostepdFile struct {
	Path string `yaml:"path"`
}

// TwostepdLDAP is the LDAP backend. GroupSearch is always written:
// twostepd's default is on.
type TwostepdLDAP struct {
	URLs             []string `yaml:"urls"`
	BindDN           string   `yaml:"bind_dn"`
	BindPasswordFile string   `yaml:"bind_password_file"`
	BaseDN           string   `yaml:"base_dn"`
	UserFilter       string   `yaml:"user_filter"`
	GroupSearch      bool     `yaml:"group_search"`
	SearchPoolSize   int      `yaml:"search_pool_size,omitempty"`
	BindPoolSize     int      `yaml:"bind_pool_size,omitempty"`
	CacheTTL         string   `yaml:"cache_ttl,omitempty"`
	CacheSize        int      `yaml:"cache_size,omitempty"`
}

// TwostepdCluster is the cluster section: an external etcd (Endpoints)
// or the embedded one.
type TwostepdCluster struct {
	Endpoints []string          `yaml:"endpoints,omitempty"`
	Embedded  *TwostepdEmbedded `yaml:"embedded,omitempty"`
	SeedKeys  string            `yaml:"seed_keys"`
	Prefix    string            `yaml:"prefix,omitempty"`
}

// TwostepdEmbedded is the embedded etcd.
type TwostepdEmbedded struct {
	DataDir   string `yaml:"data_dir"`
	ClientURL string `yaml:"client_url"`
	PeerURL   string `yaml:"peer_url"`
}

// TwostepdHistory is the history section (the login history). Enabled
// is always written: twostepd's default is on.
type TwostepdHistory struct {
	Enabled bool `yaml:"enabled"`
}

// TwostepdPolicy is the policy section.
type TwostepdPolicy struct {
	Default string `yaml:"default"`
}

// TwostepdListen is a section with only an address (metrics).
type TwostepdListen struct {
	Listen string `yaml:"listen"`
}

// TwostepdPush is the push approval API. Limit.Count 0 is off.
type TwostepdPush struct {
	Listen string `yaml:"listen"`
	Limit  struct {
		Count int `yaml:"count"`
	} `yaml:"limit"`
	Timeout          string `yaml:"timeout,omitempty"`
	AnswersPerMinute int    `yaml:"answers_per_minute,omitempty"`
}

// TwostepdPortal is the self-service portal.
type TwostepdPortal struct {
	Listen string `yaml:"listen"`
	TLS    struct {
		SelfSigned bool `yaml:"self_signed"`
	} `yaml:"tls"`
	SignInsPerMinute        int `yaml:"sign_ins_per_minute,omitempty"`
	AddressSignInsPerMinute int `yaml:"address_sign_ins_per_minute,omitempty"`
}

// Write writes the configuration to path (mode 0600: it holds the
// clients' secret).
func (c Twostepd) Write(path string) error {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// Start writes the configuration to dir/name.yaml, has twostepd -check
// it, starts twostepd on it with its log in dir/name.log, and waits
// until the metrics listener's /readyz says ready (without metrics, only
// until it has started).
func (c Twostepd) Start(ctx context.Context, bin, dir, name string) (*Proc, error) {
	conf := filepath.Join(dir, name+".yaml")
	logPath := filepath.Join(dir, name+".log")
	if err := c.Write(conf); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, bin, "-config", conf, "-check").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("twostepd -check refused the generated %s: %v\n%s", filepath.Base(conf), err, out)
	}
	p, err := Start("twostepd ("+name+")", logPath, bin, "-config", conf)
	if err != nil {
		return nil, err
	}
	if c.Metrics == nil {
		return p, nil
	}
	readyz := "http://" + c.Metrics.Listen + "/readyz"
	if err := p.WaitReady(ctx, 60*time.Second, func() bool { return httpOK(ctx, readyz) }); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// httpOK reports whether a GET of url answers 200.
func httpOK(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
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

// TwostepdVersion is what twostepd -version says after its name.
func TwostepdVersion(bin string) string {
	out, _ := exec.Command(bin, "-version").Output()
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}
