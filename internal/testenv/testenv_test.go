package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSkipped(t *testing.T) {
	for env, want := range map[string]bool{"": false, "rabbitmq": true, "kafka, RabbitMQ": true, "rabbit": false, "nats,redis": false} {
		t.Setenv(SkipEnv, env)
		if got := Skipped("rabbitmq"); got != want {
			t.Errorf("%s=%q: Skipped(rabbitmq) = %v, want %v", SkipEnv, env, got, want)
		}
	}
}

func TestRequireSkipsOnlyWhenAsked(t *testing.T) {
	t.Setenv(SkipEnv, "rabbitmq")
	t.Run("opted out", func(t *testing.T) {
		Require(t, "rabbitmq", errors.New("rabbitmq-server is not installed"))
		t.Error("Require returned although the broker is missing")
	})
	t.Run("present", func(t *testing.T) { Require(t, "nats", nil) })
}

// recorder is a testing.TB that notes Fatalf and Skipf instead of stopping.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = fmt.Sprintf(format, args...) }

func TestRequireFailsByDefault(t *testing.T) {
	t.Setenv(SkipEnv, "")
	r := &recorder{TB: t}
	Require(r, "rabbitmq", errors.New("rabbitmq-server is not installed"))
	if r.skip != "" || !strings.Contains(r.fatal, "set MQCHECK_SKIP_BROKERS=rabbitmq to skip") {
		t.Errorf("fatal %q, skip %q: want a failure naming the opt-out", r.fatal, r.skip)
	}
}
