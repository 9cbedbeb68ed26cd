package ldaptest

import (
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func bindAs(t *testing.T, s *Server, dn, pw string) error {
	t.Helper()
	c, err := ldap.DialURL(s.URL(), ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		t.Fatalf("dial %s: %v", s.URL(), err)
	}
	defer c.Close()
	c.SetTimeout(2 * time.Second)
	return c.Bind(dn, pw)
}

func TestStart(t *testing.T) {
	begin := time.Now()
	s := Start(t)
	t.Logf("%v ready in %v", s, time.Since(begin))
	if err := bindAs(t, s, s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	if err := bindAs(t, s, "uid=alice,ou=people,"+BaseDN, Password("alice")); err != nil {
		t.Fatalf("alice bind: %v", err)
	}
	if err := bindAs(t, s, "uid=alice,ou=people,"+BaseDN, "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("alice bind with a wrong password: got %v, want invalid credentials", err)
	}
}

func TestKillRestart(t *testing.T) {
	s := Start(t)
	pid := s.Pid()
	s.Kill()
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("dial after Kill succeeded")
	}
	s.Restart()
	if s.Pid() == pid || s.Pid() == 0 {
		t.Fatalf("pid after Restart: got %d, old %d", s.Pid(), pid)
	}
	// Same data: alice still binds.
	if err := bindAs(t, s, "uid=alice,ou=people,"+BaseDN, Password("alice")); err != nil {
		t.Fatalf("alice bind after restart: %v", err)
	}
}

func TestFreezeThaw(t *testing.T) {
	s := Start(t)
	s.Freeze()
	c, err := ldap.DialURL(s.URL())
	if err != nil {
		t.Fatalf("dial a frozen slapd: %v", err)
	}
	defer c.Close()
	c.SetTimeout(200 * time.Millisecond)
	if err := c.Bind(s.ServiceDN, s.ServicePassword); err == nil {
		t.Fatal("bind to a frozen slapd succeeded")
	}
	s.Thaw()
	if err := bindAs(t, s, s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("bind after Thaw: %v", err)
	}
}

func TestStopIsIdempotent(t *testing.T) {
	s := Start(t)
	s.Stop()
	s.Stop()
	if s.Pid() != 0 {
		t.Fatalf("pid after Stop: got %d, want 0", s.Pid())
	}
}

func TestTLS(t *testing.T) {
	s := Start(t, WithTLS())
	if s.LDAPSURL() == "" || s.CAFile == "" {
		t.Fatalf("LDAPSURL %q, CAFile %q", s.LDAPSURL(), s.CAFile)
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	conf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	c, err := ldap.DialURL(s.LDAPSURL(), ldap.DialWithTLSConfig(conf))
	if err != nil {
		t.Fatalf("dial %s: %v", s.LDAPSURL(), err)
	}
	defer c.Close()
	if err := c.Bind(s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}
}

// TestStartServerLean starts the benchmark's directory without a test
// helper: its own suffix and service account, two LDIF files, and a user
// whose userPassword is {SSHA512} (the pw-sha2 module).
func TestStartServerLean(t *testing.T) {
	const base, svcPW, userPW = "dc=bench,dc=example", "svc-lean", "pw-lean"
	dir := t.TempDir()
	ssha512 := func(pw string) string {
		salt := []byte("0123456789abcdef")
		sum := sha512.Sum512(append([]byte(pw), salt...))
		return "{SSHA512}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
	}
	top := filepath.Join(dir, "base.ldif")
	people := filepath.Join(dir, "people.ldif")
	if err := os.WriteFile(top, []byte("dn: "+base+"\nobjectClass: dcObject\nobjectClass: organization\ndc: bench\no: bench\n\n"+
		"dn: ou=people,"+base+"\nobjectClass: organizationalUnit\nou: people\n\n"+
		"dn: ou=services,"+base+"\nobjectClass: organizationalUnit\nou: services\n\n"+
		"dn: cn=twostep,ou=services,"+base+"\nobjectClass: person\ncn: twostep\nsn: twostep\nuserPassword: "+ssha512(svcPW)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(people, []byte("dn: uid=u1,ou=people,"+base+"\nobjectClass: inetOrgPerson\nuid: u1\ncn: u1\nsn: u1\nuserPassword: "+ssha512(userPW)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "slapd"), 0o700); err != nil {
		t.Fatal(err)
	}
	ensureInstalled(t)
	s, err := StartServer(Options{Dir: filepath.Join(dir, "slapd"), BaseDN: base, ServicePassword: svcPW, LDIF: []string{top, people}, Lean: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if got, want := s.ServiceDN, "cn=twostep,ou=services,"+base; got != want {
		t.Errorf("ServiceDN: got %q, want %q", got, want)
	}
	if err := bindAs(t, s, s.ServiceDN, s.ServicePassword); err != nil {
		t.Fatalf("service bind: %v", err)
	}
	if err := bindAs(t, s, "uid=u1,ou=people,"+base, userPW); err != nil {
		t.Fatalf("{SSHA512} user bind: %v", err)
	}
	if s.Pid() == 0 {
		t.Error("no pid")
	}
	s.Stop()
	if s.Pid() != 0 {
		t.Errorf("pid after Stop: got %d, want 0", s.Pid())
	}
}
