package kafka

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Only warnings and errors reach the run's log: franz-go's info level logs
// every request.

type kgoLogger struct {
	l      *slog.Logger
	client string
}

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (g kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelWarn
	if level == kgo.LogLevelError {
		lv = slog.LevelError
	}
	g.l.Log(context.Background(), lv, msg, append(keyvals, "client", g.client)...)
}

type kfakeLogger struct{ l *slog.Logger }

func (f kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		f.l.Error(fmt.Sprintf(format, args...), "component", "kfake")
	case kfake.LogLevelWarn:
		f.l.Warn(fmt.Sprintf(format, args...), "component", "kfake")
	}
}
