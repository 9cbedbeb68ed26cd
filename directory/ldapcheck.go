package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"twostep/confcheck"
	"twostep/directory/ldapclient"
)

// The steps of CheckLDAP, in the order each server goes through them.
const (
	// StepConnect: a TCP connection to the server's address.
	StepConnect = "connect"
	// StepTLS: the TLS handshake (ldaps:// or StartTLS) and the server's
	// certificate checked against ca_file (or the system's roots).
	StepTLS = "tls"
	// StepBind: the bind as the service account (bind_dn).
	StepBind = "bind"
	// StepSearch: the base entry read, and a search with user_filter.
	StepSearch = "search"
	// StepGroups: a group search under group_base_dn.
	StepGroups = "groups"
)

// certRenewSoon is how long before its end a server certificate is
// reported as about to expire.
const certRenewSoon = 30 * 24 * time.Hour

// LDAPCheck is the outcome of one step of CheckLDAP on one server.
type LDAPCheck struct {
	// URL is the server, as configured.
	URL string
	// Step is one of StepConnect, StepTLS, StepBind, StepSearch,
	// StepGroups.
	Step string
	// Detail says what was found, or what went wrong; never a password.
	Detail string
	// Failed marks a step that did not pass; the server's later steps
	// are not run.
	Failed bool
	// Weak marks a step that passed with a weakness (no TLS beyond
	// loopback, a certificate not checked or about to expire, a search
	// that finds nothing).
	Weak bool
	// Key is the setting of the directory.ldap section to look at
	// ("bind_password", "ca_file"), "" when the server itself is at
	// fault; Hint says what to do. Both are set for a failed or weak
	// step.
	Key, Hint string
}

// CheckLDAP checks each server of cfg in turn, one step after another
// (connect, tls, bind, search, groups), each bounded by timeout and by
// op_timeout, and calls report as each step completes. With user (a name
// as a user types it) the search looks that user up and the groups step
// lists the user's groups, as a login would; without, the search counts
// the entries user_filter matches for any name and the groups step looks
// for any group, so a check needs no account. A failed step ends the
// checks of its server. The error is for a configuration NewLDAP refuses.
// opts are NewLDAP's (the clock that judges certificates' expiry).
func CheckLDAP(ctx context.Context, cfg LDAPConfig, user string, timeout time.Duration, report func(LDAPCheck), opts ...LDAPOption) error {
	l, err := NewLDAP(cfg, opts...)
	if err != nil {
		return err
	}
	defer l.Close()
	for _, s := range l.dial.Servers {
		l.checkServer(ctx, s, user, timeout, func(c LDAPCheck) bool {
			c.URL = s.URL()
			report(c)
			return !c.Failed
		})
	}
	return nil
}

// checkServer runs the steps on s; emit reports one and says whether the
// next may run.
func (l *LDAP) checkServer(ctx context.Context, s *ldapclient.Server, user string, timeout time.Duration, emit func(LDAPCheck) bool) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	var nd net.Dialer
	nc, err := nd.DialContext(sctx, "tcp", s.Addr())
	cancel()
	if err != nil {
		emit(LDAPCheck{Step: StepConnect, Failed: true, Detail: fmt.Sprintf("cannot connect to %s: %v", s.Addr(), err),
			Key: "urls", Hint: "check that the server runs and listens at that address, and the firewalls between"})
		return
	}
	nc.Close()
	if !emit(LDAPCheck{Step: StepConnect, Detail: "TCP connection to " + s.Addr()}) {
		return
	}

	sctx, cancel = context.WithTimeout(ctx, timeout)
	c, err := l.dial.DialServer(sctx, s)
	cancel()
	if err != nil {
		emit(tlsFailure(err))
		return
	}
	defer c.Close()
	if !emit(l.tlsCheck(s, c)) || !emit(l.bindCheck(ctx, c, timeout)) {
		return
	}
	u, search := l.searchCheck(ctx, c, user, timeout)
	if !emit(search) {
		return
	}
	emit(l.groupsCheck(ctx, c, u, timeout))
}

// tlsFailure explains a dial that reached the server but failed: almost
// always its certificate.
func tlsFailure(err error) LDAPCheck {
	c := LDAPCheck{Step: StepTLS, Failed: true}
	var (
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		c.Detail = fmt.Sprintf("the server's certificate is not signed by a CA this host trusts: %v", err)
		c.Key, c.Hint = "ca_file", "set ca_file to the PEM certificate of the CA that signed the server's certificate"
	case errors.As(err, &host):
		c.Detail = fmt.Sprintf("the server's certificate is not for this name: %v", err)
		c.Key, c.Hint = "server_name", "name the server in urls as its certificate does, or set server_name to a name it holds"
	case errors.As(err, &invalid):
		c.Detail = fmt.Sprintf("the server's certificate is not valid: %v", err)
		c.Hint = "renew the server's certificate, or check this host's clock"
	default:
		c.Detail = fmt.Sprintf("no TLS session: %v", err)
		c.Key, c.Hint = "urls", "check the scheme (ldaps:// for TLS from the start, start_tls for ldap://) and the server's TLS set-up"
	}
	return c
}

