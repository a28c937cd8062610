package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/kinds"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

// requireServer fails the test without a RabbitMQ server, unless
// MQCHECK_SKIP_BROKERS names rabbitmq (a laptop without one): then it skips.
func requireServer(t testing.TB) {
	t.Helper()
	testenv.Require(t, "rabbitmq", rabbitmq.Installed())
}

// shared is one private node for the tests that do not kill their broker:
// they reach it as a url target. TestMain stops it.
var shared struct {
	once sync.Once
	tgt  *broker.Target
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.tgt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := shared.tgt.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the shared node:", err)
			code = 1
		}
		cancel()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// sharedURL boots the shared node on first use and returns its URL.
func sharedURL(t testing.TB) string {
	t.Helper()
	requireServer(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "mqcheck-rabbitmq-shared-")
		if shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s := scenario(t, "shared-node", nil)
		shared.tgt, shared.err = openScenario(ctx, s, broker.Env{RunID: "shared", Dir: shared.dir})
	})
	if shared.err != nil {
		t.Fatalf("starting the shared node: %v", shared.err)
	}
	return rabbitmq.NodeURL(shared.tgt)
}

var destSeq atomic.Int64

// scenario is a short RabbitMQ scenario on an exec target; mutate adjusts
// it before defaults and validation.
func scenario(t testing.TB, name string, mutate func(*scenarios.Scenario)) *scenarios.Scenario {
	t.Helper()
	s := &scenarios.Scenario{
		Name:     name,
		Seed:     7,
		Duration: scenarios.Duration(3 * time.Second),
		// A drain ends once the backlog is proven empty, so a long bound
		// costs passing runs nothing; a node's restart took 20 s in a
		// full test run, leaving a 20 s drain 4 s to prove the loss.
		DrainTimeout: scenarios.Duration(60 * time.Second),
		Broker: scenarios.Broker{Kind: "rabbitmq", Target: scenarios.TargetExec, Config: &rabbitmq.Config{},
			Destination: fmt.Sprintf("mqcheck-test-%s-%d-%d", name, os.Getpid(), destSeq.Add(1))},
		Producers: scenarios.Producers{Count: 2, Rate: 2000, MessageSize: 256, MaxInFlight: 256},
		Consumers: scenarios.Consumers{Count: 2},
		Claims:    []string{scenarios.ClaimAtMostOnce, scenarios.ClaimAtLeastOnce},
	}
	if mutate != nil {
		mutate(s)
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	return s
}

// openScenario opens the target of s, a rabbitmq scenario.
func openScenario(ctx context.Context, s *scenarios.Scenario, env broker.Env) (*broker.Target, error) {
	cfg, _ := s.Broker.Config.(*rabbitmq.Config)
	return rabbitmq.Open(ctx, cfg, s.BrokerSpec(), env)
}

// onShared points s at the shared node.
func onShared(t testing.TB, s *scenarios.Scenario) *scenarios.Scenario {
	s.Broker.Target = scenarios.TargetURL
	s.Broker.URL = sharedURL(t)
	return s
}

// runScenario runs s end to end and returns results.json as written.
func runScenario(t testing.TB, s *scenarios.Scenario, open broker.OpenFunc) *report.Results {
	t.Helper()
	ks := kinds.Default()
	if open != nil {
		k, _ := ks.Lookup("rabbitmq")
		k.Open = open
		ks = ks.With(k)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := runner.Run(ctx, runner.Options{Scenario: s, Dir: dir, Kinds: ks, DrainSettle: time.Second})
	if err != nil {
		t.Fatalf("run %s: %v", s.Name, err)
	}
	onDisk, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if onDisk.Counts != res.Counts || onDisk.Verdict != res.Verdict {
		t.Fatalf("results.json differs from the returned results")
	}
	t.Logf("%s: verdict %s, counts %+v, drain %+v", s.Name, onDisk.Verdict, onDisk.Counts, onDisk.Drain)
	for _, f := range onDisk.Faults {
		t.Logf("fault %+v", f)
	}
	return onDisk
}

// claim returns the verdict of claim name.
func claim(t testing.TB, r *report.Results, name string) string {
	t.Helper()
	for _, c := range r.Claims {
		if c.Name == name {
			return c.Verdict
		}
	}
	t.Fatalf("claim %s missing from results", name)
	return ""
}

// notices counts the run's notices by kind.
func notices(r *report.Results) map[string]int {
	m := map[string]int{}
	for _, n := range r.Notices {
		m[n.Kind]++
	}
	return m
}

// queueGone reports whether a queue no longer exists on the broker at url.
func queueGone(t testing.TB, url, queue string) bool {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dialing %s: %v", url, err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	var ae *amqp.Error
	if err == nil {
		return false
	}
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return true
	}
	t.Fatalf("inspecting queue %s: %v", queue, err)
	return false
}

// queueDepth is the ready count of a queue (only meaningful on a node that
// was not restarted).
func queueDepth(ctx context.Context, url, queue string) (int, error) {
	c, err := amqp.Dial(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		return 0, err
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	return q.Messages, err
}

// alive reports whether pid is a running process (a zombie is not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}

// processesIn lists live processes whose working directory is under dir:
// every process of a node (sh, beam, epmd, Erlang's helpers) runs there.
func processesIn(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir) && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitFor polls cond every 20ms until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// exchangeGone reports whether an exchange no longer exists at url.
func exchangeGone(t testing.TB, url, exchange string) bool {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dialing: %v", err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	err = ch.ExchangeDeclarePassive(exchange, "", false, false, false, false, nil)
	var ae *amqp.Error
	if err == nil {
		return false
	}
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return true
	}
	t.Fatalf("inspecting exchange %s: %v", exchange, err)
	return false
}
