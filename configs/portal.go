package configs

import "twostep/portal"

// portal checks the portal section (nothing while the portal is off).
func (v *validator) portal(p portal.Config) portal.Config {
	v.section("portal", p.Validate())
	return p.WithDefaults()
}