// tlsCheck describes the connection's TLS, or its absence.
func (l *LDAP) tlsCheck(s *ldapclient.Server, c *ldapclient.Conn) LDAPCheck {
	st, ok := c.TLSState()
	if !ok {
		if confcheck.Loopback(s.Host()) {
			return LDAPCheck{Step: StepTLS, Detail: "none: ldap:// to loopback, passwords stay on this host"}
		}
		return LDAPCheck{Step: StepTLS, Weak: true, Detail: "none: users' passwords cross the network in clear (allow_plaintext)",
			Key: "urls", Hint: "use ldaps:// or start_tls: true, then remove allow_plaintext"}
	}
	how := "ldaps://"
	if !s.TLS() {
		how = "StartTLS"
	}
	detail := fmt.Sprintf("%s, %s", how, tls.VersionName(st.Version))
	if len(st.PeerCertificates) == 0 {
		return LDAPCheck{Step: StepTLS, Detail: detail}
	}
	cert := st.PeerCertificates[0]
	detail += fmt.Sprintf(", certificate %q issued by %q, valid until %s", cert.Subject.CommonName, cert.Issuer.CommonName, cert.NotAfter.UTC().Format(time.DateOnly))
	switch left := cert.NotAfter.Sub(l.now()); {
	case l.cfg.InsecureSkipVerify:
		return LDAPCheck{Step: StepTLS, Weak: true, Detail: detail + ", NOT verified (insecure_skip_verify)",
			Key: "insecure_skip_verify", Hint: "set ca_file to the CA that signed the server's certificate and remove insecure_skip_verify: anybody in the path can read users' passwords"}
	case left < certRenewSoon:
		return LDAPCheck{Step: StepTLS, Weak: true, Detail: fmt.Sprintf("%s, verified; it expires in %d days", detail, int(left.Hours()/24)),
			Hint: "renew the server's certificate before it expires: logins fail from then on"}
	}
	return LDAPCheck{Step: StepTLS, Detail: detail + ", verified"}
}

// stepTimeout is the budget of one LDAP operation of a check.
func (l *LDAP) stepTimeout(timeout time.Duration) time.Duration {
	return min(timeout, l.cfg.OpTimeout)
}

// bindCheck binds c as the service account.
func (l *LDAP) bindCheck(ctx context.Context, c *ldapclient.Conn, timeout time.Duration) LDAPCheck {
	if l.cfg.BindDN == "" {
		return LDAPCheck{Step: StepBind, Detail: "none: anonymous searches (no bind_dn)"}
	}
	err := ldapclient.WithTimeout(ctx, c, l.stepTimeout(timeout), func() error { return l.bindService(c) })
	switch {
	case err == nil:
		return LDAPCheck{Step: StepBind, Detail: fmt.Sprintf("bound as %s", l.cfg.BindDN)}
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return LDAPCheck{Step: StepBind, Failed: true, Detail: fmt.Sprintf("the server refused %s: invalid credentials", l.cfg.BindDN),
			Key: "bind_password", Hint: "set bind_password (or bind_password_file, bind_password_env) to the service account's password, and check that bind_dn names it"}
	case ldapclient.IsResult(err):
		return LDAPCheck{Step: StepBind, Failed: true, Detail: err.Error(),
			Key: "bind_dn", Hint: "the server refused the service account: check bind_dn and the account in the directory"}
	}
	return LDAPCheck{Step: StepBind, Failed: true, Detail: err.Error(),
		Hint: "the server did not answer the bind in time: check its load and its log"}
}

