package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"twostep/directory"
)

// directory checks the first factor: the users file, or each LDAP server
// step by step.
func (d *doctor) directory(ctx context.Context) {
	dc := d.cfg.Directory
	if dc.Backend != directory.BackendLDAP {
		d.usersFile(ctx)
		return
	}
	err := directory.CheckLDAP(ctx, dc.LDAP, d.user, d.timeout, func(c directory.LDAPCheck) {
		f := finding{Check: fmt.Sprintf("directory.%s %s", c.Step, c.URL), Status: statusOK, Detail: c.Detail}
		switch {
		case c.Failed:
			f.Status = statusFail
		case c.Weak:
			f.Status = statusWarn
		}
		if f.Status != statusOK {
			f.Fix = c.Hint
			if c.Key != "" {
				f.Fix = "directory.ldap." + c.Key + ": " + c.Hint
			}
		}
		d.report(f)
	})
	if err != nil {
		d.fail("directory", err.Error(), fmt.Sprintf("fix the directory.ldap section; `twostepd -config %s -check` lists every problem", shellQuote(d.path)))
	}
}

// usersFile checks the file backend's users file, and the user of -user.
func (d *doctor) usersFile(ctx context.Context) {
	const check = "directory"
	path := d.cfg.Directory.File.Path
	f, err := directory.OpenFile(path)
	if err != nil {
		d.fail(check, err.Error(), "directory.file.path: the users file twostepd reads; create it with `twostepctl user add -users FILE USER`")
		return
	}
	detail := fmt.Sprintf("users file %s: %s", f.Path(), count(f.Len(), "user", "users"))
	if d.user == "" {
		d.ok(check, detail)
		return
	}
	u, err := f.Lookup(ctx, d.user)
	switch {
	case errors.Is(err, directory.ErrUnknownUser):
		d.fail(check, fmt.Sprintf("%s; no user %q", detail, d.user), fmt.Sprintf("check the name (it is compared exactly), or add the user: `twostepctl user add -users %s %s`", shellQuote(f.Path()), shellQuote(d.user)))
	case err != nil:
		d.fail(check, err.Error(), "check the users file (directory.file.path)")
	case u.State == directory.Disabled:
		d.warn(check, fmt.Sprintf("%s; %q is disabled", detail, u.Name), "`twostepctl user enable "+shellQuote(u.Name)+"` when the user may log in again")
	case len(u.Groups) == 0:
		d.ok(check, fmt.Sprintf("%s; %q is in no group", detail, u.Name))
	default:
		d.ok(check, fmt.Sprintf("%s; %q is in %s", detail, u.Name, strings.Join(u.Groups, ", ")))
	}
}
