package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"twostep/confcheck"
	"twostep/directory/ldapclient"
)

// LDAPConfig configures the LDAP backend: the directory.ldap section of
// the configuration file, each setting under its yaml key. The zero value
// of each field other than URLs and BaseDN is a working default, given in
// its comment. Validate reports every problem under the file's keys.
type LDAPConfig struct {
	// URLs of the directory servers, tried in order: ldap://host[:389] or
	// ldaps://host[:636]. At least one.
	URLs []string `yaml:"urls"`
	// BindDN and BindPassword are the service account that searches for
	// users. Both empty: anonymous search. The configuration file gives
	// the password as bind_password, bind_password_file or
	// bind_password_env (configs resolves it).
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password" config:"secret"`
	// BaseDN is where users are searched (subtree). Required.
	BaseDN string `yaml:"base_dn"`
	// Preset chooses the defaults for a kind of directory; each field it
	// sets can still be given. Default "openldap".
	//
	// "openldap": the defaults written in each field's comment; groups
	// are found through memberOf and a search of groupOfNames,
	// groupOfUniqueNames and posixGroup, nested up to GroupDepth; the
	// password policy control tells locked accounts and expired
	// passwords.
	//
	// "ad" (Active Directory, Samba AD): UserFilter
	// (&(objectCategory=person)(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s))),
	// UserAttribute sAMAccountName; groups through memberOf and one search
	// (member:1.2.840.113556.1.4.1941:=<user DN>) that AD resolves with all
	// nesting (with GroupDepth negative, direct members only), named by
	// GroupNameAttribute (cn); no posixGroup search. The bind's sub-code
	// (data 52e, 533, 775...) tells the reason of a refusal, and after a
	// successful bind userAccountControl, accountExpires and lockoutTime
	// are checked too (for directories that copy them without enforcing
	// them). Disabled, expired and password-expired states are therefore
	// only told to the right password; AD itself answers 775 (locked) to
	// any password.
	Preset string `yaml:"preset"`
	// UserFilter finds a user; every %s is replaced by the escaped
	// username, and there must be at least one. Default (OpenLDAP):
	// (&(objectClass=inetOrgPerson)(uid=%s)); see Preset for AD's.
	UserFilter string `yaml:"user_filter"`
	// UserAttribute holds the canonical username returned in Result.User.Name
	// and matched by posixGroup memberUid. Default uid (AD:
	// sAMAccountName).
	UserAttribute string `yaml:"user_attribute"`

	// GroupBaseDN is where groups are searched (subtree). Default BaseDN.
	GroupBaseDN string `yaml:"group_base_dn"`
	// GroupNameAttribute names a group in Result.User.Groups. Default cn.
	GroupNameAttribute string `yaml:"group_name_attribute"`
	// MemberOfAttribute on a user entry lists the DNs of its groups when
	// the directory keeps one (OpenLDAP memberof overlay, AD). Its values
	// are added to the groups found by search. Default memberOf.
	MemberOfAttribute string `yaml:"member_of_attribute"`
	// GroupSearch false skips the group search (groupOfNames member,
	// groupOfUniqueNames uniqueMember, posixGroup memberUid; AD: the
	// in-chain member search), leaving only MemberOfAttribute. Default
	// (nil) and true: search.
	GroupSearch *bool `yaml:"group_search"`
	// GroupDepth is how many levels of groups within groups are followed.
	// Default 0 means 8; a negative value follows none. AD resolves
	// nesting itself, to any depth, unless GroupDepth is negative.
	GroupDepth int `yaml:"group_depth"`

	// StartTLS upgrades ldap:// connections with StartTLS before anything
	// else is sent. Default false. ldaps:// URLs use TLS from the start.
	StartTLS bool `yaml:"start_tls"`
	// CAFile holds PEM certificates of the CAs that sign the servers'
	// certificates. Default: the system's roots.
	CAFile string `yaml:"ca_file" config:"path"`
	// CertFile and KeyFile are a PEM client certificate and key presented
	// to servers that ask for one. Default: none.
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
	// ServerName is checked against the servers' certificates. Default:
	// the host of each URL.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only:
	// it makes TLS worthless against an active attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// AllowPlaintext permits ldap:// without StartTLS to a server that is
	// not on loopback. Default false: every user bind carries the user's
	// password, which must not cross a network in clear.
	AllowPlaintext bool `yaml:"allow_plaintext"`

	// DialTimeout bounds connecting to one server (TCP and TLS). Default
	// 3s.
	DialTimeout time.Duration `yaml:"dial_timeout"`
	// OpTimeout bounds each LDAP operation (bind, search), a request's
	// wait for a pooled connection, and Ping's whole exchange. Default 5s.
	// The request context's deadline shortens it.
	OpTimeout time.Duration `yaml:"op_timeout"`
	// SearchPoolSize and BindPoolSize are the most connections of each
	// kind in use at once, and kept idle. Default 8 each.
	SearchPoolSize int `yaml:"search_pool_size"`
	BindPoolSize   int `yaml:"bind_pool_size"`
	// CacheTTL is how long a user's DN and groups are reused without a
	// search. Password results are never cached. Default 0: no cache.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize bounds the number of cached users. Default 10000.
	CacheSize int `yaml:"cache_size"`

	// StripRealm turns alice@example.edu and EXAMPLE\alice into alice.
	// Default false.
	StripRealm bool `yaml:"strip_realm"`
	// DomainMap maps the domain a user types (EXAMPLE in EXAMPLE\alice,
	// example.edu in alice@example.edu; compared without case) to the realm
	// it stands for. When not empty, a name with a domain not in the map is
	// an unknown user, and without StripRealm the name searched for is
	// user@realm. Default: empty (the name is searched for as typed unless
	// StripRealm).
	DomainMap map[string]string `yaml:"domain_map"`
}

