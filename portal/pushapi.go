package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"twostep/challenge"
	"twostep/cluster"
)

// Answerer records a device's answer and lists the pushes waiting for a
// device; challenge.Engine implements it.
type Answerer interface {
	AnswerPush(ctx context.Context, r challenge.PushReply) (*cluster.Push, error)
	DevicePushes(ctx context.Context, user, device string, at time.Time, sig []byte) ([]*cluster.Push, error)
}

// AnswerPath is where devices post their answers.
const AnswerPath = "/api/push/v1/answer"

// PendingPath is where a device asks which logins wait for its answer.
const PendingPath = "/api/push/v1/pending"

// maxAnswerBody bounds an answer's JSON: a few hundred bytes are enough.
const maxAnswerBody = 4 << 10

// AnswerRequest is the JSON a device posts to AnswerPath. Signature is
// the base64url (no padding) of the ECDSA P-256 signature r||s over
// cluster.PushSigned(Push, Decision, Number, At).
type AnswerRequest struct {
	Push      string `json:"push"`
	Device    string `json:"device"`
	Decision  string `json:"decision"` // approved, denied or fraud
	Number    string `json:"number,omitempty"`
	At        int64  `json:"at"` // unix seconds
	Signature string `json:"signature"`
}

// AnswerResponse is what the API answers; Error says what went wrong in
// words a device can show.
type AnswerResponse struct {
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

// PendingRequest is the JSON a device posts to PendingPath. Signature is
// the base64url (no padding) of the ECDSA P-256 signature r||s over
// cluster.PendingSigned(User, Device, At).
type PendingRequest struct {
	User      string `json:"user"`
	Device    string `json:"device"`
	At        int64  `json:"at"`
	Signature string `json:"signature"`
}

// PendingPush is one login waiting for the device, with what the device
// shows so that its user can tell their own login.
type PendingPush struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Service string    `json:"service"`
	NAS     string    `json:"nas,omitempty"`
	From    string    `json:"from,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Number  bool      `json:"number"`
}

// PendingResponse answers PendingRequest.
type PendingResponse struct {
	Pushes []PendingPush `json:"pushes"`
	Error  string        `json:"error,omitempty"`
}

// NewPushAPI returns the handler of the push approval API.
func NewPushAPI(a Answerer, log zerolog.Logger) http.Handler {
	// An authenticator polls every 3 s while open; a device asking more
	// than once a second is broken or somebody else's.
	polls := newLimiter(time.Minute, time.Now)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AnswerPath, func(w http.ResponseWriter, r *http.Request) {
		answer(w, r, a, log)
	})
	mux.HandleFunc("POST "+PendingPath, func(w http.ResponseWriter, r *http.Request) {
		pending(w, r, a, log, polls)
	})
	return securityHeaders(mux)
}

// pendingPerMinute bounds a device's pending-push requests (per device,
// not per address: a campus NAT holds thousands of phones).
const pendingPerMinute = 60

func pending(w http.ResponseWriter, r *http.Request, a Answerer, log zerolog.Logger, polls *limiter) {
	var req PendingRequest
	sig, problem := readSigned(w, r, &req, &req.Signature)
	if problem != "" {
		replyJSON(w, http.StatusBadRequest, PendingResponse{Error: problem})
		return
	}
	if refused, _ := polls.allow(limit{limitDevice, "device " + req.User + "\x00" + req.Device, pendingPerMinute}); refused != "" {
		replyJSON(w, http.StatusTooManyRequests, PendingResponse{Error: "too many requests: wait a minute"})
		return
	}
	ps, err := a.DevicePushes(r.Context(), req.User, req.Device, time.Unix(req.At, 0), sig)
	switch {
	case err == nil:
	case errors.Is(err, challenge.ErrAnswerRefused):
		log.Warn().Str("error", err.Error()).Str("device", req.Device).Str("remote", r.RemoteAddr).Msg("push list refused")
		replyJSON(w, http.StatusForbidden, PendingResponse{Error: "the request does not prove the device (was it removed?)"})
		return
	case errors.Is(err, cluster.ErrUnavailable):
		replyJSON(w, http.StatusServiceUnavailable, PendingResponse{Error: "the service is unavailable; try again"})
		return
	default:
		log.Error().Err(err).Str("device", req.Device).Msg("push list")
		replyJSON(w, http.StatusInternalServerError, PendingResponse{Error: "internal error"})
		return
	}
	out := PendingResponse{Pushes: []PendingPush{}}
	for _, p := range ps {
		out.Pushes = append(out.Pushes, PendingPush{ID: p.ID, User: p.User, Service: p.Client, NAS: p.NASID,
			From: p.From, Created: p.Created, Expires: p.Expires, Number: p.Verified()})
	}
	replyJSON(w, http.StatusOK, out)
}

// securityHeaders marks every answer as uncacheable JSON that no page may
// frame or sniff.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

func answer(w http.ResponseWriter, r *http.Request, a Answerer, log zerolog.Logger) {
	var req AnswerRequest
	sig, problem := readSigned(w, r, &req, &req.Signature)
	if problem != "" {
		reply(w, http.StatusBadRequest, AnswerResponse{Error: problem})
		return
	}
	p, err := a.AnswerPush(r.Context(), challenge.PushReply{
		Push: req.Push, Device: req.Device, Decision: cluster.PushState(req.Decision),
		Number: req.Number, At: time.Unix(req.At, 0), Signature: sig,
	})
	status, resp := http.StatusOK, AnswerResponse{}
	if p != nil {
		resp.State = string(p.State)
	}
	switch {
	case err == nil:
	case errors.Is(err, challenge.ErrNumberMismatch):
		status, resp.Error = http.StatusUnprocessableEntity, "the number does not match: the login is denied"
	case errors.Is(err, challenge.ErrAnswerRefused):
		// The detail goes to the log only: whoever holds a push id must
		// not learn which check failed.
		status, resp.Error = http.StatusForbidden, "the answer does not prove the device"
	case errors.Is(err, cluster.ErrPushAnswered):
		status, resp.Error = http.StatusConflict, "this login was answered already"
	case errors.Is(err, cluster.ErrPushExpired):
		status, resp.Error = http.StatusGone, "this login timed out"
	case errors.Is(err, cluster.ErrUnavailable):
		status, resp.Error = http.StatusServiceUnavailable, "the service is unavailable; try again"
	default:
		status, resp.Error = http.StatusInternalServerError, "internal error"
	}
	ev := log.Info()
	if status >= 500 {
		ev = log.Error().Err(err)
	} else if err != nil {
		ev = log.Warn().Str("error", err.Error())
	}
	ev.Str("push", req.Push).Str("device", req.Device).Str("decision", req.Decision).
		Str("remote", r.RemoteAddr).Int("status", status).Msg("push answer")
	reply(w, status, resp)
}

// readSigned decodes a device's JSON request into req (nothing unknown,
// at most maxAnswerBody) and its base64url signature field; problem says
// what is wrong, for the device.
func readSigned(w http.ResponseWriter, r *http.Request, req any, signature *string) (sig []byte, problem string) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnswerBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return nil, "the body is not a request: " + errorText(err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(*signature)
	if err != nil {
		return nil, "signature: not base64url without padding"
	}
	return sig, ""
}

// errorText shortens a JSON decoding error to what the sender needs.
func errorText(err error) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "too large"
	}
	return err.Error()
}

func reply(w http.ResponseWriter, status int, resp AnswerResponse) { replyJSON(w, status, resp) }

func replyJSON(w http.ResponseWriter, status int, resp any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}
