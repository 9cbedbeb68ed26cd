package radiusd

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"twostep/challenge"
)

// Client is a RADIUS client (a NAS) allowed to send requests.
type Client struct {
	// Name identifies the client in logs and metric labels; it comes from
	// configuration, never from the network. Required and unique.
	Name string
	// DisplayName is the service users see for this client in a push
	// ("Staff VPN"); default Name.
	DisplayName string
	// Networks are the source prefixes the client sends from. A packet is
	// attributed to the client with the longest matching prefix.
	Networks []netip.Prefix
	// Secret is the shared secret, 1 to 64 bytes.
	Secret []byte
	// MessageAuthenticator says which Access-Requests without a
	// Message-Authenticator are dropped. The zero value, MARequired, drops
	// them all: the BlastRADIUS (CVE-2024-3596) defence is on unless a NAS
	// that cannot send the attribute is named here.
	MessageAuthenticator MARequirement
	// ReplyAttributes names the reply attributes this client is sent from
	// a Decision; nil sends all of them, an empty list none. Each NAS
	// understands its own vendor's attributes.
	ReplyAttributes []string
	// DropOnError leaves a request unanswered when the decision failed
	// (the directory is down), so the NAS fails over to another RADIUS
	// server; false answers Access-Reject with a Reply-Message.
	DropOnError bool
	// Login is how this client's users give their second factor: append,
	// challenge or auto mode, the separator, and the fail mode while the
	// cluster store is down. The zero value is auto, ",", secure.
	Login challenge.ClientLogin

	macs *macPool // set by NewClientTable
}

// MARequirement is which Access-Requests of a client must carry a
// Message-Authenticator: require_message_authenticator in the
// configuration. Whatever it says, a Status-Server, or a request with
// Proxy-State or EAP-Message, without one is dropped.
type MARequirement uint8

const (
	// MARequired drops every request without it ("true"). The zero value.
	MARequired MARequirement = iota
	// MAAuto drops requests without it from a client that has sent it
	// once ("auto", FreeRADIUS 3.2.5's meaning), remembered by every node
	// through Options.MessageAuthenticators: a NAS that cannot send the
	// attribute works, and one that can is protected from its first
	// signed request on.
	MAAuto
	// MAOptional accepts requests without it ("false").
	MAOptional
)

// String names r as the configuration writes it.
func (r MARequirement) String() string {
	switch r {
	case MAAuto:
		return "auto"
	case MAOptional:
		return "false"
	default:
		return "true"
	}
}

// ParseMARequirement reads require_message_authenticator: true, false or
// auto.
func ParseMARequirement(s string) (MARequirement, bool) {
	switch strings.ToLower(s) { // YAML 1.1 writes True, FALSE, …
	case "true":
		return MARequired, true
	case "auto":
		return MAAuto, true
	case "false":
		return MAOptional, true
	}
	return MARequired, false
}

// verifyMA checks the Message-Authenticator at off of a request from c.
func (c *Client) verifyMA(pkt []byte, off int) bool {
	m := c.mac()
	defer c.putMAC(m)
	return verifyMA(m, pkt, off, pkt[4:20])
}

// nasTimeout is what the client's NAS waits for an answer to each copy of
// a request, as configured (Login.NASTimeout, default 5 s).
func (c *Client) nasTimeout() time.Duration {
	if c.Login.NASTimeout > 0 {
		return c.Login.NASTimeout
	}
	return challenge.DefaultNASTimeout
}

// sends reports whether the client is sent the attribute name.
func (c *Client) sends(name string) bool {
	return c.ReplyAttributes == nil || slices.Contains(c.ReplyAttributes, name)
}

// MaxSecretLen bounds shared secrets; longer secrets are rejected by many
// NAS implementations and usually betray a pasting mistake.
const MaxSecretLen = 64

// weakSecretLen is the length at or below which a secret is reported by
// Weak: RFC 6151 era guidance asks for at least 16 random characters, and
// short secrets fall to offline guessing from a single captured packet.
const weakSecretLen = 12

