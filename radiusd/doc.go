// Package radiusd is the RADIUS transport of twostep: it reads Access-Request
// and Status-Server packets over UDP, checks who sent them and that they are
// intact, turns them into a challenge.Request, and writes back the
// Access-Accept, Access-Reject or Access-Challenge that the Authenticator
// decides.
//
// Each admitted Access-Request is an exchange (exchange.go): the packet,
// its client and addresses, its entry in the duplicate cache and its log
// line. The exchange is the challenge.Responder the Authenticator answers
// through, before it returns or later (a login waiting for a push, which
// releases its admission slot meanwhile): either way the answer is held
// for reject_delay, finishes the duplicate entry, and is logged as late
// when the NAS had given up. Once the answer has left, its record is
// handed to the login history (Options.History, history.go) without
// waiting. Every request is logged and recorded under its login's
// correlation id: derived from the packet, so that a copy reaching
// another node has the same, or the id of the login a challenge round
// continues, as the engine reports it (Decision.LoginID); an
// Access-Reject may end with the login's reference ("Ref 3f9a-c21b").
//
// A request of a user `twostepctl trace` asks for gets a tracer
// (Options.Trace; traceside.go): its packet and its answer are recorded
// with every attribute named by the dictionaries and every secret masked,
// the engine's Request carries the tracer, and the decision's context
// carries its observers of the store, the directory and the notifier.
// With nobody traced a request costs one atomic load.
//
// The package owns everything that is about the protocol and nothing that is
// about the login: the client table and shared secrets, packet framing,
// Message-Authenticator (RFC 3579, required by default because of
// BlastRADIUS, CVE-2024-3596), the RFC 5080 duplicate cache, Status-Server
// (RFC 5997), Proxy-State, overload shedding and the server lifecycle.
//
// Only PAP carries a password that twostep can check; CHAP, MS-CHAP and EAP
// requests are answered with an Access-Reject that says so, so that a
// misconfigured NAS is diagnosed at once rather than by timeouts.
//
// clientside.go holds the few helpers a RADIUS client needs (tests, the
// bench tool and integration tests use them) to sign requests and verify
// answers the way this server expects.
package radiusd
