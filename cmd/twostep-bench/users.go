package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Files written by "twostep-bench users", named for who reads them.
const (
	usersForBench      = "bench-users.txt"      // user:password, for -users
	usersForFreeRADIUS = "freeradius-authorize" // rlm_files authorize entries
	usersForTwostep    = "twostep-users.yaml"   // twostepd's file directory backend
	usersForLDAP       = "ldap-users.ldif"      // inetOrgPerson entries for slapadd
	maxGeneratedUsers  = 100_000
	saltLen            = 16
	passwordLen        = 20
	passwordAlphabet   = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
)

// runUsers is "twostep-bench users": it makes N users with random
// passwords and writes them three ways, each password hashed once as
// {SSHA512} so that both servers check the very same hash. The fourth file,
// an LDIF of inetOrgPerson entries with the same hashes as userPassword,
// loads the bench directory (slapd checks {SSHA512} with its pw-sha2
// module).
func runUsers(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("twostep-bench users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1000, fmt.Sprintf("number of users (1-%d)", maxGeneratedUsers))
	dir := fs.String("dir", "", "`directory` to write "+usersForBench+", "+usersForFreeRADIUS+" and "+usersForTwostep+" into (required)")
	prefix := fs.String("prefix", "user", "user names are `prefix` and a number")
	group := fs.String("group", "vpn-users", "`group` given to every user in "+usersForTwostep)
	ldapBase := fs.String("ldap-base", "ou=people,dc=bench,dc=example", "`DN` under which the entries of "+usersForLDAP+" sit (uid=NAME,DN)")
	if err := parseSubFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return usageError{"users: -dir is required"}
	case *n < 1 || *n > maxGeneratedUsers:
		return usageError{fmt.Sprintf("users: -n %d: want 1 to %d", *n, maxGeneratedUsers)}
	case !plainToken(*prefix) || !plainToken(*group):
		return usageError{"users: -prefix and -group take letters, digits, '-', '_' and '.' only"}
	case !plainDN(*ldapBase):
		return usageError{"users: -ldap-base: want attr=value,... of letters, digits, '-' and '.'"}
	}

	if err := writeUserFiles(userSet{Dir: *dir, N: *n, Prefix: *prefix, Group: *group, LDAPBase: *ldapBase}); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d users to %s\n", *n, *dir)
	return nil
}

// userSet is a set of generated users and where their files go.
type userSet struct {
	Dir      string
	N        int
	Prefix   string // names are Prefix and a number
	Group    string // in twostep's users file
	LDAPBase string // the LDIF's entries are uid=NAME,LDAPBase
}

// writeUserFiles writes the four files of runUsers.
func writeUserFiles(us userSet) error {
	var bench, fr, ts, ld bytes.Buffer
	fmt.Fprintf(&fr, "# %d bench users, {SSHA512} = base64(SHA-512(password || salt) || salt)\n", us.N)
	ts.WriteString("users:\n")
	width := max(len(fmt.Sprint(us.N)), 4)
	for i := 1; i <= us.N; i++ {
		name := fmt.Sprintf("%s%0*d", us.Prefix, width, i)
		pw := randomPassword()
		h := ssha512(pw, randomBytes(saltLen))
		fmt.Fprintf(&bench, "%s:%s\n", name, pw)
		fmt.Fprintf(&fr, "%s\tPassword-With-Header := \"%s\"\n", name, h)
		fmt.Fprintf(&ts, "  %s:\n    password: %q\n    groups: [%s]\n", name, h, us.Group)
		fmt.Fprintf(&ld, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nuserPassword: %s\n\n", name, us.LDAPBase, name, name, name, h)
	}
	for name, b := range map[string]*bytes.Buffer{usersForBench: &bench, usersForFreeRADIUS: &fr, usersForTwostep: &ts, usersForLDAP: &ld} {
		if err := os.WriteFile(filepath.Join(us.Dir, name), b.Bytes(), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// ssha512 is the {SSHA512} scheme of OpenLDAP and FreeRADIUS's pap module:
// base64(SHA-512(password || salt) || salt).
func ssha512(password string, salt []byte) string {
	h := sha512.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA512}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails on the platforms Go supports
	return b
}

func randomPassword() string {
	b := randomBytes(passwordLen)
	for i := range b {
		b[i] = passwordAlphabet[int(b[i])%len(passwordAlphabet)]
	}
	return string(b)
}

// plainDN reports whether s is a DN of plain attr=value parts, safe to
// write into LDIF without escaping.
func plainDN(s string) bool {
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || !plainToken(k) || !plainToken(v) {
			return false
		}
	}
	return true
}

// plainToken reports whether s is safe to write unquoted into both the
// FreeRADIUS users file and YAML.
func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}
