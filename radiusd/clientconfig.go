package radiusd

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"twostep/challenge"
	"twostep/confcheck"
)

// ClientConfig is one entry of the configuration file's clients section:
// a NAS allowed to ask, as the file writes it. Clients reads the entries
// into Clients for NewClientTable.
type ClientConfig struct {
	// Name labels logs and metrics: letters, digits, '.', '_', '-', at
	// most 63. Required and unique.
	Name string `yaml:"name"`
	// DisplayName is the service users see in a push, at most 64
	// characters; default Name.
	DisplayName string `yaml:"display_name"`
	// Networks are the addresses or CIDR prefixes the NAS sends from
	// (confcheck.ParsePrefix), none given to another client. At least
	// one.
	Networks []string `yaml:"networks"`
	// Secret is the shared secret, 1 to MaxSecretLen bytes; the file
	// gives it as secret, secret_file or secret_env (configs resolves
	// it). Clients leaves it to NewClientTable to check.
	Secret []byte `yaml:"secret" config:"secret"`
	// MessageAuthenticator is require_message_authenticator: true
	// (default), auto or false.
	MessageAuthenticator MARequirement `yaml:"require_message_authenticator"`
	// ReplyAttributes: see Client; nil (left out) sends all, an empty
	// list none.
	ReplyAttributes []string `yaml:"reply_attributes"`
	// OnError is reject (default: Access-Reject) or drop (no answer, so
	// the NAS fails over): Client.DropOnError.
	OnError string `yaml:"on_error"`
	// Login is how the client's users give their second factor.
	Login challenge.LoginConfig `yaml:",inline"`
}

// maxDisplayName bounds a client's display name: it is a title on a
// phone's lock screen.
const maxDisplayName = 64

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Clients reads the entries of the clients section, with every problem
// in one confcheck.Problems under the section's keys ("[2].networks[0]").
func Clients(entries []ClientConfig) ([]Client, error) {
	var ps confcheck.Problems
	if len(entries) == 0 {
		ps.Add("", "at least one client (NAS) is needed; see configs/example.yaml")
	}
	var out []Client
	names := map[string]bool{}
	prefixes := map[netip.Prefix]string{}
	for i, e := range entries {
		p := fmt.Sprintf("[%d]", i)
		c := Client{Name: e.Name, Secret: e.Secret, MessageAuthenticator: e.MessageAuthenticator}
		switch {
		case e.Name == "":
			ps.Add(p+".name", "a name is needed (letters, digits, '.', '_', '-'); it labels logs and metrics")
		case !clientName.MatchString(e.Name):
			ps.Add(p+".name", "%q: use letters, digits, '.', '_', '-' (at most 63)", e.Name)
		case names[e.Name]:
			ps.Add(p+".name", "%q is used by another client", e.Name)
		}
		names[e.Name] = true
		c.DisplayName = strings.TrimSpace(e.DisplayName)
		switch name := c.DisplayName; {
		case name == "":
			c.DisplayName = e.Name
		case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDisplayName || strings.ContainsFunc(name, unicode.IsControl):
			ps.Add(p+".display_name", "%q: at most %d characters, no control characters", name, maxDisplayName)
		}
		if len(e.Networks) == 0 {
			ps.Add(p+".networks", "at least one address or CIDR prefix is needed")
		}
		for j, n := range e.Networks {
			np := fmt.Sprintf("%s.networks[%d]", p, j)
			pfx, err := confcheck.ParsePrefix(n)
			if err != nil {
				ps.Add(np, "%v", err)
				continue
			}
			if other, dup := prefixes[pfx]; dup {
				ps.Add(np, "%s is already given to client %q", pfx, other)
			}
			prefixes[pfx] = e.Name
			c.Networks = append(c.Networks, pfx)
		}
		if e.ReplyAttributes != nil {
			c.ReplyAttributes = append([]string{}, e.ReplyAttributes...)
		}
		switch e.OnError {
		case "", "reject":
		case "drop":
			c.DropOnError = true
		default:
			ps.Add(p+".on_error", "must be reject (answer Access-Reject) or drop (no answer: the NAS fails over); got %q", e.OnError)
		}
		var err error
		c.Login, err = e.Login.Login()
		ps.Include(p, err)
		out = append(out, c)
	}
	return out, ps.Err()
}

// UnmarshalText reads require_message_authenticator (ParseMARequirement).
func (r *MARequirement) UnmarshalText(text []byte) error {
	v, ok := ParseMARequirement(string(text))
	if !ok {
		return fmt.Errorf("must be true (drop every request without Message-Authenticator), auto (drop them once the client has sent one) or false; got %q", text)
	}
	*r = v
	return nil
}
