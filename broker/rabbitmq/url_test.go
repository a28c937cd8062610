package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/scenarios"
)

// systemURL is the RabbitMQ every CI machine runs on the default port. It
// is only ever used as an existing broker: never stopped or reconfigured.
const systemURL = "amqp://guest:guest@127.0.0.1:5672/"

// TestURLTargetCleanRun: a short run against the machine's own broker, as a
// user would point mqcheck at theirs. It passes, and the queues and the
// exchange it created are gone afterwards.
func TestURLTargetCleanRun(t *testing.T) {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:5672", time.Second)
	if err != nil {
		err = fmt.Errorf("no RabbitMQ on 127.0.0.1:5672: %w", err)
	} else {
		conn.Close()
	}
	testenv.Require(t, "rabbitmq", err)
	s := scenario(t, "url-clean", func(s *scenarios.Scenario) {
		s.Broker.Target, s.Broker.URL = scenarios.TargetURL, systemURL
		s.Broker.Config.(*rabbitmq.Config).Pattern = "fanout"
		s.Broker.Config.(*rabbitmq.Config).DeadLetter = true
		s.Consumers.Subscriptions = 2
		s.Duration = scenarios.Duration(2 * time.Second)
	})
	res := runScenario(t, s, nil)
	c := res.Counts
	if res.Verdict != checker.Pass || c.Lost != 0 || c.Unique != 2*c.Acked || c.Acked == 0 {
		t.Errorf("verdict %s, counts %+v: want a clean pass", res.Verdict, c)
	}
	if strings.Contains(res.Target, "guest:guest") {
		t.Errorf("the target description shows the password: %q", res.Target)
	}
	d := s.Broker.Destination
	for _, q := range []string{d + ".s0", d + ".s1", d + ".s0.dlq", d + ".s1.dlq"} {
		if !queueGone(t, systemURL, q) {
			t.Errorf("queue %s left on the shared broker", q)
		}
	}
	if !exchangeGone(t, systemURL, d) || !exchangeGone(t, systemURL, d+".dlx") {
		t.Errorf("exchanges %s or %s.dlx left on the shared broker", d, d)
	}
}

// TestUnreachableURL: nothing listens there; Open says so within seconds
// with broker.ErrUnreachable (mqcheck exits 3), and never shows the password.
func TestUnreachableURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := scenario(t, "unreachable", func(s *scenarios.Scenario) {
		s.Broker.Target, s.Broker.URL = scenarios.TargetURL, "amqp://user:s3cret@"+addr+"/"
	})
	start := time.Now()
	_, err = openScenario(context.Background(), s, broker.Env{RunID: "u", Dir: t.TempDir()})
	took := time.Since(start)
	if !errors.Is(err, broker.ErrUnreachable) {
		t.Fatalf("error %v, want broker.ErrUnreachable", err)
	}
	if took > 6*time.Second {
		t.Errorf("took %s to give up", took)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
}