// ClientTable maps source addresses to clients. It is immutable once
// built, so a running server can swap tables without locks.
type ClientTable struct {
	clients []*Client // in configuration order, for Weak
	// byBits holds one map per prefix length, longest first, so a lookup
	// costs one map probe per distinct length (usually two or three).
	byBits []prefixMap
}

type prefixMap struct {
	bits int
	m    map[netip.Prefix]*Client
}

// NewClientTable builds a table from clients. It reports every problem at
// once: an empty or duplicate name, no networks, an invalid prefix, the same
// prefix listed twice, an empty secret or one longer than 64 bytes. Errors
// name the client, never the secret. The table keeps its own copies.
func NewClientTable(clients []Client) (*ClientTable, error) {
	t := &ClientTable{}
	var errs []error
	names := make(map[string]bool)
	owner := make(map[netip.Prefix]string)
	byBits := make(map[int]map[netip.Prefix]*Client)
	for i, c := range clients {
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("radiusd: client %d: empty name", i))
		} else if names[c.Name] {
			errs = append(errs, fmt.Errorf("radiusd: client %q: name listed twice", c.Name))
		}
		names[c.Name] = true
		switch {
		case len(c.Secret) == 0:
			errs = append(errs, fmt.Errorf("radiusd: client %q: empty secret", c.Name))
		case len(c.Secret) > MaxSecretLen:
			errs = append(errs, fmt.Errorf("radiusd: client %q: secret longer than %d bytes", c.Name, MaxSecretLen))
		}
		if len(c.Networks) == 0 {
			errs = append(errs, fmt.Errorf("radiusd: client %q: no networks", c.Name))
		}
		cc := &Client{
			Name:                 c.Name,
			DisplayName:          c.DisplayName,
			Secret:               slices.Clone(c.Secret),
			MessageAuthenticator: c.MessageAuthenticator,
			ReplyAttributes:      slices.Clone(c.ReplyAttributes), // keeps nil (all) apart from empty (none)
			DropOnError:          c.DropOnError,
			Login:                c.Login,
		}
		cc.macs = newMACPool(cc.Secret)
		for _, p := range c.Networks {
			np, err := normalizePrefix(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("radiusd: client %q: %w", c.Name, err))
				continue
			}
			if prev, dup := owner[np]; dup {
				errs = append(errs, fmt.Errorf("radiusd: client %q: prefix %s already listed for client %q", c.Name, np, prev))
				continue
			}
			owner[np] = c.Name
			cc.Networks = append(cc.Networks, np)
			if byBits[np.Bits()] == nil {
				byBits[np.Bits()] = make(map[netip.Prefix]*Client)
			}
			byBits[np.Bits()][np] = cc
		}
		t.clients = append(t.clients, cc)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for bits, m := range byBits {
		t.byBits = append(t.byBits, prefixMap{bits: bits, m: m})
	}
	slices.SortFunc(t.byBits, func(a, b prefixMap) int { return b.bits - a.bits })
	return t, nil
}

// normalizePrefix masks p and turns an IPv4-mapped IPv6 prefix into the
// IPv4 prefix it means, so that it matches the unmapped addresses Lookup
// probes with.
func normalizePrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return netip.Prefix{}, fmt.Errorf("invalid prefix %q", p.String())
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("prefix %s: IPv4-mapped prefix shorter than /96", p)
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Lookup returns the client whose longest network contains addr.
// IPv4-mapped IPv6 addresses (from a dual-stack socket) are unmapped first.
// A nil table matches nothing.
func (t *ClientTable) Lookup(addr netip.Addr) (*Client, bool) {
	if t == nil || !addr.IsValid() {
		return nil, false
	}
	addr = addr.Unmap().WithZone("")
	for _, pm := range t.byBits {
		p, err := addr.Prefix(pm.bits)
		if err != nil {
			continue // an IPv6 length longer than 32 bits for an IPv4 address
		}
		if c, ok := pm.m[p]; ok {
			return c, true
		}
	}
	return nil, false
}

// Weak returns the names of clients whose secret is 12 bytes or shorter, in
// configuration order, so the daemon can warn at start-up.
func (t *ClientTable) Weak() []string {
	var names []string
	for _, c := range t.clients {
		if len(c.Secret) <= weakSecretLen {
			names = append(names, c.Name)
		}
	}
	return names
}
