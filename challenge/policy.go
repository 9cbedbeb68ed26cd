package challenge

import (
	"fmt"
	"strings"

	"twostep/confcheck"
)

// Action is what a policy rule asks of a user's login.
type Action uint8

const (
	// Require asks for a second factor. It is the zero value: a rule or
	// default left unset never lowers protection.
	Require Action = iota
	// Exempt lets a correct password alone in (service accounts,
	// break-glass).
	Exempt
	// Deny rejects the login even with the right password.
	Deny
)

// String names the action as the configuration writes it.
func (a Action) String() string {
	switch a {
	case Exempt:
		return "exempt"
	case Deny:
		return "deny"
	default:
		return "require"
	}
}

// UnmarshalText reads an action name from the configuration
// (ParseAction).
func (a *Action) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*a = Require // as left out
		return nil
	}
	v, ok := ParseAction(string(text))
	if !ok {
		return fmt.Errorf("must be require, exempt or deny; got %q", text)
	}
	*a = v
	return nil
}

// ParseAction reads an action name from the configuration.
func ParseAction(s string) (Action, bool) {
	switch s {
	case "require":
		return Require, true
	case "exempt":
		return Exempt, true
	case "deny":
		return Deny, true
	}
	return Require, false
}

// Attribute is a reply attribute by dictionary name, e.g. Class or
// Fortinet-Group-Name; the RADIUS layer encodes it.
type Attribute struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// GroupRule applies to members of Group (compared without case, as
// directories do).
type GroupRule struct {
	Group  string `yaml:"group"`
	Action Action `yaml:"action"`
	// Reply is sent with an Accept, in order.
	Reply []Attribute `yaml:"reply"`
	// VerifiedPush asks these users' pushes for the number shown at
	// login, whatever the client's setting.
	VerifiedPush bool `yaml:"verified_push"`
}

// Policy maps directory groups to actions and reply attributes. The first
// rule whose group the user is in decides both, like a firewall rule set;
// with no match, Default applies and no attributes are sent. It is the
// policy section of the configuration file, as written.
type Policy struct {
	Groups  []GroupRule `yaml:"groups"`
	Default Action      `yaml:"default"`
}

// Validate reports every problem of p in one confcheck.Problems, each
// under its key. The RADIUS layer encodes the reply attributes: their
// names and values are checked against its dictionary, not here.
func (p Policy) Validate() error {
	var ps confcheck.Problems
	for i, r := range p.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		if r.Group == "" {
			ps.Add(f+".group", "a group name is needed")
		}
		if r.Action == Deny && len(r.Reply) > 0 {
			ps.Add(f+".reply", "a deny rule sends no attributes")
		}
	}
	return ps.Err()
}

// match returns the rule for a user in groups, or a rule with the default
// action.
func (p *Policy) match(groups []string) GroupRule {
	r, _ := p.matchIndex(groups)
	return r
}

// matchIndex is match with the index of the rule in Groups; -1 for the
// default.
func (p *Policy) matchIndex(groups []string) (GroupRule, int) {
	for i, r := range p.Groups {
		for _, g := range groups {
			if strings.EqualFold(r.Group, g) {
				return r, i
			}
		}
	}
	return GroupRule{Action: p.Default}, -1
}
