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

// Answerer records a device's answer; challenge.Engine implements it.
type Answerer interface {
	AnswerPush(ctx context.Context, r challenge.PushReply) (*cluster.Push, error)
}

// AnswerPath is where devices post their answers.
const AnswerPath = "/api/push/v1/answer"

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

// NewPushAPI returns the handler of the push approval API.
func NewPushAPI(a Answerer, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AnswerPath, func(w http.ResponseWriter, r *http.Request) {
		answer(w, r, a, log)
	})
	return securityHeaders(mux)
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
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAnswerBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		reply(w, http.StatusBadRequest, AnswerResponse{Error: "the body is not an answer: " + errorText(err)})
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Signature)
	if err != nil {
		reply(w, http.StatusBadRequest, AnswerResponse{Error: "signature: not base64url without padding"})
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

// errorText shortens a JSON decoding error to what the sender needs.
func errorText(err error) string {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return "too large"
	}
	return err.Error()
}

func reply(w http.ResponseWriter, status int, resp AnswerResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}
