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
	"twostep/loglimit"
)

// Answerer records a device's answer and lists the pushes waiting for a
// device; challenge.Engine implements it.
type Answerer interface {
	AnswerPush(ctx context.Context, id, device string, a cluster.PushAnswer) (*cluster.Push, error)
	DevicePushes(ctx context.Context, user, device string, at time.Time, sig []byte) (name string, pushes []*cluster.Push, err error)
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
	ID   string `json:"id"`
	User string `json:"user"`
	// Service is the service the user logs in to: the RADIUS client's
	// display name, or challenge.PortalService.
	Service string `json:"service"`
	NAS     string `json:"nas,omitempty"`
	From    string `json:"from,omitempty"`
	// Purpose is what a push of the portal confirms ("Remove the device
	// “phone”"), the card's title; empty for a login.
	Purpose string    `json:"purpose,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Number  bool      `json:"number"`
}

// PendingResponse answers PendingRequest.
type PendingResponse struct {
	Pushes []PendingPush `json:"pushes"`
	// DeviceName is the device's name now: the app shows it, and learns
	// of a rename in the portal from it.
	DeviceName string `json:"device_name,omitempty"`
	Error      string `json:"error,omitempty"`
}

// pushAPI serves the approval API.
type pushAPI struct {
	cfg     APIConfig
	a       Answerer
	log     zerolog.Logger
	answers *limiter // per address
	polls   *limiter // per device
}

// NewPushAPI returns the handler of the push approval API, its requests
// counted on cfg.Metrics.
func NewPushAPI(a Answerer, cfg APIConfig, log zerolog.Logger) http.Handler {
	mux := newPushAPI(a, cfg, log)
	return cfg.Metrics.countRequests(mux, securityHeaders(mux))
}

// newPushAPI returns the API's routes, counted by the handler they are
// served through (NewPushAPI's, or the portal's).
func newPushAPI(a Answerer, cfg APIConfig, log zerolog.Logger) *http.ServeMux {
	if cfg.AnswersPerMinute <= 0 {
		cfg.AnswersPerMinute = DefaultAnswersPerMinute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logs == nil {
		cfg.Logs = loglimit.New(cfg.Now)
	}
	api := &pushAPI{cfg: cfg, a: a, log: log,
		answers: newLimiter(time.Minute, cfg.Now), polls: newLimiter(time.Minute, cfg.Now)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AnswerPath, api.answer)
	mux.HandleFunc("POST "+PendingPath, api.pending)
	return mux
}

// pendingPerMinute bounds a device's pending-push requests (per device,
// not per address: a campus NAT holds thousands of phones). An
// authenticator polls every 3 s while open; a device asking more than
// once a second is broken or somebody else's.
const pendingPerMinute = 60

// maxDeviceKey bounds a device id in a limiter's key: ids are 16 hex
// digits, anything longer is made up.
const maxDeviceKey = 64

func (api *pushAPI) pending(w http.ResponseWriter, r *http.Request) {
	var req PendingRequest
	sig, problem := readSigned(w, r, &req, &req.Signature)
	if problem != "" {
		replyJSON(w, http.StatusBadRequest, PendingResponse{Error: problem})
		return
	}
	ip := clientIP(r, api.cfg.TrustedProxies)
	key := "d " + userKey(req.User) + "\x00" + req.Device[:min(len(req.Device), maxDeviceKey)]
	if refused, wait := api.polls.allow(limit{limitDevice, key, pendingPerMinute}); refused != "" {
		api.throttled(w, endpointPending, refused, ip, wait)
		replyJSON(w, http.StatusTooManyRequests, PendingResponse{Error: "too many requests: wait a minute"})
		return
	}
	name, ps, err := api.a.DevicePushes(r.Context(), req.User, req.Device, time.Unix(req.At, 0), sig)
	switch {
	case err == nil:
	case errors.Is(err, challenge.ErrAnswerRefused):
		api.cfg.Logs.Event(&api.log, zerolog.WarnLevel, "pending_refused").Str("error", err.Error()).
			Str("device", req.Device).Str("remote", ip).Msg("push list refused")
		replyJSON(w, http.StatusForbidden, PendingResponse{Error: "the request does not prove the device (was it removed?)"})
		return
	case errors.Is(err, cluster.ErrUnavailable):
		replyJSON(w, http.StatusServiceUnavailable, PendingResponse{Error: "the service is unavailable; try again"})
		return
	default:
		api.cfg.Logs.Event(&api.log, zerolog.ErrorLevel, "pending_error").Err(err).Str("device", req.Device).Msg("push list")
		replyJSON(w, http.StatusInternalServerError, PendingResponse{Error: "internal error"})
		return
	}
	out := PendingResponse{Pushes: []PendingPush{}, DeviceName: name}
	for _, p := range ps {
		out.Pushes = append(out.Pushes, PendingPush{ID: p.ID, User: p.User, Service: p.ShownService(), NAS: p.NASID,
			From: p.From, Purpose: challenge.PushPurpose(p), Created: p.Created, Expires: p.Expires, Number: p.Verified()})
	}
	replyJSON(w, http.StatusOK, out)
}

// throttled sets Retry-After, and counts and logs (at most a line a
// second) a request a limit refused; the caller answers 429.
func (api *pushAPI) throttled(w http.ResponseWriter, endpoint, refused, ip string, wait time.Duration) {
	secs := retryAfter(w, wait)
	api.cfg.Metrics.throttle(endpoint, refused)
	api.cfg.Logs.Event(&api.log, zerolog.WarnLevel, endpoint+"_throttled").Str("limit", refused).
		Str("remote", ip).Int("retry_after", secs).Msg("push API requests refused (429)")
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

func (api *pushAPI) answer(w http.ResponseWriter, r *http.Request) {
	// The budget is counted before the body is read: a flood of made-up
	// answers costs neither an etcd read nor a signature check.
	ip := clientIP(r, api.cfg.TrustedProxies)
	if refused, wait := api.answers.allow(limit{limitAddress, "a " + addressKey(ip), api.cfg.AnswersPerMinute}); refused != "" {
		api.throttled(w, endpointAnswer, refused, ip, wait)
		reply(w, http.StatusTooManyRequests, AnswerResponse{Error: "too many answers from this address: wait a minute"})
		return
	}
	var req AnswerRequest
	sig, problem := readSigned(w, r, &req, &req.Signature)
	if problem != "" {
		reply(w, http.StatusBadRequest, AnswerResponse{Error: problem})
		return
	}
	p, err := api.a.AnswerPush(r.Context(), req.Push, req.Device, cluster.PushAnswer{
		Decision: cluster.PushState(req.Decision), Number: req.Number, At: time.Unix(req.At, 0), Signature: sig,
	})
	status, resp := http.StatusOK, AnswerResponse{}
	if p != nil {
		resp.State = string(p.State)
	}
	level, cause := zerolog.WarnLevel, ""
	switch {
	case err == nil:
	case errors.Is(err, challenge.ErrNumberMismatch):
		status, resp.Error = http.StatusUnprocessableEntity, "the number does not match: the login is denied"
	case errors.Is(err, challenge.ErrAnswerRefused):
		// The detail goes to the log only: whoever holds a push id must
		// not learn which check failed.
		status, resp.Error, cause = http.StatusForbidden, "the answer does not prove the device", "answer_refused"
	case errors.Is(err, cluster.ErrPushAnswered):
		status, resp.Error, cause = http.StatusConflict, "this login was answered already", "answer_repeated"
	case errors.Is(err, cluster.ErrPushExpired):
		status, resp.Error, cause = http.StatusGone, "this login timed out", "answer_expired"
	case errors.Is(err, challenge.ErrUnaudited):
		// The answer stands; the log keeps what the trail lacks.
		level = zerolog.ErrorLevel
	case errors.Is(err, cluster.ErrUnavailable):
		status, resp.Error, level, cause = http.StatusServiceUnavailable, "the service is unavailable; try again", zerolog.ErrorLevel, "unavailable"
	default:
		status, resp.Error, level, cause = http.StatusInternalServerError, "internal error", zerolog.ErrorLevel, "answer_error"
	}
	// An answer the device signed is logged every time (one per push);
	// one anybody can send (made up, replayed, late) at most once a
	// second per cause.
	var ev *zerolog.Event
	switch {
	case cause != "":
		ev = api.cfg.Logs.Event(&api.log, level, cause).Str("error", err.Error())
	case err != nil:
		ev = api.log.WithLevel(level).Str("error", err.Error())
	default:
		ev = api.log.Info()
	}
	ev.Str("push", req.Push).Str("device", req.Device).Str("decision", req.Decision).
		Str("remote", ip).Int("status", status).Msg("push answer")
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
