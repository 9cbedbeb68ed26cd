package radiusd

import (
	"net/netip"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3162"
	"layeh.com/radius/vendors/microsoft"

	"twostep/challenge"
)

// Reasons this package decides itself, beside the challenge.Reason values.
const (
	reasonError        challenge.Reason = "error"         // the Authenticator failed
	reasonNoPassword   challenge.Reason = "no_password"   // no User-Password, CHAP, MS-CHAP, EAP or State
	reasonStatusServer challenge.Reason = "status_server" // a Status-Server answer
)

// Messages shown to the user (and to whoever reads the NAS logs).
const (
	msgUnavailable = "Authentication service unavailable; try again later."
	msgNoPassword  = "No password was sent: configure this client for PAP."
)

// unsupportedMessage names why a method is refused and what to change, so
// a misconfigured NAS is diagnosed from its own logs. Empty for PAP.
func unsupportedMessage(method string) string {
	switch method {
	case "chap":
		return "CHAP is not supported: configure this client for PAP."
	case "mschap":
		return "MS-CHAP is not supported: configure this client for PAP."
	case "eap":
		return "EAP is not supported: configure this client for PAP."
	}
	return ""
}

// verdict is a decision with what the log line needs to know about it.
type verdict struct {
	d    challenge.Decision
	user string // User-Name as typed
	// canonical is the user's name as the engine reported it
	// (Decision.User): the directory's, whatever case, spaces or width
	// was typed.
	canonical string
	method    string // pap, chap, mschap, eap or none
	err       error  // from the Authenticator: logged at error level
	// What the NAS says about itself and the user's end, as sent.
	nasIdentifier, nasIPAddress, callingStationID string
	// late, when positive, is how long after the latest copy of the
	// request its answer left, longer than the client's nas_timeout: the
	// NAS had given up.
	late time.Duration
}

// decided records the engine's decision d in v.
func (v *verdict) decided(d challenge.Decision) {
	v.d = d
	if d.User != "" {
		v.canonical = d.User
	}
}

// failed records in v that the decision failed with err: the generic
// Reject, logged and recorded under the login's id when the engine named
// it (a challenge round whose record was read before the failure).
func (v *verdict) failed(d challenge.Decision, err error) {
	v.d, v.err = errorDecision(), err
	v.d.LoginID = d.LoginID
}

// nasIPAddress returns NAS-IP-Address, or NAS-IPv6-Address when there is
// none, as text; empty when neither is there or well formed.
func nasIPAddress(p *radius.Packet) string {
	if ip, err := rfc2865.NASIPAddress_Lookup(p); err == nil {
		if a, ok := netip.AddrFromSlice(ip); ok {
			return a.Unmap().String()
		}
	}
	if ip, err := rfc3162.NASIPv6Address_Lookup(p); err == nil {
		if a, ok := netip.AddrFromSlice(ip); ok {
			return a.String()
		}
	}
	return ""
}

func errorDecision() challenge.Decision {
	return challenge.Decision{Outcome: challenge.Reject, Reason: reasonError, Message: msgUnavailable}
}

// request reads what the log line says about x's packet into x.v, and
// returns the engine's request. Only PAP (or a State alone, answering a
// challenge with an empty box) reaches the engine: for anything else it
// answers x itself and returns nil, as it does for a password that does
// not decode.
func (x *exchange) request() *challenge.Request {
	p, c := x.p, x.c
	x.v = verdict{
		user:             rfc2865.UserName_GetString(p),
		method:           authMethod(p),
		nasIdentifier:    rfc2865.NASIdentifier_GetString(p),
		nasIPAddress:     nasIPAddress(p),
		callingStationID: rfc2865.CallingStationID_GetString(p),
	}
	state := p.Get(rfc2865.State_Type)
	switch {
	case unsupportedMessage(x.v.method) != "":
		x.Respond(challenge.Decision{Outcome: challenge.Reject, Reason: challenge.ReasonUnsupportedAuth, Message: unsupportedMessage(x.v.method)}, nil)
		return nil
	case x.v.method == "none" && state == nil:
		x.Respond(challenge.Decision{Outcome: challenge.Reject, Reason: reasonNoPassword, Message: msgNoPassword}, nil)
		return nil
	}
	req := &challenge.Request{
		ID:               x.id,
		User:             x.v.user,
		State:            state,
		Client:           c.Name,
		Service:          c.DisplayName,
		Source:           netip.AddrPortFrom(x.src.Addr().Unmap(), x.src.Port()),
		NASIdentifier:    x.v.nasIdentifier,
		CallingStationID: x.v.callingStationID,
		Login:            c.Login,
		Identifier:       p.Identifier,
		Authenticator:    p.Authenticator,
		Arrived:          x.start,
	}
	if hidden, _ := userPassword(p); len(hidden) > 0 { // validated on the read loop; empty: "no input"
		pw, err := decodePassword(hidden, c.Secret, p.Authenticator)
		if err != nil {
			x.Respond(challenge.Decision{}, err)
			return nil
		}
		req.Password = string(pw)
	}
	return req
}

// authMethod names the authentication method of p. Any non-PAP method
// wins over a User-Password sent alongside it: such a request is
// malformed and must not be decided on the password alone.
func authMethod(p *radius.Packet) string {
	switch {
	case hasAttr(p, rfc2869.EAPMessage_Type):
		return "eap"
	case hasMSCHAP(p):
		return "mschap"
	case hasAttr(p, rfc2865.CHAPPassword_Type):
		return "chap"
	case hasAttr(p, rfc2865.UserPassword_Type):
		return "pap"
	}
	return "none"
}

func hasAttr(p *radius.Packet, t radius.Type) bool {
	_, ok := p.Lookup(t)
	return ok
}

// hasMSCHAP reports any of the Microsoft attributes MS-CHAP v1 or v2 sends
// (RFC 2548). A value of the wrong length still counts as present.
func hasMSCHAP(p *radius.Packet) bool {
	for _, lookup := range []func(*radius.Packet) ([]byte, error){
		microsoft.MSCHAPChallenge_Lookup,
		microsoft.MSCHAPResponse_Lookup,
		microsoft.MSCHAP2Response_Lookup,
	} {
		if _, err := lookup(p); err != radius.ErrNoAttribute {
			return true
		}
	}
	return false
}
