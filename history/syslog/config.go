package syslog

import (
	"crypto/tls"
	"net"
	"slices"
	"strconv"

	"twostep/confcheck"
)

// Config is the history.syslog section: where the login records and the
// audit trail are sent. The export is off unless Address is set.
type Config struct {
	// Network is udp, tcp or tls; default tls (the records name users
	// and where they log in from).
	Network string `yaml:"network"`
	// Address is the receiver's host:port; empty turns the export off.
	Address string `yaml:"address"`
	// CAFile holds the PEM certificates of the CAs that sign the
	// receiver's certificate; default the system's roots. tls only.
	CAFile string `yaml:"ca_file" config:"path"`
	// CertFile and KeyFile are this node's client certificate, for a
	// receiver that asks for one (rsyslog's StreamDriver.AuthMode
	// x509/certvalid or x509/name). tls only.
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
	// ServerName is the name the receiver's certificate must hold;
	// default the host of Address. tls only.
	ServerName string `yaml:"server_name"`
	// AppName is the messages' APP-NAME; default twostep.
	AppName string `yaml:"app_name"`
	// Facility is the messages' facility by name (auth, authpriv,
	// daemon, local0 … local7, …); default authpriv: the records name
	// users and their addresses, and syslog daemons keep authpriv apart
	// from the world-readable logs (Debian's rsyslog writes auth and
	// authpriv to /var/log/auth.log only).
	Facility string `yaml:"facility"`
	// Hostname is the messages' HOSTNAME; default the node's name
	// (cluster.node_name).
	Hostname string `yaml:"hostname"`
}

// Networks of the section.
const (
	NetworkUDP = "udp"
	NetworkTCP = "tcp"
	NetworkTLS = "tls"
)

// Defaults of the section.
const (
	DefaultNetwork  = NetworkTLS
	DefaultAppName  = "twostep"
	DefaultFacility = "authpriv"
)

// facilities are RFC 5424's facility codes by the names syslog.conf
// gives them.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// Enabled reports whether the export is on.
func (c Config) Enabled() bool { return c.Address != "" }

// WithDefaults returns c with Network, AppName and Facility set when
// empty. Hostname stays empty: the daemon gives the node's name.
func (c Config) WithDefaults() Config {
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.AppName == "" {
		c.AppName = DefaultAppName
	}
	if c.Facility == "" {
		c.Facility = DefaultFacility
	}
	return c
}

// Limits of RFC 5424's header fields.
const (
	maxHostname = 255
	maxAppName  = 48
)

// Validate reports every problem of c in one confcheck.Problems, each
// under its key. A section without an address has none: it is off.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	c = c.WithDefaults()
	var ps confcheck.Problems
	if !slices.Contains([]string{NetworkUDP, NetworkTCP, NetworkTLS}, c.Network) {
		ps.Add("network", "%q: want udp, tcp or tls", c.Network)
	}
	if host, port, err := net.SplitHostPort(c.Address); err != nil || host == "" {
		ps.Add("address", "%q: want the receiver's host:port (514 for udp and tcp, 6514 for tls)", c.Address)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ps.Add("address", "%q: the port must be a number from 1 to 65535", c.Address)
	}
	if _, ok := facilities[c.Facility]; !ok {
		ps.Add("facility", "%q: want a syslog facility name: auth, authpriv, daemon, local0 to local7, …", c.Facility)
	}
	if !headerField(c.AppName, maxAppName) {
		ps.Add("app_name", "%q: at most %d printable ASCII characters, without spaces", c.AppName, maxAppName)
	}
	if c.Hostname != "" && !headerField(c.Hostname, maxHostname) {
		ps.Add("hostname", "%q: at most %d printable ASCII characters, without spaces", c.Hostname, maxHostname)
	}
	if c.Network == NetworkTLS {
		c.TLSConfig(&ps)
	} else {
		for _, kv := range [][2]string{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}, {"server_name", c.ServerName}} {
			if kv[1] != "" {
				ps.Add(kv[0], "only with network: tls")
			}
		}
	}
	return ps.Err()
}

// Plaintext reports whether the records cross a network in clear: udp
// or tcp to a receiver that is not on this machine.
func (c Config) Plaintext() bool {
	c = c.WithDefaults()
	return c.Enabled() && c.Network != NetworkTLS && !confcheck.Loopback(c.Address)
}

// TLSConfig returns the TLS configuration of a tls export, adding files
// that cannot be read to ps.
func (c Config) TLSConfig(ps *confcheck.Problems) *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if conf.ServerName == "" {
		conf.ServerName, _, _ = net.SplitHostPort(c.Address)
	}
	confcheck.TLSFiles(ps, conf, c.CAFile, c.CertFile, c.KeyFile)
	return conf
}

// headerField reports whether s fits an RFC 5424 header field of at most
// max characters: 1 to max of PRINTUSASCII (33 to 126).
func headerField(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
