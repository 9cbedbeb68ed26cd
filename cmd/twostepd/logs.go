package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
	"google.golang.org/grpc/grpclog"

	"twostep/configs"
	"twostep/loglimit"
)

// newLogger returns the daemon's log on out: one JSON object a line, or
// with log.format: console lines for people, coloured only when out is a
// terminal (a file or a journal gets no escape codes).
func newLogger(c configs.Log, out io.Writer) zerolog.Logger {
	if c.Format == "console" {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !isTerminal(out)}
	}
	return zerolog.New(out).Level(c.Level).With().Timestamp().Logger()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// etcdLog returns the logger the embedded etcd writes to: its lines come
// out through zl, in the daemon's format, as "level", "time", "message"
// and etcd's fields. etcd logs warnings too when the daemon logs at debug
// level, else errors only: its warnings repeat every few hundred
// milliseconds while a peer is missing.
func etcdLog(zl zerolog.Logger) *zap.Logger {
	floor := zapcore.ErrorLevel
	if zl.GetLevel() <= zerolog.DebugLevel {
		floor = zapcore.WarnLevel
	}
	return zap.New(zapCore{log: zl, floor: floor})
}

// zapCore is a zapcore.Core that writes through a zerolog logger.
type zapCore struct {
	log    zerolog.Logger
	floor  zapcore.Level
	fields []zapcore.Field // from With
}

func (c zapCore) Enabled(l zapcore.Level) bool {
	return l >= c.floor && zerologLevel(l) >= c.log.GetLevel()
}

func (c zapCore) With(fields []zapcore.Field) zapcore.Core {
	c.fields = append(c.fields[:len(c.fields):len(c.fields)], fields...)
	return c
}

func (c zapCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c zapCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	if e.Caller.Defined {
		ev = ev.Str("caller", e.Caller.TrimmedPath())
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c zapCore) Sync() error { return nil }

func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	case l == zapcore.ErrorLevel, l == zapcore.DPanicLevel:
		return zerolog.ErrorLevel
	case l == zapcore.PanicLevel:
		return zerolog.PanicLevel
	}
	return zerolog.FatalLevel
}

// redirectLibraryLogs sends what libraries write to the process-wide
// loggers, the standard library's log package and gRPC's (the etcd
// client and the embedded etcd), through zl, so that no line of the
// daemon's log escapes its format. Both are process-wide settings, made
// here once by run; the returned function puts them back (for tests).
// gRPC's errors are logged as errors, its warnings at debug level (a
// reconnecting client warns at each attempt), its information not at
// all; each library line at most once a second per cause (lines).
func redirectLibraryLogs(zl zerolog.Logger, lines *loglimit.Limiter) (restore func()) {
	prevOut, prevFlags, prevPrefix := log.Writer(), log.Flags(), log.Prefix()
	log.SetOutput(libraryLog{log: zl, lines: lines, cause: "library", level: zerolog.WarnLevel})
	log.SetFlags(0)
	log.SetPrefix("")
	grpclog.SetLoggerV2(grpcLog{log: zl, lines: lines})
	return func() {
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
		log.SetPrefix(prevPrefix)
		// gRPC's default: errors on standard error.
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, os.Stderr))
	}
}

// libraryLog is an io.Writer for log.Logger: each Write is one line.
type libraryLog struct {
	log   zerolog.Logger
	lines *loglimit.Limiter
	cause string
	level zerolog.Level
}

func (l libraryLog) Write(b []byte) (int, error) {
	l.lines.Event(&l.log, l.level, l.cause).Msg(strings.TrimSpace(string(b)))
	return len(b), nil
}

// grpcLog is gRPC's grpclog.LoggerV2 on zerolog.
type grpcLog struct {
	log   zerolog.Logger
	lines *loglimit.Limiter
}

func (g grpcLog) line(level zerolog.Level, msg string) {
	g.lines.Event(&g.log, level, "grpc").Msg(strings.TrimSpace(msg))
}

func (g grpcLog) Info(args ...any)                 {}
func (g grpcLog) Infoln(args ...any)               {}
func (g grpcLog) Infof(format string, args ...any) {}
func (g grpcLog) Warning(args ...any)              { g.line(zerolog.DebugLevel, fmt.Sprint(args...)) }
func (g grpcLog) Warningln(args ...any)            { g.line(zerolog.DebugLevel, fmt.Sprintln(args...)) }
func (g grpcLog) Warningf(format string, args ...any) {
	g.line(zerolog.DebugLevel, fmt.Sprintf(format, args...))
}
func (g grpcLog) Error(args ...any)   { g.line(zerolog.ErrorLevel, fmt.Sprint(args...)) }
func (g grpcLog) Errorln(args ...any) { g.line(zerolog.ErrorLevel, fmt.Sprintln(args...)) }
func (g grpcLog) Errorf(format string, args ...any) {
	g.line(zerolog.ErrorLevel, fmt.Sprintf(format, args...))
}
func (g grpcLog) Fatal(args ...any)                 { g.log.Fatal().Msg(fmt.Sprint(args...)) }
func (g grpcLog) Fatalln(args ...any)               { g.log.Fatal().Msg(fmt.Sprintln(args...)) }
func (g grpcLog) Fatalf(format string, args ...any) { g.log.Fatal().Msgf(format, args...) }
func (g grpcLog) V(l int) bool                      { return l <= 0 }
