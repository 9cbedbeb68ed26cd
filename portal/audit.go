package portal

import (
	"net/http"

	"twostep/cluster"
)

// as returns the accounts through which s's user changes their own
// devices: each change commits its audit event in its own transaction,
// with the user as the actor ("portal alice") and the browser's address
// in the detail; how, when set, says what was used ("web authenticator").
func (p *Portal) as(r *http.Request, s *visit, how string) *cluster.Accounts {
	note := "from " + p.remoteIP(r)
	if how != "" {
		note = how + ", " + note
	}
	return p.accounts.As(cluster.Actor{Name: cluster.PortalActor(s.User), Note: note, Now: p.cfg.Now})
}
