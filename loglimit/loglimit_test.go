package loglimit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"twostep/internal/fakeclock"

	"github.com/rs/zerolog"

	"twostep/loglimit"
)

// fakeClock is the shared fakeclock.Clock.
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock { return fakeclock.New(time.Now()) }

func TestLimiter(t *testing.T) {
	clock := newFakeClock()
	start := clock.Now()
	l := loglimit.New(clock.Now)
	var buf bytes.Buffer
	log := zerolog.New(&buf).Level(zerolog.InfoLevel)
	steps := []struct {
		at    time.Duration // since the start
		cause string
		level zerolog.Level
		want  string // the line's cause and suppressed fields, or "" for no line
	}{
		{0, "a", zerolog.WarnLevel, `"cause":"a","suppressed":0`},
		{0, "a", zerolog.WarnLevel, ""},
		{500 * time.Millisecond, "a", zerolog.WarnLevel, ""},
		{500 * time.Millisecond, "b", zerolog.WarnLevel, `"cause":"b","suppressed":0`}, // per cause
		{500 * time.Millisecond, "c", zerolog.DebugLevel, ""},                          // below the log's level: not counted either
		{time.Second, "a", zerolog.WarnLevel, `"cause":"a","suppressed":2`},
		{time.Second + time.Millisecond, "a", zerolog.WarnLevel, ""},
		{5 * time.Second, "a", zerolog.WarnLevel, `"cause":"a","suppressed":1`},
		{5 * time.Second, "c", zerolog.InfoLevel, `"cause":"c","suppressed":0`},
	}
	for _, st := range steps {
		clock.Advance(start.Add(st.at).Sub(clock.Now()))
		buf.Reset()
		l.Event(&log, st.level, st.cause).Str("x", "y").Msg("m")
		got := strings.TrimSpace(buf.String())
		switch {
		case st.want == "" && got != "":
			t.Errorf("%s at %v: got %s, want no line", st.cause, st.at, got)
		case st.want != "" && !strings.Contains(got, st.want):
			t.Errorf("%s at %v: got %q, want a line with %s", st.cause, st.at, got, st.want)
		}
	}
}
