package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
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