// groupSearch reports whether groups are searched for (GroupSearch).
func (c *LDAPConfig) groupSearch() bool { return c.GroupSearch == nil || *c.GroupSearch }

// Defaults of LDAPConfig.
const (
	defaultUserFilter     = "(&(objectClass=inetOrgPerson)(uid=%s))"
	defaultUserAttribute  = "uid"
	defaultGroupName      = "cn"
	defaultMemberOf       = "memberOf"
	defaultGroupDepth     = 8
	defaultLDAPDial       = 3 * time.Second
	defaultLDAPOp         = 5 * time.Second
	defaultLDAPPool       = 8
	defaultLDAPCacheUsers = 10000
)

// withDefaults returns c with zero values replaced by the defaults of its
// preset.
func (c LDAPConfig) withDefaults() LDAPConfig {
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.Preset, PresetOpenLDAP)
	if c.Preset == PresetActiveDirectory {
		set(&c.UserFilter, adUserFilter)
		set(&c.UserAttribute, adUserAttribute)
	}
	set(&c.UserFilter, defaultUserFilter)
	set(&c.UserAttribute, defaultUserAttribute)
	set(&c.GroupBaseDN, c.BaseDN)
	set(&c.GroupNameAttribute, defaultGroupName)
	set(&c.MemberOfAttribute, defaultMemberOf)
	if c.GroupDepth == 0 {
		c.GroupDepth = defaultGroupDepth
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultLDAPDial
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = defaultLDAPOp
	}
	if c.SearchPoolSize == 0 {
		c.SearchPoolSize = defaultLDAPPool
	}
	if c.BindPoolSize == 0 {
		c.BindPoolSize = defaultLDAPPool
	}
	if c.CacheSize == 0 {
		c.CacheSize = defaultLDAPCacheUsers
	}
	return c
}

