package peer

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// FreeRADIUS is a private FreeRADIUS 3.2 configuration built from
// Debian's: PAP against the files module (or, with LDAP, rlm_ldap in
// their place), one client on 127.0.0.1 with Message-Authenticator
// required and every answer signed, nothing else (no eap, inner-tunnel,
// detail, proxy or per-request logging). Run it with Start.
type FreeRADIUS struct {
	Dir       string // the raddb to create; must not exist
	Port      int    // UDP port on 127.0.0.1
	Secret    string // the 127.0.0.1 client's, 16 characters or more
	Threads   int    // worker threads: start = max = spare, a fixed pool (1-256)
	Authorize string // users in rlm_files format, for the files site
	LDAP      *FreeRADIUSLDAP
	// Source is the raddb copied; "" is Debian's /etc/freeradius/3.0.
	Source string
}

// FreeRADIUSLDAP is rlm_ldap's part: authorize searches as the service
// account (the filter twostepd uses), authenticate binds as the user's
// DN. The connection pool is fixed at Pool (start = min = max, no
// lifetime or use limit).
type FreeRADIUSLDAP struct {
	Port     int    // slapd's, on 127.0.0.1 (ldap://, no TLS)
	BaseDN   string // where users are searched (subtree)
	Identity string // the service account's DN
	Password string // and its password
	Pool     int    // connections, 1-1024
}

//go:embed freeradius
var freeradiusFiles embed.FS

var freeradiusTemplates = template.Must(template.ParseFS(freeradiusFiles, "freeradius/*"))

// Write creates f.Dir.
func (f FreeRADIUS) Write() error {
	if err := f.check(); err != nil {
		return err
	}
	src := f.Source
	if src == "" {
		src = "/etc/freeradius/3.0"
	}
	if err := copyTree(src, f.Dir); err != nil {
		return fmt.Errorf("freeradius: copy %s: %w", src, err)
	}
	for _, d := range []string{"log", "run"} {
		if err := os.MkdirAll(filepath.Join(f.Dir, d), 0o700); err != nil {
			return err
		}
	}
	if err := f.editRadiusdConf(); err != nil {
		return err
	}
	return f.writeSite()
}

func (f FreeRADIUS) check() error {
	var probs []string
	if len(f.Secret) < 16 {
		probs = append(probs, "the secret must be 16 characters or more")
	}
	if f.Threads < 1 || f.Threads > 256 {
		probs = append(probs, fmt.Sprintf("threads %d: want 1 to 256", f.Threads))
	}
	if l := f.LDAP; l != nil {
		if l.Pool < 1 || l.Pool > 1024 {
			probs = append(probs, fmt.Sprintf("LDAP pool %d: want 1 to 1024", l.Pool))
		}
		// Quoted with ' in the module's configuration.
		if strings.ContainsAny(l.Password+l.Identity+l.BaseDN, `'\`) {
			probs = append(probs, `the LDAP password, identity and base DN may not hold ' or \`)
		}
	} else if f.Authorize == "" {
		probs = append(probs, "no users file (Authorize) for the files site")
	}
	if _, err := os.Stat(f.Dir); err == nil {
		probs = append(probs, f.Dir+" exists")
	}
	if len(probs) > 0 {
		return errors.New("freeradius: " + strings.Join(probs, "; "))
	}
	return nil
}

// radiusdEdits are radiusd.conf's changes: paths into the copy; run as
// the invoking user (the copy and its pid file live in a temp dir); no
// proxying; a fixed thread pool; room to track every request for the 5 s
// duplicate-detection window (cleanup_delay) at tens of thousands per
// second, where the default 16384 would drop requests.
func (f FreeRADIUS) radiusdEdits() []edit {
	th := strconv.Itoa(f.Threads)
	dir := strings.ReplaceAll(f.Dir, "$", "$$") // literal in a replacement
	return []edit{
		{`(?m)^raddbdir = .*$`, "raddbdir = " + dir},
		{`(?m)^logdir = .*$`, "logdir = " + filepath.Join(dir, "log")},
		{`(?m)^run_dir = .*$`, "run_dir = " + filepath.Join(dir, "run")},
		{`(?m)^max_requests = .*$`, "max_requests = 1048576"},
		{`(?m)^proxy_requests *= .*$`, "proxy_requests = no"},
		{`(?m)^\$INCLUDE proxy\.conf.*$`, "# proxy.conf left out"},
		{`(?m)^[ \t]*user = freerad.*\n`, ""},
		{`(?m)^[ \t]*group = freerad.*\n`, ""},
		{`(?m)^([ \t]*)start_servers = .*$`, "${1}start_servers = " + th},
		{`(?m)^([ \t]*)max_servers = .*$`, "${1}max_servers = " + th},
		{`(?m)^([ \t]*)min_spare_servers = .*$`, "${1}min_spare_servers = " + th},
		{`(?m)^([ \t]*)max_spare_servers = .*$`, "${1}max_spare_servers = " + th},
	}
}

