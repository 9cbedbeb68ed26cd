// Package ldaptest starts a real OpenLDAP slapd on 127.0.0.1 for tests, as
// net/http/httptest starts an HTTP server: a temporary cn=config, an mdb
// database loaded from an LDIF, a free loopback port, and a process the
// test owns by pid and can kill, restart, freeze and thaw.
//
// The default data is directory/testdata/ldap/example.ldif (base
// dc=example,dc=edu); Password gives its users' passwords. When slapd is
// not installed, Start fails the test with the command to run (`make
// peers` installs it): no test installs packages.
//
// StartServer is the same start-up without a test: it returns an error
// instead of failing one and leaves the stop to its caller. twostep-bench
// starts its directory with it (Options.Lean).
package ldaptest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Names in the default LDIF.
const (
	// BaseDN is the suffix of the default database.
	BaseDN = "dc=example,dc=edu"
	// ServiceDN is the service account with read access to everything but
	// passwords.
	ServiceDN = "cn=twostep,ou=services,dc=example,dc=edu"
	// ServicePassword is ServiceDN's password.
	ServicePassword = "svc-secret"
	// AdminDN is the database's rootdn (may write anything).
	AdminDN = "cn=admin,dc=example,dc=edu"
	// AdminPassword is AdminDN's password.
	AdminPassword = "admin-secret"
)

// Password returns the password of a user of the default LDIF, by uid
// ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hal",
// "o'brien", "jsmith", "a*b(c)\d", "zoë"), or "" for a name it does not
// know. The two "twin" entries have "pw-twin1" and "pw-twin2".
//
// carol is locked (pwdAccountLockedTime), erin must change a reset
// password (pwdReset), and frank's password expired (pwdMaxAge); gina
// (disabled) and hal (expired in 2022) carry AD's userAccountControl and
// accountExpires, which slapd does not enforce.
func Password(uid string) string {
	switch uid {
	case "alice", "bob", "carol", "dave", "erin", "frank", "gina", "hal":
		return "pw-" + uid
	case "o'brien":
		return "pw-obrien"
	case "jsmith":
		return "pw-smith"
	case `a*b(c)\d`:
		return "pw-star"
	case "zoë":
		return "pw-zoe"
	}
	return ""
}

// adminHash is AdminPassword as {SSHA}, for the rootpw line.
const adminHash = "{SSHA}OHhcYjJFUIUOtwJdqN0dRBRzaWV+BKTC"

// Option changes how Start sets up the server.
type Option func(*Options)

// Options says how StartServer sets slapd up; Start makes them from its
// Options. Zero fields take the defaults of the package's constants.
type Options struct {
	// Dir holds slapd's configuration, database and log (slapd.log). It
	// must exist; nothing is removed from it at Stop. Required.
	Dir string
	// BaseDN is the database's suffix; "" is BaseDN.
	BaseDN string
	// LDIF are the files loaded into the database, in order; none loads
	// directory/testdata/ldap/example.ldif. Their entries sit under
	// BaseDN, the suffix's own entry and the service account included.
	LDIF []string
	// ServiceDN is the account that may read everything but passwords;
	// "" is cn=twostep,ou=services under BaseDN.
	ServiceDN string
	// ServicePassword is ServiceDN's password as the LDIF sets it; "" is
	// ServicePassword. It is only handed back in Server.ServicePassword.
	ServicePassword string
	// TLS gives the server a certificate for 127.0.0.1 (see WithTLS).
	TLS bool
	// Lean sets slapd up for load instead of for the directory's
	// features: no overlays (ppolicy, memberof), no nis or AD schemas,
	// eq indexes on objectClass and uid only, a 256 MB map, the data
	// loaded with slapadd -q, and the pw-sha2 module so that
	// userPassword may hold {SSHA512}, the hash FreeRADIUS's pap module
	// and twostep's users file share.
	Lean bool
}