// validate checks c (with defaults applied) and returns the parsed
// servers and TLS configuration, or the problems, each under its key.
func (c *LDAPConfig) validate() ([]*ldapclient.Server, *tls.Config, confcheck.Problems) {
	var ps confcheck.Problems
	servers, anyPlain := c.servers(&ps)
	checkDN := func(field, dn string, required bool) {
		if dn == "" {
			if required {
				ps.Add(field, "required")
			}
			return
		}
		if _, err := ldap.ParseDN(dn); err != nil {
			ps.Add(field, "%q: %v", dn, err)
		}
	}
	checkDN("base_dn", c.BaseDN, true)
	checkDN("group_base_dn", c.GroupBaseDN, false)
	checkDN("bind_dn", c.BindDN, false)
	if c.BindDN == "" && c.BindPassword != "" {
		ps.Add("bind_password", "set without bind_dn")
	}
	if c.BindDN != "" && c.BindPassword == "" {
		ps.Add("bind_dn", "set without bind_password (an empty password is an anonymous bind)")
	}
	if c.Preset != PresetOpenLDAP && c.Preset != PresetActiveDirectory {
		ps.Add("preset", "%q: want %q or %q", c.Preset, PresetOpenLDAP, PresetActiveDirectory)
	}
	if !strings.Contains(c.UserFilter, "%s") {
		ps.Add("user_filter", "%q: want at least one %%s for the username", c.UserFilter)
	} else if _, err := ldap.CompileFilter(ldapFilter(c.UserFilter, "x")); err != nil {
		ps.Add("user_filter", "%q: %v", c.UserFilter, err)
	}
	for _, a := range []struct{ field, attr string }{
		{"user_attribute", c.UserAttribute}, {"group_name_attribute", c.GroupNameAttribute},
		{"member_of_attribute", c.MemberOfAttribute},
	} {
		if strings.ContainsAny(a.attr, "()=*\\ ,") {
			ps.Add(a.field, "%q: not an attribute name", a.attr)
		}
	}
	for _, d := range []struct {
		field string
		d     time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"op_timeout", c.OpTimeout}, {"cache_ttl", c.CacheTTL}} {
		if d.d < 0 {
			ps.Add(d.field, "negative (%v)", d.d)
		}
	}
	for _, n := range []struct {
		field string
		n     int
	}{{"search_pool_size", c.SearchPoolSize}, {"bind_pool_size", c.BindPoolSize}, {"cache_size", c.CacheSize}} {
		if n.n < 0 {
			ps.Add(n.field, "negative (%d)", n.n)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.DomainMap)) {
		v := c.DomainMap[k]
		if k == "" || v == "" || strings.ContainsAny(k, `\@`) || strings.ContainsAny(v, `\@`) {
			ps.Add(confcheck.Join("domain_map", k), "%q = %q: want a domain mapped to a realm, neither empty, without \\ or @", k, v)
		}
	}
	if c.StartTLS && !anyPlain && len(servers) > 0 {
		ps.Add("start_tls", "set but every URL is ldaps://")
	}

	tlsConf := c.tlsConfig(&ps)
	if len(ps) > 0 {
		return nil, nil, ps
	}
	return servers, tlsConf, nil
}

// servers parses c's URLs, adding their problems to ps; anyPlain is set
// when one of them is ldap://.
func (c *LDAPConfig) servers(ps *confcheck.Problems) (servers []*ldapclient.Server, anyPlain bool) {
	if len(c.URLs) == 0 {
		ps.Add("urls", "at least one server is needed")
	}
	for i, u := range c.URLs {
		field := fmt.Sprintf("urls[%d]", i)
		s, err := ldapclient.ParseURL(u)
		if err != nil {
			// Only the index: a URL may carry a password.
			ps.Add(field, "%v", err)
			continue
		}
		if !s.TLS() && !c.StartTLS && !c.AllowPlaintext && !confcheck.Loopback(s.Host()) {
			ps.Add(field, "ldap:// without start_tls sends users' passwords in clear; use ldaps://, start_tls, or allow_plaintext")
		}
		anyPlain = anyPlain || !s.TLS()
		servers = append(servers, s)
	}
	return servers, anyPlain
}

// tlsConfig returns the TLS configuration of c's connections, adding
// files that cannot be read to ps.
func (c *LDAPConfig) tlsConfig(ps *confcheck.Problems) *tls.Config {
	tlsConf := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // documented test-only switch
	}
	confcheck.TLSFiles(ps, tlsConf, c.CAFile, c.CertFile, c.KeyFile)
	return tlsConf
}

// LDAP is the LDAP backend: it finds a user's entry with the service
// account, binds as that entry with the user's password on a separate
// connection, and reads the user's groups. It is safe for concurrent use.
type LDAP struct {
	cfg    LDAPConfig
	dial   *ldapclient.Dialer
	search *ldapclient.Pool // bound as the service account
	bind   *ldapclient.Pool // rebound as each user in turn
	cache  *userCache
	now    func() time.Time
	m      *Metrics // nil: nothing counted
	// bindControls go with every user bind, encoded once: the password
	// policy request control, so that slapd's ppolicy tells locked and
	// expired accounts.
	bindControls []byte

	// healthy is what Healthy reports: set true only by a Ping that
	// completed, set false by a failed Ping and by a login that met a
	// failure of the directory's own (noteFailure).
	healthy atomic.Bool
	// searches counts user and group searches, so tests can see the cache
	// at work.
	searches atomic.Int64
}

// LDAPOption changes how NewLDAP builds the backend.
type LDAPOption func(*LDAP)

