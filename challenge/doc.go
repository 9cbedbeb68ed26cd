// Package challenge is the login engine: it takes a login request as the
// transport decoded it, checks the first factor against the directory,
// applies the group policy, asks for the second factor kept in the
// cluster (a passcode, a bypass code or a push) and answers with a
// Decision.
//
// The transport hands the engine a Request and a Responder, as
// layeh/radius hands a Handler a Request and a ResponseWriter:
// Authenticate answers through Responder.Respond, at once or, for a login
// that waits for the user's device, later, from the goroutine that sees
// the device's answer. Before such a wait the engine calls
// Responder.Release, so that the transport frees what it holds for the
// request (radiusd's admission slot): a login waiting for its push holds
// no goroutine and no worker, only its Responder. The answer to a
// challenge round that waits for the device (Enter pressed before the
// approval, a device chosen from the menu) waits in its goroutine,
// released, since what the device answers decides the round's State.
// Nothing that changes behaviour travels in the context.
//
// A rejected user is a Decision; an error means the infrastructure failed
// and the caller must never turn it into an Accept.
//
// For the login history every Decision names the factor it rested on
// (Factor: the password, a policy exemption, a TOTP or HOTP passcode, a
// push, a bypass or recovery code) and that factor's device. A login
// keeps one correlation id across its requests: the engine writes the
// Request's ID into the records a later request continues the login from
// (the challenge round's cluster.Pending, the cluster.Push), and a request
// that continues one (an answer to a round, on any node; a copy that
// joins a push) reports that login's id in Decision.LoginID, and hands it
// on to the rounds and pushes it starts in turn.
//
// A request somebody traces (`twostepctl trace`) carries a Tracer
// (trace.go), which the engine tells each step: the password box, the
// directory's answer, the policy rule, the account, the passcode checked,
// the round kept, the push sent and answered. It only observes, and
// never hears a password, a code, a State or a verification number.
//
// The files, by flow; calls go from the first group down:
//
//   - dispatch: engine.go (Authenticate, the first factor and the policy),
//     secondfactor.go (which second factor a login asks for), round.go
//     (the answer to a challenge round, on any node);
//   - the flows: passcode.go, bypass.go, unenrolled.go; push.go and the
//     push*.go files (start, wait, notify, prompt, round, answer), pushround
//     calling down to pushstart, pushwait and then pushnotify, pushprompt
//     and pushanswer; portal.go, the self-service portal's questions;
//   - shared pieces: account.go (a user's records, loaded again on
//     conflict; the fail mode), lockout.go, pending.go (a challenge round's
//     record), respond.go (Responder and decisions left open), login.go
//     (the client's mode and the password box), policy.go, decision.go;
//     metrics.go (how pushes ended, logins waiting, lockouts and locks,
//     on a struct of collectors made by NewMetrics, as in every package
//     of twostep).
//
// The OTP mathematics (TOTP, HOTP, otpauth URIs, typed passcodes) is in
// challenge/otp, which the portal, twostepctl and the benchmark use too.
//
// Names: the package is the engine; elsewhere "challenge" means a RADIUS
// Access-Challenge round, as in ModeChallenge (mode: challenge) and
// cluster.Challenges, where rounds are kept. The Outcome that asks the
// user for more is Ask (logged and counted as "challenge", the RADIUS
// answer), so that challenge.Challenge does not stutter.
package challenge
