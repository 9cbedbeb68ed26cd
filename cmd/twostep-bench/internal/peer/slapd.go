package peer

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"

	"twostep/directory/ldaptest"
)

// SlapdBase is the benchmark directory's suffix; users sit under
// ou=people, the service account is cn=twostep,ou=services.
const SlapdBase = "dc=bench,dc=example"

// Slapd is the benchmark's directory: ldaptest's lean slapd (mdb, eq
// indexes on objectClass and uid, no overlays, pw-sha2 for {SSHA512}
// userPassword) with a service account that may read all but passwords.
type Slapd struct {
	*ldaptest.Server
	// PasswordFile holds the service account's password, one line.
	PasswordFile string
}

// StartSlapd writes the suffix, ou=people, ou=services and the service
// account (a random password, in dir/ldap-service.pw) and starts slapd
// on them and on the users' LDIFs (twostep-bench users' ldap-users.ldif),
// its files in dir/slapd. Stop it with Stop.
func StartSlapd(dir string, users []string) (*Slapd, error) {
	pw := make([]byte, 12)
	rand.Read(pw)
	password := "svc-" + hex.EncodeToString(pw)
	pwFile := filepath.Join(dir, "ldap-service.pw")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, "slapd-base.ldif")
	if err := os.WriteFile(base, []byte(baseLDIF(password)), 0o600); err != nil {
		return nil, err
	}
	sdir := filepath.Join(dir, "slapd")
	if err := os.Mkdir(sdir, 0o700); err != nil {
		return nil, err
	}
	s, err := ldaptest.StartServer(ldaptest.Options{
		Dir: sdir, BaseDN: SlapdBase, ServicePassword: password,
		LDIF: append([]string{base}, users...), Lean: true,
	})
	if err != nil {
		return nil, err
	}
	return &Slapd{Server: s, PasswordFile: pwFile}, nil
}

// baseLDIF is the suffix's entries and the service account, its password
// as {SSHA} (what slappasswd writes by default).
func baseLDIF(password string) string {
	salt := make([]byte, 4)
	rand.Read(salt)
	sum := sha1.Sum(append([]byte(password), salt...))
	hash := "{SSHA}" + base64.StdEncoding.EncodeToString(append(sum[:], salt...))
	return fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: bench
o: bench

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=services,%[1]s
objectClass: organizationalUnit
ou: services

dn: cn=twostep,ou=services,%[1]s
objectClass: person
cn: twostep
sn: twostep
userPassword: %[2]s

`, SlapdBase, hash)
}

var slapdVersion = regexp.MustCompile(`slapd ([0-9.]+)`)

// SlapdVersion is what slapd -VV says of itself, or "".
func SlapdVersion() string {
	bin, err := Find("slapd")
	if err != nil {
		return ""
	}
	out, _ := exec.Command(bin, "-VV").CombinedOutput()
	if m := slapdVersion.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}