// WithLDAPClock sets the clock for the cache and server retry (default
// time.Now).
func WithLDAPClock(now func() time.Time) LDAPOption {
	return func(l *LDAP) { l.now = now }
}

// WithLDAPMetrics counts the backend's requests on m, and has m report
// its pools and servers.
func WithLDAPMetrics(m *Metrics) LDAPOption {
	return func(l *LDAP) { l.m = m }
}

// NewLDAP checks cfg and returns the backend. It does not connect:
// connections are opened when first needed, so a directory that is down
// at start does not stop the daemon. Call Ping to check it; Healthy is
// false until a Ping succeeds.
func NewLDAP(cfg LDAPConfig, opts ...LDAPOption) (*LDAP, error) {
	cfg = cfg.withDefaults()
	servers, tlsConf, problems := cfg.validate()
	if problems != nil {
		return nil, fmt.Errorf("directory: LDAP configuration: %w", problems)
	}
	l := &LDAP{
		cfg:          cfg,
		now:          time.Now,
		bindControls: ldapclient.EncodeControls([]ldap.Control{ldap.NewControlBeheraPasswordPolicy()}),
	}
	for _, o := range opts {
		o(l)
	}
	l.dial = &ldapclient.Dialer{
		Servers:     servers,
		TLS:         tlsConf,
		StartTLS:    cfg.StartTLS,
		DialTimeout: cfg.DialTimeout,
		OpTimeout:   cfg.OpTimeout,
		Now:         l.now,
	}
	l.search = ldapclient.NewPool("search", cfg.SearchPoolSize, cfg.OpTimeout, l.openSearch)
	l.bind = ldapclient.NewPool("bind", cfg.BindPoolSize, cfg.OpTimeout, l.dial.Dial)
	l.cache = newUserCache(cfg.CacheTTL, cfg.CacheSize, l.now)
	l.m.watch(l)
	return l, nil
}

