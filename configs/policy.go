package configs

import (
	"fmt"

	"twostep/challenge"
	"twostep/radiusd"
)

// dictionary loads the reply-attribute dictionaries; nil when one is bad
// (reported at radius.dictionaries).
func (v *validator) dictionary(files []string) *radiusd.Dictionary {
	d, err := radiusd.NewDictionary(files...)
	if err != nil {
		v.add("radius.dictionaries", "%v", err)
		return nil
	}
	return d
}

// policy checks the group rules; every reply attribute is encoded once
// here, with the radius section's dictionaries, so that a bad name or
// value is refused at start-up, not on a user's login.
func (v *validator) policy(p challenge.Policy, dict *radiusd.Dictionary) challenge.Policy {
	v.section("policy", p.Validate())
	for i, g := range p.Groups {
		for j, a := range g.Reply {
			if dict != nil {
				if _, err := dict.Encode(a.Name, a.Value); err != nil {
					v.add(fmt.Sprintf("policy.groups[%d].reply[%d]", i, j), "%v", err)
				}
			}
		}
	}
	return p
}
