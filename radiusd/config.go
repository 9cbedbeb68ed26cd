package radiusd

import (
	"fmt"
	"net"
	"time"

	"twostep/confcheck"
)

// Config is the radius section of the configuration file: where the
// server listens and how it answers. NewServer takes it in Options;
// cmd/twostepd binds Listen (ListenGroup). The zero value of each field
// is a working default, given in its comment.
type Config struct {
	// Listen holds the UDP addresses to serve, each with a host (an
	// address, or 0.0.0.0 / [::] for every address of one family: a
	// socket of both families could not tell which IPv4 address was
	// asked); default ["0.0.0.0:1812"] (DefaultListen). NewServer binds
	// none of them.
	Listen []string `yaml:"listen"`
	// Workers bounds the requests being decided at once, 1 to 65536;
	// default 256. New conversations may use all but 1/8 of them (at
	// least one is kept when Workers >= 2); the rest is kept for requests
	// that carry State, so overload sheds new logins before half-done
	// ones.
	Workers int `yaml:"workers"`
	// DuplicateTTL is how long an answer stays in the RFC 5080 response
	// cache, 5s to 30s, the range in which NAS retransmissions actually
	// arrive; default 10s.
	DuplicateTTL time.Duration `yaml:"duplicate_ttl"`
	// RejectDelay is when every Access-Reject leaves, counted from the
	// request's arrival (FreeRADIUS's reject_delay, but padding to one
	// total instead of adding to the decision's time), so that an
	// outsider cannot time how far a login got (an unknown user, a wrong
	// password, a right password with a wrong passcode that cost etcd
	// round trips) and guessing slows down. A decision slower than it is
	// answered at once. The wait holds no worker; retransmissions
	// meanwhile are absorbed. Zero answers at once; at most 5s
	// (MaxRejectDelay), below the NASes' timeouts. The configuration
	// file's default is 1s (DefaultConfig).
	RejectDelay time.Duration `yaml:"reject_delay"`
	// Dictionaries are FreeRADIUS-format dictionary files naming further
	// reply attributes (NewDictionary); default none, the built-in
	// attributes. NewServer reads them when Options.Dictionary is nil.
	Dictionaries []string `yaml:"dictionaries" config:"path"`
}

// Defaults and limits of Config.
const (
	DefaultListen       = "0.0.0.0:1812"
	defaultWorkers      = 256
	maxWorkers          = 65536
	defaultDuplicateTTL = 10 * time.Second
	minDuplicateTTL     = 5 * time.Second
	maxDuplicateTTL     = 30 * time.Second
	// DefaultRejectDelay is the configuration file's reject_delay.
	DefaultRejectDelay = time.Second
	// MaxRejectDelay keeps every Access-Reject within a NAS's usual
	// timeout (5 s): a later one would be sent again before it leaves.
	MaxRejectDelay = 5 * time.Second
)

// DefaultConfig is the section a configuration file that leaves every
// key out stands for, for a loader to decode the file's keys over:
// reject_delay left out is DefaultRejectDelay, 0s turns it off.
func DefaultConfig() Config {
	return Config{
		Listen:       []string{DefaultListen},
		Workers:      defaultWorkers,
		DuplicateTTL: defaultDuplicateTTL,
		RejectDelay:  DefaultRejectDelay,
	}
}

// WithDefaults returns c with every zero field but RejectDelay and
// Dictionaries set to its default.
func (c Config) WithDefaults() Config {
	if len(c.Listen) == 0 {
		c.Listen = []string{DefaultListen}
	}
	if c.Workers == 0 {
		c.Workers = defaultWorkers
	}
	if c.DuplicateTTL == 0 {
		c.DuplicateTTL = defaultDuplicateTTL
	}
	return c
}

// Validate reports every problem of c in one confcheck.Problems, each
// under its key. It reads no dictionary.
func (c Config) Validate() error {
	var ps confcheck.Problems
	seen := map[string]bool{}
	for i, a := range c.Listen {
		field := fmt.Sprintf("listen[%d]", i)
		if err := confcheck.HostPort(a); err != nil {
			ps.Add(field, "%v", err)
		}
		if host, _, err := net.SplitHostPort(a); err == nil && host == "" {
			// A socket for both families cannot learn which IPv4 address
			// was asked, so its answers could leave from another one.
			ps.Add(field, "%q has no host: list 0.0.0.0%s for IPv4 and [::]%s for IPv6", a, a, a)
		}
		if seen[a] {
			ps.Add(field, "%q is listed twice", a)
		}
		seen[a] = true
	}
	if c.Workers != 0 && (c.Workers < 1 || c.Workers > maxWorkers) {
		ps.Add("workers", "must be between 1 and %d; got %d", maxWorkers, c.Workers)
	}
	if c.DuplicateTTL != 0 && (c.DuplicateTTL < minDuplicateTTL || c.DuplicateTTL > maxDuplicateTTL) {
		ps.Add("duplicate_ttl", "must be between %s and %s (RFC 5080); got %s", minDuplicateTTL, maxDuplicateTTL, c.DuplicateTTL)
	}
	if c.RejectDelay < 0 || c.RejectDelay > MaxRejectDelay {
		ps.Add("reject_delay", "must be 0s (off) to %s, below the NAS's timeout; got %s", MaxRejectDelay, c.RejectDelay)
	}
	return ps.Err()
}