// openSearch opens a search connection bound as the service account. A
// dial that succeeds says nothing of health: a server stopped with
// SIGSTOP, or one that refuses the service account, still accepts TCP.
func (l *LDAP) openSearch(ctx context.Context) (*ldapclient.Conn, error) {
	c, err := l.dial.Dial(ctx)
	if err != nil || l.cfg.BindDN == "" {
		return c, err
	}
	err = ldapclient.WithTimeout(ctx, c, l.cfg.OpTimeout, func() error { return l.bindService(c) })
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// errServiceBind marks a failed bind as the service account: a wrong
// password or a locked account is an answer from the server, but one that
// stops every login.
var errServiceBind = errors.New("directory: bind as service account")

// bindService binds c as the service account. After a failure c is
// anonymous, and its caller must close it rather than pool it.
func (l *LDAP) bindService(c *ldapclient.Conn) error {
	if _, err := c.Bind(l.cfg.BindDN, l.cfg.BindPassword, nil); err != nil {
		return fmt.Errorf("%w %q: %w", errServiceBind, l.cfg.BindDN, err)
	}
	return nil
}

// Close closes idle connections; later calls of Authenticate fail.
func (l *LDAP) Close() error {
	l.search.Close()
	l.bind.Close()
	return nil
}

// Healthy reports whether the last Ping succeeded and no login since met
// a failure of the directory's own (no server reachable, a connection
// that broke or timed out, no pooled connection free within OpTimeout, a
// refused service account). It is false until the first Ping succeeds:
// only a completed exchange with a server says it answers.
func (l *LDAP) Healthy() bool { return l.healthy.Load() }

// Ping checks that a directory server completes an exchange as the
// service account, within OpTimeout all told: a bind (unless the search
// is anonymous) and a read of the base entry, on a pooled search
// connection. The bind is made on every Ping, on idle connections too,
// so that a service password changed in the directory shows at once,
// not only when a connection is next opened. Ping sets Healthy.
func (l *LDAP) Ping(ctx context.Context) (err error) {
	defer func(start time.Time) { l.m.observe(ctx, opPing, start, err, false, nil) }(time.Now())
	ctx, cancel := context.WithTimeout(ctx, l.cfg.OpTimeout)
	defer cancel()
	err = l.search.Do(ctx, func(c *ldapclient.Conn) error {
		return ldapclient.WithTimeout(ctx, c, l.cfg.OpTimeout, func() error {
			if l.cfg.BindDN != "" {
				if err := l.bindService(c); err != nil {
					c.Close()
					return err
				}
			}
			_, err := c.Search(ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeBaseObject,
				ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
			return err
		})
	})
	l.healthy.Store(err == nil)
	if err != nil {
		return fmt.Errorf("directory: ping: %w", err)
	}
	return nil
}

// noteFailure marks the directory unhealthy after a login failed for a
// reason of the directory's own. An answer to the login's request (a
// result code, two entries for one name) leaves Healthy alone, and so
// does a failure after the caller's own deadline or cancellation, which
// may have been spent elsewhere: the next Ping judges those.
func (l *LDAP) noteFailure(ctx context.Context, err error) {
	switch {
	case ldapclient.Ended(ctx):
	case errors.Is(err, errServiceBind):
		// An answer, but one that stops every login.
		l.healthy.Store(false)
	case errors.Is(err, ErrAmbiguousUser), errors.Is(err, ldapclient.ErrClosed), ldapclient.IsResult(err):
	default:
		l.healthy.Store(false)
	}
}

// ErrAmbiguousUser is returned when more than one entry matches a
// username: the configuration or the directory needs fixing, and picking
// one could log a user in as another.
var ErrAmbiguousUser = errors.New("directory: more than one LDAP entry matches the username")

// Authenticate checks username and password against the directory. A
// wrong password, an unknown user and a locked account are Results; the
// error is for a directory that could not answer. Names that are empty,
// too long, not UTF-8 or contain NUL are UnknownUser, and an empty
// password is BadPassword, without any LDAP traffic.
func (l *LDAP) Authenticate(ctx context.Context, username, password string) (res Result, err error) {
	defer func(start time.Time) {
		l.m.observe(ctx, opAuthenticate, start, err, res.Status != OK, func() string { return statusDetail(res) })
	}(time.Now())
	if !validLDAPUsername(username) {
		return Result{Status: UnknownUser}, nil
	}
	name, ok := normalizeUsername(&l.cfg, username)
	if !ok || !validLDAPUsername(name) {
		return Result{Status: UnknownUser}, nil
	}
	if password == "" {
		// A simple bind with an empty password is an unauthenticated bind,
		// which servers answer with success.
		return Result{Status: BadPassword}, nil
	}
	u, err := l.lookup(ctx, name)
	if err != nil {
		l.noteFailure(ctx, err)
		return Result{}, err
	}
	if u == nil {
		return Result{Status: UnknownUser}, nil
	}
	st, err := l.checkPassword(ctx, u.dn, password)
	if err != nil {
		l.noteFailure(ctx, err)
		return Result{}, err
	}
	if st == OK && l.ad() {
		// Only now that the password is proven: the entry's state is not
		// for a guesser. AD refuses such binds itself; this catches
		// directories that only copy AD's attributes.
		st = u.ad.status(l.now())
	}
	if st != OK {
		// The entry may have moved or changed: look it up afresh next time.
		l.cache.forget(name)
		return Result{Status: st, User: User{Name: u.name}}, nil
	}
	return Result{Status: OK, User: User{Name: u.name, Groups: append([]string(nil), u.groups...)}}, nil
}

// ldapUser is what a lookup finds, and what the cache keeps.
type ldapUser struct {
	dn     string
	name   string
	groups []string
	// memberOf holds the entry's memberOf DNs between search and groups.
	memberOf []string
	// ad is the account state the entry showed (AD preset only).
	ad adAccount
}

// lookup finds the user's entry and groups, from the cache if fresh. A nil
// user with a nil error is no such user.
func (l *LDAP) lookup(ctx context.Context, name string) (*ldapUser, error) {
	if u, ok := l.cache.get(name); ok {
		observeCached(ctx, u)
		return u, nil
	}
	var u *ldapUser
	err := l.search.Do(ctx, func(c *ldapclient.Conn) error {
		var err error
		u, err = l.findUser(ctx, c, name)
		if err != nil || u == nil {
			return err
		}
		start := time.Now()
		u.groups, err = l.groups(ctx, c, u)
		l.m.observe(ctx, opGroups, start, err, false, func() string { return groupList(u.groups) })
		u.memberOf = nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if u != nil {
		l.cache.put(name, u)
	}
	return u, nil
}

// findUser searches for the one entry matching name.
func (l *LDAP) findUser(ctx context.Context, c *ldapclient.Conn, name string) (*ldapUser, error) {
	attrs := []string{l.cfg.UserAttribute}
	if l.cfg.MemberOfAttribute != "" {
		attrs = append(attrs, l.cfg.MemberOfAttribute)
	}
	if l.ad() {
		attrs = append(attrs, adStateAttributes...)
	}
	req := ldap.NewSearchRequest(l.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, ldapFilter(l.cfg.UserFilter, name), attrs, nil)
	var res *ldap.SearchResult
	start := time.Now()
	err := ldapclient.WithTimeout(ctx, c, l.cfg.OpTimeout, func() error {
		l.searches.Add(1)
		var err error
		res, err = c.Search(req)
		return err
	})
	l.m.observe(ctx, opSearch, start, err, false, func() string { return searchDetail(res) })
	if res != nil && len(res.Entries) > 1 {
		return nil, fmt.Errorf("%w: %q", ErrAmbiguousUser, name)
	}
	if err != nil {
		return nil, fmt.Errorf("directory: search user %q: %w", name, err)
	}
	if len(res.Entries) == 0 {
		return nil, nil
	}
	e := res.Entries[0]
	u := &ldapUser{dn: e.DN, name: e.GetAttributeValue(l.cfg.UserAttribute)}
	if u.name == "" {
		u.name = name
	}
	if l.cfg.MemberOfAttribute != "" {
		u.memberOf = e.GetAttributeValues(l.cfg.MemberOfAttribute)
	}
	if l.ad() {
		u.ad = parseADAccount(e)
	}
	return u, nil
}

// ad reports whether the Active Directory preset is in use.
func (l *LDAP) ad() bool { return l.cfg.Preset == PresetActiveDirectory }

// checkPassword binds as dn with password on a bind connection.
func (l *LDAP) checkPassword(ctx context.Context, dn, password string) (st Status, err error) {
	defer func(start time.Time) {
		l.m.observe(ctx, opBind, start, err, st != OK, func() string { return "as " + dn + ": " + st.String() })
	}(time.Now())
	err = l.bind.Do(ctx, func(c *ldapclient.Conn) error {
		return ldapclient.WithTimeout(ctx, c, l.cfg.OpTimeout, func() error {
			res, err := c.Bind(dn, password, l.bindControls)
			st, err = bindStatus(res, err)
			return err
		})
	})
	if err != nil {
		return BadPassword, fmt.Errorf("directory: bind as %q: %w", dn, err)
	}
	return st, nil
}

// Password policy control errors (draft-behera-ldap-password-policy).
const (
	ppolicyPasswordExpired  = 0
	ppolicyAccountLocked    = 1
	ppolicyChangeAfterReset = 2
)

// bindStatus reads the outcome of a user bind. Invalid credentials are a
// wrong password unless the password policy control or an Active
// Directory sub-code says more; a successful bind may still carry a
// policy error (changeAfterReset: slapd lets the user in only to change
// the password). Any other failure is an error.
//
// slapd sends passwordExpired and changeAfterReset only once the password
// matched, but accountLocked to any password.
func bindStatus(res *ldap.SimpleBindResult, err error) (Status, error) {
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return BadPassword, err
	}
	if res != nil {
		for _, c := range res.Controls {
			pp, ok := c.(*ldap.ControlBeheraPasswordPolicy)
			if !ok {
				continue
			}
			switch pp.Error {
			case ppolicyPasswordExpired, ppolicyChangeAfterReset:
				return PasswordExpired, nil
			case ppolicyAccountLocked:
				return Locked, nil
			}
		}
	}
	if err == nil {
		return OK, nil
	}
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		if st, ok := adBindStatus(le.Err.Error()); ok {
			return st, nil
		}
	}
	return BadPassword, nil
}

// Validate checks c as NewLDAP would, without connecting (it reads the
// TLS files): every problem in one confcheck.Problems, each under its
// key. Configuration loaders call it to report problems before start-up.
func (c LDAPConfig) Validate() error {
	d := c.withDefaults()
	_, _, ps := d.validate()
	return ps.Err()
}

// Warnings lists the settings of c that weaken security, for start-up
// logs and -check.
func (c LDAPConfig) Warnings() []string {
	var w []string
	if c.InsecureSkipVerify {
		w = append(w, "insecure_skip_verify accepts any LDAP server certificate: users' passwords can be intercepted")
	}
	if c.AllowPlaintext {
		w = append(w, "allow_plaintext: users' passwords may cross the network in clear")
	}
	return w
}
