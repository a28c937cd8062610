package main

import (
	"io"
	"log/slog"
	"sync"

	"github.com/mqcheck/mqcheck/redact"
)

// Log formats of --log-format.
const (
	logText = "text"
	logJSON = "json"
)

// logLevel maps --quiet and --verbose: warnings by default (a reconnect
// storm is worth a line), errors only when quiet, everything with verbose.
func logLevel(quiet, verbose bool) slog.Level {
	switch {
	case verbose:
		return slog.LevelDebug
	case quiet:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// newLogger returns the run's structured logger on w. Every record passes
// through sc, so no secret reaches the log whatever a driver logs.
func newLogger(w io.Writer, format string, level slog.Level, sc *redact.Scrubber) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redact.Handler(h, sc))
}

// switchWriter lets output that may come at any moment (log records, the
// interrupt notice) go above the live status while it is drawn, and
// straight to stderr before and after.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// set switches to w and returns a function that switches back.
func (s *switchWriter) set(w io.Writer) (restore func()) {
	s.mu.Lock()
	old := s.w
	s.w = w
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.w = old
		s.mu.Unlock()
	}
}
