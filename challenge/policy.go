package challenge

import "strings"

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
	Name  string
	Value string
}

// GroupRule applies to members of Group (compared without case, as
// directories do).
type GroupRule struct {
	Group  string
	Action Action
	// Reply is sent with an Accept, in order.
	Reply []Attribute
	// VerifiedPush asks these users' pushes for the number shown at
	// login, whatever the client's setting.
	VerifiedPush bool
}

// Policy maps directory groups to actions and reply attributes. The first
// rule whose group the user is in decides both, like a firewall rule set;
// with no match, Default applies and no attributes are sent.
type Policy struct {
	Groups  []GroupRule
	Default Action
}

// match returns the rule for a user in groups, or a rule with the default
// action.
func (p *Policy) match(groups []string) GroupRule {
	for _, r := range p.Groups {
		for _, g := range groups {
			if strings.EqualFold(r.Group, g) {
				return r
			}
		}
	}
	return GroupRule{Action: p.Default}
}