// Server is a running slapd. Its methods are safe for concurrent use.
type Server struct {
	// BaseDN is the suffix of the database.
	BaseDN string
	// ServiceDN and ServicePassword are the service account's credentials.
	ServiceDN, ServicePassword string
	// CAFile is the PEM certificate of the CA that signed the server's
	// certificate (WithTLS only).
	CAFile string

	t    testing.TB // nil for a server from StartServer
	dir  string     // slapd.d, data, log
	addr string     // 127.0.0.1:port, kept across restarts
	// addrs is 127.0.0.1:port for ldaps:// (WithTLS only).
	addrs string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of slapd.
type process struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when Wait returned
	frozen bool
}

// Start starts slapd and registers its stop with t.Cleanup. It fails the
// test if slapd cannot be started; it never skips.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := Options{Dir: t.TempDir()}
	for _, f := range opts {
		f(&o)
	}
	ensureInstalled(t)
	s, err := StartServer(o)
	if err != nil {
		t.Fatalf("ldaptest: %v", err)
	}
	s.t = t
	t.Cleanup(s.Stop)
	return s
}

// StartServer sets slapd up in o.Dir, starts it on a free loopback port
// and returns once it answers. The caller stops it with Stop. Restart,
// Freeze and Thaw are for tests: they fail a test, and panic on a server
// started here.
func StartServer(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("ldaptest: Options.Dir is required")
	}
	if !installed() {
		return nil, fmt.Errorf("ldaptest: slapd is not installed; run: %s", installCommand)
	}
	if o.BaseDN == "" {
		o.BaseDN = BaseDN
	}
	if o.ServiceDN == "" {
		o.ServiceDN = "cn=twostep,ou=services," + o.BaseDN
	}
	if o.ServicePassword == "" {
		o.ServicePassword = ServicePassword
	}
	if len(o.LDIF) == 0 {
		o.LDIF = []string{defaultLDIF()}
	}
	s := &Server{
		BaseDN:          o.BaseDN,
		ServiceDN:       o.ServiceDN,
		ServicePassword: o.ServicePassword,
		dir:             o.Dir,
	}
	var cert, key string
	if o.TLS {
		var err error
		s.CAFile, cert, key, err = writeCerts(s.dir)
		if err != nil {
			return nil, fmt.Errorf("ldaptest: certificates: %w", err)
		}
	}
	if err := s.setup(o, cert, key); err != nil {
		return nil, fmt.Errorf("ldaptest: %w", err)
	}
	// The port is found by listening on :0 and closing; another process may
	// take it in between, so try a few.
	var err error
	for range 5 {
		s.addr, err = freeAddr()
		if err == nil && o.TLS {
			s.addrs, err = freeAddr()
		}
		if err != nil {
			break
		}
		if err = s.start(); err == nil || !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ldaptest: %w", err)
	}
	return s, nil
}

// URL returns the server's ldap:// URL.
func (s *Server) URL() string { return "ldap://" + s.addr }

