package radiusd

import (
	"errors"
	"time"

	"twostep/cluster"
)

// log writes the request's one log line, at error level when the
// decision failed. It never holds a password or secret.
func (x *exchange) log(decision, reason string, latency time.Duration) {
	s, c, v := x.s, x.c, &x.v
	ev := s.log.Info()
	switch {
	case v.err != nil:
		ev = s.log.Error().Err(v.err)
	case errors.Is(v.d.Err, cluster.ErrTampered):
		// A record edited in etcd without the key file: the user was
		// refused as if it were not there; the admin must look now.
		ev = s.log.Error().Err(v.d.Err)
	case v.d.Err != nil:
		// The decision absorbed a failure (the client's fail mode answered
		// for a store that is down): an admin must see it every time.
		ev = s.log.Warn().Err(v.d.Err)
	case v.late > 0:
		ev = s.log.Warn()
	}
	if !ev.Enabled() {
		// The level is off (info in production at level warn): do not
		// format the NAS address for nothing.
		return
	}
	if v.d.Device != "" {
		ev = ev.Str("device", v.d.Device)
	}
	if v.late > 0 {
		// The client entry's wait, so that the admin sees the mismatch:
		// the NAS waits less than nas_timeout (or retransmits less than
		// nas_retries) say, and twostepd waited for a push, or a slow
		// directory, in vain.
		ev = ev.Bool("nas_gave_up", true).
			Float64("since_last_copy_ms", float64(v.late.Microseconds())/1000).
			Str("nas_timeout", c.nasTimeout().String()).
			Int("nas_retries", c.Login.NASRetries)
	}
	ev = ev.Str("id", x.id).
		Str("client", c.Name).
		Str("nas", x.src.Addr().Unmap().String())
	// What the NAS sent about itself and the user's end (the VPN user's
	// address in Calling-Station-Id), when it sent it.
	for _, f := range [...]struct{ key, value string }{
		{"nas_identifier", v.nasIdentifier},
		{"nas_ip_address", v.nasIPAddress},
		{"calling_station_id", v.callingStationID},
	} {
		if f.value != "" {
			ev = ev.Str(f.key, f.value)
		}
	}
	// The directory's name for the user, so that one user's lines share
	// one name; what was typed (another case, a trailing space,
	// fullwidth letters) beside it when it differs.
	user := v.user
	if v.canonical != "" && v.canonical != v.user {
		user = v.canonical
		ev = ev.Str("typed_user", v.user)
	}
	ev.Str("user", user).
		Str("method", v.method).
		Str("decision", decision).
		Str("reason", reason).
		Float64("latency_ms", float64(latency.Microseconds())/1000).
		Msg("radius request")
}
