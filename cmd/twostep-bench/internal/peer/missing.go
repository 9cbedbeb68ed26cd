package peer

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// Need is a Debian package a server comes from, and the programs or
// files that show it is installed.
type Need struct {
	Package string
	// Files are program names (looked up on PATH and in the sbin
	// directories) or absolute paths; every one must be there.
	Files []string
}

// What the benchmark's servers and checks need.
var (
	NeedFreeRADIUS     = Need{"freeradius", []string{"freeradius"}}
	NeedRadclient      = Need{"freeradius-utils", []string{"radclient"}}
	NeedFreeRADIUSLDAP = Need{"freeradius-ldap", []string{"/usr/lib/freeradius/rlm_ldap.so"}}
	// pw-sha2 lets userPassword hold {SSHA512}.
	NeedSlapd = Need{"slapd", []string{"slapd", "slapadd", "/usr/lib/ldap/pw-sha2.so"}}
	NeedEtcd  = Need{"etcd-server", []string{"etcd"}}
)

// Missing returns the packages of needs that are not installed, sorted,
// each once.
func Missing(needs ...Need) []string {
	var out []string
	for _, n := range needs {
		for _, f := range n.Files {
			if _, err := Find(f); err != nil {
				out = append(out, n.Package)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Find returns the path of a program (on PATH or in /usr/sbin, /sbin,
// where Debian puts servers) or checks that an absolute path exists.
func Find(name string) (string, error) {
	if filepath.IsAbs(name) {
		_, err := os.Stat(name)
		return name, err
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var err error
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if _, err = os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}