// edit replaces every match of a regular expression, as sed's s/// does.
type edit struct{ re, with string }

func (f FreeRADIUS) editRadiusdConf() error {
	p := filepath.Join(f.Dir, "radiusd.conf")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	for _, e := range f.radiusdEdits() {
		re := regexp.MustCompile(e.re)
		if !re.Match(b) {
			return fmt.Errorf("freeradius: radiusd.conf has no line matching %s", e.re)
		}
		b = re.ReplaceAll(b, []byte(e.with))
	}
	return os.WriteFile(p, b, 0o600)
}

// writeSite keeps only the modules the site needs and writes the client,
// the users (files) or the ldap module, and the site.
func (f FreeRADIUS) writeSite() error {
	enabled := filepath.Join(f.Dir, "mods-enabled")
	if err := emptyDir(enabled); err != nil {
		return err
	}
	mods, site := []string{"pap", "files", "always"}, "site-files"
	if f.LDAP != nil {
		mods, site = []string{"always"}, "site-ldap"
		if err := f.render("ldap", filepath.Join(enabled, "ldap")); err != nil {
			return err
		}
	}
	for _, m := range mods {
		if err := os.Symlink(filepath.Join("..", "mods-available", m), filepath.Join(enabled, m)); err != nil {
			return err
		}
	}
	if f.LDAP == nil {
		b, err := os.ReadFile(f.Authorize)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.Dir, "mods-config", "files", "authorize"), b, 0o600); err != nil {
			return err
		}
	}
	if err := f.render("clients.conf", filepath.Join(f.Dir, "clients.conf")); err != nil {
		return err
	}
	sites := filepath.Join(f.Dir, "sites-enabled")
	if err := emptyDir(sites); err != nil {
		return err
	}
	return f.render(site, filepath.Join(sites, "bench"))
}

// render writes the template name, executed on f, to path.
func (f FreeRADIUS) render(name, path string) error {
	var b bytes.Buffer
	if err := freeradiusTemplates.ExecuteTemplate(&b, name, f); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

// Start runs FreeRADIUS in the foreground on the written Dir and waits
// until it says it is ready.
func (f FreeRADIUS) Start(ctx context.Context, bin, logPath string) (*Proc, error) {
	p, err := Start("freeradius", logPath, bin, "-f", "-l", "stdout", "-d", f.Dir)
	if err != nil {
		return nil, err
	}
	if err := p.WaitReady(ctx, 15*time.Second, func() bool { return p.LogHolds("Ready to process requests") }); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

var freeradiusVersion = regexp.MustCompile(`FreeRADIUS Version ([0-9.]+)`)

// FreeRADIUSVersion asks bin for its version, and refuses any but 3.x,
// whose configuration Write knows.
func FreeRADIUSVersion(bin string) (string, error) {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	m := freeradiusVersion.FindSubmatch(out)
	if m == nil || !bytes.HasPrefix(m[1], []byte("3.")) {
		return "", fmt.Errorf("want FreeRADIUS 3.x, found %q at %s", firstLine(out), bin)
	}
	return string(m[1]), nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line)
}

// emptyDir removes what dir holds (symlinks, files).
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies src to dst as cp -Rp does: modes kept, symlinks copied
// as symlinks (Debian's mods-enabled and sites-enabled are relative
// links), the copy owned by whoever runs the benchmark.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.IsDir():
			return os.Mkdir(to, info.Mode().Perm()|0o700)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
	})
}
