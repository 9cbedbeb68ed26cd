package configs

import (
	"errors"
	"regexp"
	"strings"

	"twostep/directory"
)

// ldap turns the directory.ldap section into a directory.LDAPConfig and
// reports the directory package's own checks at their lines.
func (v *validator) ldap(r rawLDAP, dir string, env Env) directory.LDAPConfig {
	const p = "directory.ldap"
	c := directory.LDAPConfig{
		Preset:             r.Preset,
		URLs:               r.URLs,
		BindDN:             r.BindDN,
		BaseDN:             r.BaseDN,
		UserFilter:         r.UserFilter,
		UserAttribute:      r.UserAttribute,
		GroupBaseDN:        r.GroupBaseDN,
		GroupNameAttribute: r.GroupNameAttribute,
		MemberOfAttribute:  r.MemberOfAttribute,
		NoGroupSearch:      r.GroupSearch != nil && !*r.GroupSearch,
		GroupDepth:         r.GroupDepth,
		StartTLS:           r.StartTLS,
		CAFile:             absPath(dir, r.CAFile),
		CertFile:           absPath(dir, r.CertFile),
		KeyFile:            absPath(dir, r.KeyFile),
		ServerName:         r.ServerName,
		InsecureSkipVerify: r.InsecureSkipVerify,
		AllowPlaintext:     r.AllowPlaintext,
		DialTimeout:        r.DialTimeout,
		OpTimeout:          r.OpTimeout,
		SearchPoolSize:     r.SearchPoolSize,
		BindPoolSize:       r.BindPoolSize,
		CacheTTL:           r.CacheTTL,
		CacheSize:          r.CacheSize,
		StripRealm:         r.StripRealm,
		DomainMap:          r.DomainMap,
	}
	// Resolved for tools too: twostepctl looks users up in the directory.
	pw := v.secret(p+".bind_password", false, 0, dir, env)
	c.BindPassword = string(pw)
	check := c
	if pw == nil && v.givenSecret(p+".bind_password") {
		check.BindPassword = unresolved
	}
	var ce *directory.LDAPConfigError
	if err := check.Validate(); errors.As(err, &ce) {
		for _, problem := range ce.Problems {
			field, msg := ldapField(problem)
			v.add(p+field, "%s", msg)
		}
	}
	return c
}

// ldapYAML maps LDAPConfig field names, as the directory package's
// problems start, to their keys in the file.
var ldapYAML = map[string]string{
	"Preset": "preset", "URLs": "urls", "BindDN": "bind_dn", "BindPassword": "bind_password", "BaseDN": "base_dn",
	"UserFilter": "user_filter", "UserAttribute": "user_attribute", "GroupBaseDN": "group_base_dn",
	"GroupNameAttribute": "group_name_attribute", "MemberOfAttribute": "member_of_attribute",
	"GroupDepth": "group_depth", "StartTLS": "start_tls", "CAFile": "ca_file", "CertFile": "cert_file",
	"KeyFile": "key_file", "AllowPlaintext": "allow_plaintext", "InsecureSkipVerify": "insecure_skip_verify", "ServerName": "server_name", "DialTimeout": "dial_timeout",
	"OpTimeout": "op_timeout", "SearchPoolSize": "search_pool_size", "BindPoolSize": "bind_pool_size",
	"CacheTTL": "cache_ttl", "CacheSize": "cache_size", "DomainMap": "domain_map",
}

var (
	ldapProblemRE = regexp.MustCompile(`^([A-Za-z]+)(\[\d+\])?`)
	ldapNameRE    = regexp.MustCompile(`\b[A-Z][A-Za-z]+\b`)
)

// ldapField splits "URLs[1] \"x\": bad scheme" into (".urls[1]", the
// message with the file's key names).
func ldapField(problem string) (string, string) {
	m := ldapProblemRE.FindStringSubmatch(problem)
	if m == nil {
		return "", problem
	}
	key, ok := ldapYAML[m[1]]
	if !ok {
		return "", problem
	}
	msg := strings.TrimLeft(strings.TrimPrefix(problem, m[0]), ": ")
	msg = ldapNameRE.ReplaceAllStringFunc(msg, func(w string) string {
		if y, ok := ldapYAML[w]; ok {
			return y
		}
		return w
	})
	return "." + key + m[2], msg
}