// searchCheck reads the base entry and finds user, or any user. The user
// found, if any, goes on to the groups step.
func (l *LDAP) searchCheck(ctx context.Context, c *ldapclient.Conn, user string, timeout time.Duration) (*ldapUser, LDAPCheck) {
	op := l.stepTimeout(timeout)
	err := ldapclient.WithTimeout(ctx, c, op, func() error {
		_, err := c.Search(ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
	if err != nil {
		return nil, searchFailure("base_dn", fmt.Sprintf("base_dn %s: %v", l.cfg.BaseDN, err), err)
	}
	if user != "" {
		name, ok := normalizeUsername(&l.cfg, user)
		if !ok || !validLDAPUsername(name) {
			return nil, LDAPCheck{Step: StepSearch, Failed: true, Detail: fmt.Sprintf("%q is not a name this directory takes (domain_map, strip_realm)", user),
				Key: "domain_map", Hint: "give a user name as users type it"}
		}
		sctx, cancel := context.WithTimeout(ctx, op)
		u, err := l.findUser(sctx, c, name)
		cancel()
		switch {
		case err != nil:
			return nil, searchFailure("user_filter", err.Error(), err)
		case u == nil:
			return nil, LDAPCheck{Step: StepSearch, Failed: true, Detail: fmt.Sprintf("no entry under %s matches user_filter for %q", l.cfg.BaseDN, name),
				Key: "user_filter", Hint: "check base_dn and user_filter (%s stands for the user name), and the spelling of the name"}
		}
		return u, LDAPCheck{Step: StepSearch, Detail: fmt.Sprintf("found %q: %s", u.name, u.dn)}
	}
	// Any name: the filter with a presence test in place of each %s.
	filter := strings.ReplaceAll(l.cfg.UserFilter, "%s", "*")
	var res *ldap.SearchResult
	err = ldapclient.WithTimeout(ctx, c, op, func() error {
		var err error
		res, err = c.Search(ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false, filter, []string{l.cfg.UserAttribute}, nil))
		return err
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return nil, searchFailure("user_filter", fmt.Sprintf("search %s: %v", filter, err), err)
	}
	if res == nil || len(res.Entries) == 0 {
		return nil, LDAPCheck{Step: StepSearch, Weak: true, Detail: fmt.Sprintf("user_filter finds nobody under %s", l.cfg.BaseDN),
			Key: "user_filter", Hint: "check base_dn and user_filter, and that the service account may read users (the server's ACLs)"}
	}
	e := res.Entries[0]
	return nil, LDAPCheck{Step: StepSearch, Detail: fmt.Sprintf("base_dn readable; user_filter finds users (%s %q)", l.cfg.UserAttribute, e.GetAttributeValue(l.cfg.UserAttribute))}
}

// searchFailure explains a failed search; key is the setting it
// concerns when the server answered.
func searchFailure(key, detail string, err error) LDAPCheck {
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return LDAPCheck{Step: StepSearch, Failed: true, Detail: detail, Key: "base_dn", Hint: "base_dn names no entry of this server: check its spelling"}
	case ldapclient.IsResult(err):
		return LDAPCheck{Step: StepSearch, Failed: true, Detail: detail, Key: key, Hint: "the server refused the search: check the setting and the service account's rights (the server's ACLs)"}
	}
	return LDAPCheck{Step: StepSearch, Failed: true, Detail: detail, Hint: "the server did not answer the search in time: check its load and its log"}
}

// anyGroupFilter finds a group of the kinds the group search reads.
const (
	anyGroupFilter   = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	adAnyGroupFilter = "(objectCategory=group)"
)

// groupsCheck reads u's groups, or looks for any group without u.
func (l *LDAP) groupsCheck(ctx context.Context, c *ldapclient.Conn, u *ldapUser, timeout time.Duration) LDAPCheck {
	sctx, cancel := context.WithTimeout(ctx, l.stepTimeout(timeout))
	defer cancel()
	if u != nil {
		groups, err := l.groups(sctx, c, u)
		if err != nil {
			return groupsFailure(err)
		}
		if len(groups) == 0 {
			return LDAPCheck{Step: StepGroups, Detail: fmt.Sprintf("%q is in no group", u.name)}
		}
		return LDAPCheck{Step: StepGroups, Detail: fmt.Sprintf("%q is in %s", u.name, strings.Join(groups, ", "))}
	}
	if !l.cfg.groupSearch() {
		return LDAPCheck{Step: StepGroups, Detail: fmt.Sprintf("group search off: groups come from %s only", l.cfg.MemberOfAttribute)}
	}
	filter := anyGroupFilter
	if l.ad() {
		filter = adAnyGroupFilter
	}
	var res *ldap.SearchResult
	err := ldapclient.WithTimeout(sctx, c, l.stepTimeout(timeout), func() error {
		var err error
		res, err = c.Search(ldap.NewSearchRequest(l.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false, filter, []string{l.cfg.GroupNameAttribute}, nil))
		return err
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return groupsFailure(err)
	}
	if res == nil || len(res.Entries) == 0 {
		return LDAPCheck{Step: StepGroups, Weak: true, Detail: fmt.Sprintf("no group under %s", l.cfg.GroupBaseDN),
			Key: "group_base_dn", Hint: "policy rules by group match nobody: check group_base_dn, or set group_search: false when groups come from memberOf only"}
	}
	return LDAPCheck{Step: StepGroups, Detail: fmt.Sprintf("groups found under %s (%s %q)", l.cfg.GroupBaseDN, l.cfg.GroupNameAttribute, res.Entries[0].GetAttributeValue(l.cfg.GroupNameAttribute))}
}

// groupsFailure explains a failed group search.
func groupsFailure(err error) LDAPCheck {
	c := LDAPCheck{Step: StepGroups, Failed: true, Detail: err.Error()}
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		c.Key, c.Hint = "group_base_dn", "group_base_dn names no entry of this server: check its spelling"
	case ldapclient.IsResult(err):
		c.Key, c.Hint = "group_base_dn", "the server refused the group search: check group_base_dn and the service account's rights"
	default:
		c.Hint = "the server did not answer the group search in time: check its load and its log"
	}
	return c
}
