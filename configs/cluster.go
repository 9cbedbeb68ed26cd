package configs

import (
	"twostep/cluster"
)

// cluster resolves the etcd password (for tools too: they read the
// cluster) and checks the section.
func (v *validator) cluster(c cluster.Config, dir string, env Env) cluster.Config {
	const field = "cluster.password"
	pw := v.secret(field, false, 0, dir, env)
	c.Etcd.Password = string(pw)
	check := c
	if pw == nil && v.givenSecret(field) {
		check.Etcd.Password = unresolved
	}
	v.section("cluster", check.Validate())
	return c.WithDefaults()
}
