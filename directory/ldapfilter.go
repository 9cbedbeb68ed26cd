package directory

import (
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// maxLDAPUsername bounds a username sent to LDAP, in bytes.
const maxLDAPUsername = 256

// ldapFilter fills template's %s verbs with values, each escaped with
// ldap.EscapeFilter. Every filter the LDAP backend sends is built here and
// only here, so no value from a request can add a filter component.
//
// With one value, every %s gets it (the Active Directory user filter names
// the user twice, as sAMAccountName and as userPrincipalName); with
// several, the i-th %s gets the i-th value. The template is a configured
// or built-in filter, checked by LDAPConfig.validate to hold at least one
// %s; a %s beyond the values, which only a built-in filter could hold, is
// left as it is.
func ldapFilter(template string, values ...string) string {
	var b strings.Builder
	rest := template
	for i := 0; len(values) > 0; i++ {
		j := strings.Index(rest, "%s")
		if j < 0 {
			break
		}
		v := values[0]
		if len(values) > 1 {
			if i >= len(values) {
				break
			}
			v = values[i]
		}
		b.WriteString(rest[:j])
		b.WriteString(ldap.EscapeFilter(v))
		rest = rest[j+2:]
	}
	b.WriteString(rest)
	return b.String()
}

// validLDAPUsername reports whether name may be looked up at all: not
// empty, valid UTF-8, no NUL, at most maxLDAPUsername bytes. Anything else
// is answered UnknownUser without LDAP traffic.
func validLDAPUsername(name string) bool {
	return name != "" && len(name) <= maxLDAPUsername && utf8.ValidString(name) &&
		!strings.ContainsRune(name, 0)
}

// normalizeUsername applies the realm rules of cfg to name. ok is false
// when the name carries a domain that DomainMap does not list.
//
// The forms are DOMAIN\user and user@domain. They are only taken apart
// when StripRealm is set or DomainMap is not empty; otherwise the name is
// searched for as typed (escaped).
func normalizeUsername(cfg *LDAPConfig, name string) (string, bool) {
	if !cfg.StripRealm && len(cfg.DomainMap) == 0 {
		return name, true
	}
	user, domain := name, ""
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		domain, user = name[:i], name[i+1:]
	} else if i := strings.LastIndexByte(name, '@'); i >= 0 {
		user, domain = name[:i], name[i+1:]
	}
	if user == "" {
		return "", false
	}
	if domain == "" {
		return user, true
	}
	realm := domain
	if len(cfg.DomainMap) > 0 {
		r, ok := lookupFold(cfg.DomainMap, domain)
		if !ok {
			return "", false
		}
		realm = r
	}
	if cfg.StripRealm {
		return user, true
	}
	return user + "@" + realm, true
}

// lookupFold finds key in m ignoring case.
func lookupFold(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}
