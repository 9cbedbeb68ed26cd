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

// policy reads the group rules; every reply attribute is encoded once
// here, so that a bad name or value is refused at start-up, not on a
// user's login.
func (v *validator) policy(r *raw, dict *radiusd.Dictionary) challenge.Policy {
	var p challenge.Policy
	if r.Policy.Default != "" {
		a, ok := challenge.ParseAction(r.Policy.Default)
		if !ok {
			v.add("policy.default", "must be require, exempt or deny; got %q", r.Policy.Default)
		}
		p.Default = a
	}
	for i, g := range r.Policy.Groups {
		f := fmt.Sprintf("policy.groups[%d]", i)
		rule := challenge.GroupRule{Group: g.Group, VerifiedPush: g.VerifiedPush}
		if g.Group == "" {
			v.add(f+".group", "a group name is needed")
		}
		if g.Action != "" {
			a, ok := challenge.ParseAction(g.Action)
			if !ok {
				v.add(f+".action", "must be require, exempt or deny; got %q", g.Action)
			}
			rule.Action = a
		}
		if rule.Action == challenge.Deny && len(g.Reply) > 0 {
			v.add(f+".reply", "a deny rule sends no attributes")
		}
		for j, a := range g.Reply {
			af := fmt.Sprintf("%s.reply[%d]", f, j)
			if dict != nil {
				if _, err := dict.Encode(a.Name, a.Value); err != nil {
					v.add(af, "%v", err)
				}
			}
			rule.Reply = append(rule.Reply, challenge.Attribute{Name: a.Name, Value: a.Value})
		}
		p.Groups = append(p.Groups, rule)
	}
	return p
}
