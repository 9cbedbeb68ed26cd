package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"twostep/directory/ldapclient"
)

// groupFilter finds the groups that list a member: by DN in groupOfNames
// and groupOfUniqueNames, by name in posixGroup (memberUid). The values
// are filled in by ldapFilter.
const groupFilter = "(|(&(objectClass=groupOfNames)(member=%s))" +
	"(&(objectClass=groupOfUniqueNames)(uniqueMember=%s))" +
	"(&(objectClass=posixGroup)(memberUid=%s)))"

// nestedGroupFilter finds the groups that list a group (by DN).
const nestedGroupFilter = "(|(&(objectClass=groupOfNames)(member=%s))" +
	"(&(objectClass=groupOfUniqueNames)(uniqueMember=%s)))"

// groups returns the names of u's groups: those u.memberOf names, those
// that list u, and, up to GroupDepth levels, the groups that list those.
// Under the AD preset the directory resolves the nesting in one search.
// Names are sorted and unique.
func (l *LDAP) groups(ctx context.Context, c *ldapclient.Conn, u *ldapUser) ([]string, error) {
	names := map[string]bool{}
	for _, dn := range u.memberOf {
		if n := l.groupNameFromDN(dn); n != "" {
			names[n] = true
		}
	}
	if l.cfg.groupSearch() && l.ad() {
		filter := adNestedGroupFilter
		if l.cfg.GroupDepth < 0 {
			filter = adGroupFilter
		}
		found, err := l.searchGroups(ctx, c, ldapFilter(filter, u.dn))
		if err != nil {
			return nil, err
		}
		for _, g := range found {
			if n := g.GetAttributeValue(l.cfg.GroupNameAttribute); n != "" {
				names[n] = true
			}
		}
	}
	if l.cfg.groupSearch() && !l.ad() {
		seen := map[string]bool{}
		level, err := l.searchGroups(ctx, c, ldapFilter(groupFilter, u.dn, u.dn, u.name))
		if err != nil {
			return nil, err
		}
		for depth := 0; len(level) > 0; depth++ {
			var next []*ldap.Entry
			for _, g := range level {
				key := strings.ToLower(g.DN)
				if seen[key] {
					continue
				}
				seen[key] = true
				if n := g.GetAttributeValue(l.cfg.GroupNameAttribute); n != "" {
					names[n] = true
				}
				if depth >= l.cfg.GroupDepth {
					continue
				}
				parents, err := l.searchGroups(ctx, c, ldapFilter(nestedGroupFilter, g.DN, g.DN))
				if err != nil {
					return nil, err
				}
				next = append(next, parents...)
			}
			level = next
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// searchGroups runs one group search under GroupBaseDN.
func (l *LDAP) searchGroups(ctx context.Context, c *ldapclient.Conn, filter string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(l.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{l.cfg.GroupNameAttribute}, nil)
	var res *ldap.SearchResult
	err := ldapclient.WithTimeout(ctx, c, l.cfg.OpTimeout, func() error {
		l.searches.Add(1)
		var err error
		res, err = c.Search(req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("directory: search groups: %w", err)
	}
	return res.Entries, nil
}

// groupNameFromDN takes a group's name from its DN when the first RDN is
// GroupNameAttribute (cn=vpn-users,ou=groups,... gives vpn-users) and the
// group lies under GroupBaseDN; other DNs give "". Policy matches groups
// by name, so a group of the same name made in another OU (which a
// delegated OU admin may do) must not count.
func (l *LDAP) groupNameFromDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 {
		return ""
	}
	if base, err := ldap.ParseDN(l.cfg.GroupBaseDN); err != nil || !base.AncestorOfFold(d) {
		return ""
	}
	for _, a := range d.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, l.cfg.GroupNameAttribute) {
			return a.Value
		}
	}
	return ""
}
