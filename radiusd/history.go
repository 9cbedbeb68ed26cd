package radiusd

import (
	"net/netip"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"twostep/challenge"
	"twostep/cluster"
)

// The login history's side of a request: its correlation id, the record
// handed to the History recorder once the answer is out, and the
// reference an Access-Reject may end with.

// loginID is the correlation id of request p from src: the same for
// every copy of p, on any node (cluster.LoginID), so that a
// retransmission the NAS sends to another node is logged and recorded
// under the id of the first, without asking the store. A request that
// continues a login (a challenge round) learns that login's id from the
// engine (Decision.LoginID).
func loginID(p *radius.Packet, src netip.AddrPort) string {
	return cluster.LoginID(src.Addr().Unmap().String(), p.Identifier, p.Authenticator, rfc2865.UserName_GetString(p))
}

// record is the login history's record of x, answered with code. Its
// time is set when the answer leaves; its node by the recorder.
func (x *exchange) record(code radius.Code) cluster.LoginRecord {
	v := &x.v
	r := cluster.LoginRecord{
		ID:       x.id,
		User:     v.canonical,
		Client:   x.c.Name,
		NASID:    v.nasIdentifier,
		NASAddr:  v.nasIPAddress,
		From:     v.callingStationID,
		Factor:   string(v.d.Factor),
		Decision: codeLabel(code),
		Reason:   reasonLabel(v.d.Reason),
	}
	if v.user != v.canonical {
		r.TypedUser = v.user
	}
	if r.NASAddr == "" {
		r.NASAddr = x.src.Addr().Unmap().String()
	}
	if v.d.Device != "" || v.d.DeviceID != "" {
		r.Device = &cluster.LoginDevice{ID: v.d.DeviceID, Name: v.d.Device}
	}
	return r
}

// withReference returns d as an answer of code sends it: an
// Access-Reject's Reply-Message ends with the reference of login id
// ("Ref 3f9a-c21b"), when the server gives references and it fits one
// Reply-Message; the user reads it to the help desk, which looks it up
// (`twostepctl logins -id`). An Accept or a Challenge is left as it is.
func (s *Server) withReference(code radius.Code, d challenge.Decision, id string) challenge.Decision {
	ref := cluster.LoginReference(id)
	if !s.reference || code != radius.CodeAccessReject || ref == "" {
		return d
	}
	msg := ref
	if d.Message != "" {
		msg = d.Message + " " + ref
	}
	if len(msg) <= maxAttrValue {
		d.Message = msg
	}
	return d
}
