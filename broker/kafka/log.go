package kafka

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Only franz-go's warnings and errors reach the run's log (its info level
// logs every request), and one level down: under fault injection a refused
// dial or a failed commit is the expected weather, reported in the results'
// notices; a user sees them with --verbose.

type kgoLogger struct {
	l      *slog.Logger
	client string
}

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (g kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelDebug
	if level == kgo.LogLevelError {
		lv = slog.LevelInfo
	}
	g.l.Log(context.Background(), lv, msg, append(keyvals, "client", g.client)...)
}

type kfakeLogger struct{ l *slog.Logger }

func (f kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	switch level {
	case kfake.LogLevelError:
		f.l.Info(fmt.Sprintf(format, args...), "component", "kfake")
	case kfake.LogLevelWarn:
		f.l.Debug(fmt.Sprintf(format, args...), "component", "kfake")
	}
}
