package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"twostep/cmd/twostep-bench/internal/peer"
)

// fileScenario is twostepd (users file) beside FreeRADIUS (files + pap)
// and the generator's ceiling, at every -concurrency.
func (s *suite) fileScenario(ctx context.Context) error {
	var targets []*target
	for _, name := range s.cfg.Servers {
		start := s.startFreeRADIUS
		if name == "twostepd" {
			start = s.startTwostepdFile
		}
		t, err := start(ctx)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	if s.cfg.Ceiling {
		t, err := s.startCeiling(ctx)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	reps, allAccepted, err := s.runAll(ctx, targets, s.cfg.Concurrency)
	stopTargets(targets)
	if err != nil {
		return err
	}
	table, err := compareTable(reps, s.fileNotes(), [2]string{"twostepd", "freeradius"})
	if err != nil {
		return err
	}
	return s.publish("file", "results", table, allAccepted)
}

// fileNotes are the file scenario's settings lines.
func (s *suite) fileNotes() []string {
	notes := []string{fmt.Sprintf("Password hash: {SSHA512} (SHA-512 over password and a 16-byte salt), the same %d hashes in both servers", s.cfg.Users)}
	for _, name := range s.cfg.Servers {
		switch name {
		case "freeradius":
			notes = append(notes, fmt.Sprintf("FreeRADIUS %s (Debian): PAP against the files module, a site cut down to files + pap, thread pool %d (start = max = spare), max_requests 1048576, cleanup_delay 5 s, Message-Authenticator required of the client and added to every answer",
				s.versions.freeRADIUS, s.cfg.FRThreads))
		case "twostepd":
			notes = append(notes, fmt.Sprintf("twostepd %s: file directory backend, radius.workers %d, duplicate_ttl 10s, log level warn, %s",
				s.versions.twostepd, s.cfg.TSWorkers, s.versions.goVersion))
		}
	}
	return append(notes,
		"Each target loaded alone, the others paused (SIGSTOP); ceiling = twostep-bench serve, a responder that checks the Message-Authenticator and accepts at once: the most this generator can drive on this machine",
		s.machineNote())
}

// ldapScenario checks the same passwords against slapd: FreeRADIUS with
// rlm_ldap, twostepd without and with its DN cache, and the ceilings
// slapd allows (search+bind, bind only).
func (s *suite) ldapScenario(ctx context.Context) error {
	if err := s.startSlapd(); err != nil {
		return err
	}
	users := s.path(usersForBench)
	s.say("slapd on %s; starting FreeRADIUS with rlm_ldap (%d threads, %d connections)", s.slapd.Addr(), s.cfg.FRLDAPThreads, s.cfg.FRLDAPPool)
	fr, err := s.startFreeRADIUSLDAP(ctx)
	if err != nil {
		return err
	}
	targets := []*target{fr}
	s.say("starting twostepd with the ldap backend (pools %d + %d; no cache, then cache_ttl %s)", s.cfg.TSLDAPPool, s.cfg.TSLDAPPool, s.cfg.TSLDAPCache)
	for _, c := range []struct{ label, ttl string }{{"twostepd-ldap", "0s"}, {"twostepd-ldap-cache", s.cfg.TSLDAPCache}} {
		t, err := s.startTwostepdLDAP(ctx, c.label, c.ttl)
		if err != nil {
			return err
		}
		targets = append(targets, t)
	}
	targets = append(targets, s.ldapCeiling("ceiling-search+bind", ldapModeSearchBind, users), s.ldapCeiling("ceiling-bind", ldapModeBind, users))
	reps, allAccepted, err := s.runAll(ctx, targets, []int{s.cfg.LDAPConcurrency})
	stopTargets(targets)
	if err != nil {
		return err
	}
	table, err := compareTable(reps, s.ldapNotes(),
		[2]string{"twostepd-ldap", "freeradius-ldap"}, [2]string{"twostepd-ldap-cache", "freeradius-ldap"},
		[2]string{"twostepd-ldap", "ceiling-search+bind"}, [2]string{"twostepd-ldap-cache", "ceiling-bind"})
	if err != nil {
		return err
	}
	return s.publish("ldap", "ldap", table, allAccepted)
}

// ldapNotes are the ldap scenario's settings lines.
func (s *suite) ldapNotes() []string {
	twoFA := ""
	if s.cfg.wants("2fa") || s.cfg.wants("history") {
		twoFA = fmt.Sprintf("; the 2fa scenario's %d users in the same database", s.cfg.TwoFAUsers)
	}
	return []string{
		fmt.Sprintf("Directory: OpenLDAP slapd %s (Debian) on 127.0.0.1, mdb, eq indexes on objectClass and uid, default 16 threads, no overlays, no TLS; the %d users as inetOrgPerson under ou=people with the same {SSHA512} userPassword hashes as the file scenario (pw-sha2 module%s); a service account that may read all but userPassword. The same slapd serves every row; its CPU is the *directory cores* column (and is not counted in *other cores*)",
			s.versions.slapd, s.cfg.Users, twoFA),
		fmt.Sprintf("FreeRADIUS %s (Debian) with rlm_ldap: the files scenario's configuration with files + pap replaced by ldap; authorize: ldap (search as the service account with filter (&(objectClass=inetOrgPerson)(uid=%%{User-Name})), no attribute map, no groups), then Auth-Type := LDAP; authenticate: Auth-Type LDAP (bind as the user's DN on a pool connection, which rlm_ldap binds back as the service before its next search); thread pool %d (start = max = spare), connection pool %d (start = min = max, uses 0, lifetime 0, idle_timeout 0)",
			s.versions.freeRADIUS, s.cfg.FRLDAPThreads, s.cfg.FRLDAPPool),
		fmt.Sprintf("twostepd %s: ldap directory backend, user_filter %s, group_search false, search_pool_size %d, bind_pool_size %d, radius.workers %d, log level warn, %s; twostepd-ldap: cache_ttl 0 (a search and a bind per request); twostepd-ldap-cache: cache_ttl %s (the DN cache warm after the warm-up: a bind per request)",
			s.versions.twostepd, ldapFilter, s.cfg.TSLDAPPool, s.cfg.TSLDAPPool, s.cfg.TSWorkers, s.versions.goVersion, s.cfg.TSLDAPCache),
		"Ceilings: twostep-bench ldap against the same slapd with the same concurrency (one LDAP connection per worker for binds, plus one bound as the service account for searches; one check in flight per worker): ceiling-search+bind searches for the user then binds as it, ceiling-bind binds only (DNs looked up before the run). Its server cores are slapd's; requests/s are password checks per second",
		"Each target loaded alone, the other RADIUS servers paused (SIGSTOP)",
		s.machineNote(),
	}
}

// startFreeRADIUS starts FreeRADIUS with the files module.
func (s *suite) startFreeRADIUS(ctx context.Context) (*target, error) {
	port, err := s.ports.Pick()
	if err != nil {
		return nil, err
	}
	s.say("starting FreeRADIUS %s on %s (%d threads)", s.versions.freeRADIUS, addr(port), s.cfg.FRThreads)
	f := peer.FreeRADIUS{Dir: s.path("raddb"), Port: port, Secret: s.secret, Threads: s.cfg.FRThreads, Authorize: s.path(usersForFreeRADIUS)}
	return s.runFreeRADIUS(ctx, "freeradius", f)
}

// startFreeRADIUSLDAP starts FreeRADIUS with rlm_ldap on the slapd.
func (s *suite) startFreeRADIUSLDAP(ctx context.Context) (*target, error) {
	port, err := s.ports.Pick()
	if err != nil {
		return nil, err
	}
	pw, err := readLine(s.slapd.PasswordFile)
	if err != nil {
		return nil, err
	}
	f := peer.FreeRADIUS{Dir: s.path("raddb-ldap"), Port: port, Secret: s.secret, Threads: s.cfg.FRLDAPThreads,
		LDAP: &peer.FreeRADIUSLDAP{Port: portOf(s.slapd.Addr()), BaseDN: peer.SlapdBase, Identity: s.slapd.ServiceDN, Password: pw, Pool: s.cfg.FRLDAPPool}}
	return s.runFreeRADIUS(ctx, "freeradius-ldap", f)
}

func (s *suite) runFreeRADIUS(ctx context.Context, label string, f peer.FreeRADIUS) (*target, error) {
	if err := f.Write(); err != nil {
		return nil, err
	}
	p, err := f.Start(ctx, s.frBin, s.path(label+".log"))
	if err != nil {
		return nil, err
	}
	t := s.radiusTarget(label, s.own(p), f.Port, s.path(usersForBench))
	return t, s.checkRADIUS(ctx, label, f.Port)
}

// startTwostepdFile starts twostepd with the users file, its own
// embedded etcd, and everyone exempt from the second factor.
func (s *suite) startTwostepdFile(ctx context.Context) (*target, error) {
	c, port, err := s.twostepdConfig("twostepd", peer.TwostepdDirectory{Backend: "file", File: &peer.TwostepdFile{Path: usersForTwostep}})
	if err != nil {
		return nil, err
	}
	s.say("starting twostepd on %s (%d workers)", addr(port), s.cfg.TSWorkers)
	return s.runTwostepd(ctx, "twostepd", c, port)
}

// startTwostepdLDAP starts twostepd with the ldap backend and cache_ttl
// ttl, its own embedded etcd, and everyone exempt.
func (s *suite) startTwostepdLDAP(ctx context.Context, label, ttl string) (*target, error) {
	c, port, err := s.twostepdConfig(label, s.ldapDirectory(ttl, 0))
	if err != nil {
		return nil, err
	}
	return s.runTwostepd(ctx, label, c, port)
}

// twostepdConfig is the configuration of a password-only twostepd: one
// client on 127.0.0.1 held to Message-Authenticator, policy exempt, its
// own embedded etcd (the file and ldap scenarios measure the password
// path), and the port it listens on.
func (s *suite) twostepdConfig(label string, dir peer.TwostepdDirectory) (peer.Twostepd, int, error) {
	ports := make([]int, 4) // RADIUS, metrics, etcd client, etcd peer
	for i := range ports {
		var err error
		if ports[i], err = s.ports.Pick(); err != nil {
			return peer.Twostepd{}, 0, err
		}
	}
	return peer.Twostepd{
		Log:       peer.TwostepdLog{Level: "warn"},
		Radius:    peer.TwostepdRadius{Listen: []string{addr(ports[0])}, Workers: s.cfg.TSWorkers, DuplicateTTL: "10s"},
		Clients:   []peer.TwostepdClient{{Name: "bench", Networks: []string{"127.0.0.1/32"}, Secret: s.secret, RequireMessageAuthenticator: true}},
		Directory: dir,
		Policy:    &peer.TwostepdPolicy{Default: "exempt"},
		Metrics:   &peer.TwostepdListen{Listen: addr(ports[1])},
		Cluster: peer.TwostepdCluster{SeedKeys: "seed.key", Embedded: &peer.TwostepdEmbedded{
			DataDir: "etcd-" + label, ClientURL: "http://" + addr(ports[2]), PeerURL: "http://" + addr(ports[3]),
		}},
	}, ports[0], nil
}

// ldapDirectory is twostepd's ldap backend on the slapd, as FreeRADIUS
// uses it: the same filter, no group lookups.
func (s *suite) ldapDirectory(cacheTTL string, cacheSize int) peer.TwostepdDirectory {
	return peer.TwostepdDirectory{Backend: "ldap", LDAP: &peer.TwostepdLDAP{
		URLs: []string{s.slapd.URL()}, BindDN: s.slapd.ServiceDN, BindPasswordFile: "ldap-service.pw",
		BaseDN: peer.SlapdBase, UserFilter: ldapFilter, GroupSearch: false,
		SearchPoolSize: s.cfg.TSLDAPPool, BindPoolSize: s.cfg.TSLDAPPool, CacheTTL: cacheTTL, CacheSize: cacheSize,
	}}
}

// runTwostepd starts a password-only twostepd and checks it as a target.
func (s *suite) runTwostepd(ctx context.Context, label string, c peer.Twostepd, port int) (*target, error) {
	p, err := c.Start(ctx, s.twostepdBin, s.dir, label)
	if err != nil {
		return nil, err
	}
	t := s.radiusTarget(label, s.own(p), port, s.path(usersForBench))
	return t, s.checkRADIUS(ctx, label, port)
}

// startCeiling starts twostep-bench serve, the generator's ceiling.
func (s *suite) startCeiling(ctx context.Context) (*target, error) {
	port, err := s.ports.Pick()
	if err != nil {
		return nil, err
	}
	p, err := peer.Start("twostep-bench serve", s.path("ceiling.log"), s.benchBin, "serve", "-listen", addr(port), "-secret", s.secret, "-for", "30m")
	if err != nil {
		return nil, err
	}
	s.own(p)
	if err := p.WaitReady(ctx, 5*time.Second, func() bool { return p.LogHolds("listening on") }); err != nil {
		return nil, err
	}
	return s.radiusTarget("ceiling", p, port, s.path(usersForBench)), nil
}

// startSlapd starts the one slapd of the ldap and 2fa scenarios, with
// the users of each that runs.
func (s *suite) startSlapd() error {
	if s.slapd != nil {
		return nil
	}
	var ldifs []string
	n1, n2 := 0, 0
	if s.cfg.wants("ldap") {
		ldifs, n1 = append(ldifs, s.path(usersForLDAP)), s.cfg.Users
	}
	if s.cfg.wants("2fa") || s.cfg.wants("history") {
		ldifs, n2 = append(ldifs, s.path(twoFADir, usersForLDAP)), s.cfg.TwoFAUsers
	}
	s.say("starting slapd %s on 127.0.0.1 with %d + %d users", s.versions.slapd, n1, n2)
	var err error
	s.slapd, err = peer.StartSlapd(s.dir, ldifs)
	return err
}

// checkRADIUS checks a password-only server before it is loaded:
// radclient gets a signed request accepted and an unsigned one dropped,
// and a short run of the generator gets every login accepted.
func (s *suite) checkRADIUS(ctx context.Context, label string, port int) error {
	u, err := readUsers(s.path(usersForBench))
	if err != nil {
		return err
	}
	if err := peer.CheckRadclient(ctx, addr(port), s.secret, u[0].Name, u[0].Password); err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	err = s.bench(ctx, io.Discard, s.stderr, "-server", addr(port), "-secret", s.secret, "-users", s.path(usersForBench),
		"-concurrency", "2", "-warmup", "0s", "-requests", "50", "-duration", "10s", "-expect", "accept")
	if err != nil {
		return fmt.Errorf("%s: twostep-bench smoke test failed: %w", label, err)
	}
	return nil
}

// portOf is the port of host:port, 0 when there is none.
func portOf(hostport string) int {
	_, p, _ := net.SplitHostPort(hostport)
	n, _ := strconv.Atoi(p)
	return n
}

// readLine is the first line of a file.
func readLine(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}