// LDAPSURL returns the server's ldaps:// URL (WithTLS only; "" otherwise).
func (s *Server) LDAPSURL() string {
	if s.addrs == "" {
		return ""
	}
	return "ldaps://" + s.addrs
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Stop stops slapd: SIGTERM, then SIGKILL if it has not exited within 2 s.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	if p.frozen {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill kills slapd with SIGKILL, as a crash would, and waits for it to die.
// The data stays for Restart.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart starts slapd again on the same port with the same data, after
// Kill or Stop (or stops it first if it runs).
func (s *Server) Restart() {
	s.helper()
	s.Stop()
	// The port was slapd's until just now; nothing else should take it,
	// but slapd may need a moment to get it back.
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.fatalf("ldaptest: restart: %v", err)
}

// Freeze stops slapd with SIGSTOP: connections are accepted by the kernel
// but nothing answers, as with a server that hangs.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP, true) }

// Thaw resumes a frozen slapd with SIGCONT.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT, false) }

func (s *Server) signal(sig syscall.Signal, frozen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.fatalf("ldaptest: %v: slapd is not running", sig)
		return
	}
	if err := s.proc.cmd.Process.Signal(sig); err != nil {
		s.fatalf("ldaptest: %v: %v", sig, err)
	}
	s.proc.frozen = frozen
	// kill returns before the signal has stopped (or resumed) every
	// thread; a request in that window would still be answered.
	pid := s.proc.cmd.Process.Pid
	deadline := time.Now().Add(2 * time.Second)
	for stopped(pid) != frozen {
		if time.Now().After(deadline) {
			s.fatalf("ldaptest: %v: slapd threads did not change state", sig)
		}
		time.Sleep(time.Millisecond)
	}
}

// helper marks the caller as a test helper, when there is a test.
func (s *Server) helper() {
	if s.t != nil {
		s.t.Helper()
	}
}

// fatalf fails the test that started s; a server from StartServer has
// none, and its caller broke the contract: it panics.
func (s *Server) fatalf(format string, args ...any) {
	if s.t == nil {
		panic(fmt.Sprintf(format, args...))
	}
	s.t.Helper()
	s.t.Fatalf(format, args...)
}

// stopped reports whether every thread of pid is stopped, from
// /proc/pid/task/*/stat (state T).
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Pid returns slapd's process id, or 0 while it is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// start runs slapd on s.addr and waits until it accepts LDAP connections.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("slapd is already running")
	}
	logPath := filepath.Join(s.dir, "slapd.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	// -d 0 keeps slapd in the foreground (so its pid is ours) without
	// debug output.
	listen := "ldap://" + s.addr + "/"
	if s.addrs != "" {
		listen += " ldaps://" + s.addrs + "/"
	}
	cmd := exec.Command(slapdPath(), "-d", "0", "-F", filepath.Join(s.dir, "slapd.d"), "-h", listen)
	cmd.Stdout = log
	cmd.Stderr = log
	// Its own process group, so a ^C to the test does not freeze it out of
	// turn, and Setpgid lets a leak be found with ps.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(s.addr, p.done, 5*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		out, _ := os.ReadFile(logPath)
		return fmt.Errorf("slapd on %s: %w\n%s", s.addr, err, out)
	}
	s.proc = p
	return nil
}

// errExited is slapd exiting while Start waits for it (a port taken, a
// bad configuration).
var errExited = errors.New("slapd exited")

// waitReady polls addr until an LDAP request is answered, slapd exits or
// the time is up. An accepted TCP connection is not enough: slapd listens
// before its database is open, so readiness is an answered root DSE read.
func waitReady(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		err := probe(addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// probe reads the root DSE anonymously.
func probe(addr string) error {
	c, err := ldap.DialURL("ldap://"+addr, ldap.DialWithDialer(&net.Dialer{Timeout: 500 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(500 * time.Millisecond)
	_, err = c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	return err
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// setup writes a cn=config LDIF, loads it with slapadd -n0 into a config
// directory, and loads the data LDIFs into the mdb database.
func (s *Server) setup(o Options, cert, key string) error {
	confDir := filepath.Join(s.dir, "slapd.d")
	for _, d := range []string{confDir, filepath.Join(s.dir, "data")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	confLDIF := filepath.Join(s.dir, "config.ldif")
	conf := configLDIF(s.dir, o)
	if cert != "" {
		conf = strings.Replace(conf, "olcArgsFile: "+s.dir+"/slapd.args\n",
			"olcArgsFile: "+s.dir+"/slapd.args\nolcTLSCertificateFile: "+cert+
				"\nolcTLSCertificateKeyFile: "+key+"\nolcTLSCACertificateFile: "+s.CAFile+"\n", 1)
	}
	if err := os.WriteFile(confLDIF, []byte(conf), 0o600); err != nil {
		return err
	}
	out, err := exec.Command(findTool("slapadd"), "-n0", "-F", confDir, "-l", confLDIF).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slapadd -n0 (cn=config): %w\n%s", err, out)
	}
	for _, ldif := range o.LDIF {
		args := []string{"-F", confDir, "-b", o.BaseDN, "-l", ldif}
		if o.Lean {
			args = append([]string{"-q"}, args...)
		}
		out, err = exec.Command(findTool("slapadd"), args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("slapadd %s: %w\n%s", ldif, err, out)
		}
	}
	return nil
}

// configLDIF is the cn=config tree: the schemas the LDIF needs (with AD's
// account state attributes), an mdb database with ppolicy (account lock)
// and memberof, and ACLs that let the service account read everything but
// passwords; or, for o.Lean, the same database without the overlays and
// the extra schemas, and with pw-sha2.
func configLDIF(dir string, o Options) string {
	modules, schemas, maxSize, indexes, overlays := fullModules, fullSchemas, "67108864", fullIndexes, fullOverlays
	if o.Lean {
		modules, schemas, maxSize, indexes, overlays = leanModules, "", "268435456", leanIndexes, ""
	}
	parts := strings.NewReplacer(
		"@MODULES@", modules,
		"@SCHEMAS@", schemas,
		"@MAXSIZE@", maxSize,
		"@INDEXES@", indexes,
		"@OVERLAYS@", overlays,
	).Replace(configTemplate)
	return strings.NewReplacer(
		"@DIR@", dir,
		"@BASE@", o.BaseDN,
		"@ADMIN@", "cn=admin,"+o.BaseDN,
		"@ADMINPW@", adminHash,
		"@SERVICE@", o.ServiceDN,
	).Replace(parts)
}

// The parts of configTemplate that differ between the tests' server and
// the lean one.
const (
	fullModules = "olcModuleLoad: ppolicy\nolcModuleLoad: memberof\n"
	leanModules = "olcModuleLoad: pw-sha2\n"
	fullSchemas = `include: file:///etc/ldap/schema/nis.ldif

# Active Directory's account state attributes (Microsoft's OIDs), as a
# directory synced from AD holds them without enforcing them.
dn: cn={4}adstate,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: {4}adstate
olcAttributeTypes: ( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.159 NAME 'accountExpires' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.2.840.113556.1.4.662 NAME 'lockoutTime' EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'twostepADState' AUXILIARY MAY ( userAccountControl $ accountExpires $ lockoutTime ) )

`
	fullIndexes  = "olcDbIndex: uid,cn,member,uniqueMember,memberUid eq\n"
	leanIndexes  = "olcDbIndex: uid eq\n"
	fullOverlays = `
dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: cn=default,ou=policies,@BASE@
olcPPolicyUseLockout: TRUE

dn: olcOverlay={1}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {1}memberof
`
)

// configTemplate is cn=config with @NAME@ placeholders.
const configTemplate = `# generated by ldaptest
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: @DIR@/slapd.pid
olcArgsFile: @DIR@/slapd.args

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
@MODULES@
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

@SCHEMAS@dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: @BASE@
olcRootDN: @ADMIN@
olcRootPW: @ADMINPW@
olcDbDirectory: @DIR@/data
olcDbMaxSize: @MAXSIZE@
olcDbIndex: objectClass eq
@INDEXES@olcAccess: {0}to attrs=userPassword by anonymous auth by * none
olcAccess: {1}to * by dn.exact="@SERVICE@" read by self read by * none
@OVERLAYS@`

// defaultLDIF is directory/testdata/ldap/example.ldif, found from this
// source file so that it works from any package's test directory.
func defaultLDIF() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("testdata", "ldap", "example.ldif")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", "ldap", "example.ldif")
}

// String describes the server for test logs.
func (s *Server) String() string {
	return "slapd " + s.URL() + " pid " + strconv.Itoa(s.Pid())
}
