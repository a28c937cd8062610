package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestRabbitMQFaults runs one private RabbitMQ node through a pause
// (SIGSTOP of its VM), added latency, ack loss and client crashes, and
// checks each effect in the counts; then that no process of the node is
// left, stopped or not.
func TestRabbitMQFaults(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "rabbitmq", rabbitmq.Installed())
	s := &scenarios.Scenario{
		Name:      "rabbitmq-faults",
		Seed:      5,
		Duration:  sec(14),
		Broker:    scenarios.Broker{Kind: "rabbitmq", Target: "exec"},
		Producers: scenarios.Producers{Count: 2, Rate: 1000, MessageSize: 256},
		Consumers: scenarios.Consumers{Count: 2},
		Claims:    []string{"at-least-once"},
		Faults: []scenarios.Fault{
			{Kind: "pause", At: sec(2), For: sec(1.5), Node: -1},
			{Kind: "latency", At: sec(5), For: sec(1.5), Latency: scenarios.Duration(50 * time.Millisecond)},
			{Kind: "ack-loss", At: sec(8), For: sec(1.5)},
			{Kind: "consumer-crash", At: sec(11), For: sec(0.5), Client: 0},
			{Kind: "producer-crash", At: sec(12.5), For: sec(0.5), Client: -1},
		},
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := Run(ctx, Options{Scenario: s, Dir: dir}); err != nil {
		t.Fatalf("run: %v", err)
	}
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Counts
	if c.Lost != 0 || c.Unaccounted != 0 || c.Corrupted != 0 {
		t.Errorf("counts %+v: want nothing lost", c)
	}
	p := faultOf(t, res, "pause")
	for _, row := range rowsInside(res, p.StartMS+300, p.EndMS) {
		if row.AckedPerS > 10 || row.ReceivedPerS > 10 {
			t.Errorf("second %d inside the pause: acked %.0f/s, received %.0f/s, want ~0", row.T, row.AckedPerS, row.ReceivedPerS)
		}
	}
	if p.NoPublishMS < 1200 {
		t.Errorf("pause of 1.5s: no publish for %d ms only", p.NoPublishMS)
	}
	a := faultOf(t, res, "ack-loss")
	if a.Anomalies.Indeterminate == 0 || c.Recovered == 0 {
		t.Errorf("ack loss: %d indeterminate attributed, %d recovered in all; want confirms lost for messages the queue has", a.Anomalies.Indeterminate, c.Recovered)
	}
	cc := faultOf(t, res, "consumer-crash")
	if cc.Anomalies.Duplicated == 0 || c.DuplicatedRedelivered == 0 {
		t.Errorf("consumer crash: %d duplicated attributed, %d flagged redelivered in all; want the unacknowledged delivery again", cc.Anomalies.Duplicated, c.DuplicatedRedelivered)
	}
	pc := faultOf(t, res, "producer-crash")
	l := faultOf(t, res, "latency")
	for _, f := range []report.Fault{p, l, a, cc, pc} {
		t.Logf("%s %d..%d ms: no publish %d ms, no delivery %d ms, throughput back %d ms after; %+v",
			f.Kind, f.StartMS, f.EndMS, f.NoPublishMS, f.NoDeliveryMS, f.ThroughputRecoveryMS, f.Anomalies)
	}
	t.Logf("counts: sent %d, acked %d, indeterminate %d, recovered %d, duplicated %d (%d redelivered)",
		c.Sent, c.Acked, c.Indeterminate, c.Recovered, c.Duplicated, c.DuplicatedRedelivered)
	if left := processesUnder(dir); len(left) > 0 {
		t.Errorf("processes of the run left behind: %v", left)
	}
}

// processesUnder lists the processes whose command line mentions dir (a
// private broker keeps its data there), with their state (T: stopped).
func processesUnder(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmd, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !strings.Contains(string(cmd), dir) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join(p, "stat"))
		fields := strings.Fields(string(stat))
		state := "?"
		if len(fields) > 2 {
			state = fields[2]
		}
		out = append(out, filepath.Base(p)+" ("+state+")")
	}
	return out
}

// TestDrainDeadlineHolds: a blackhole in front of the node from shortly
// before the end of the load to long after the run leaves every client
// without a broker that answers: publishes wait for a reconnect, consumers
// reconnect again and again (each attempt hangs until its handshake times
// out). The run must still end within drain_timeout of the end of the load
// (plus the time to close), say how long the drain really took, and warn
// that the clients could not reconnect. A consumer taking one message at a
// time keeps a backlog in the queue, so the drain has acked messages to
// wait for until its deadline.
func TestDrainDeadlineHolds(t *testing.T) {
	t.Parallel()
	testenv.Require(t, "rabbitmq", rabbitmq.Installed())
	heartbeat := scenarios.Duration(2 * time.Second)
	// One delivery at a time: the queue holds a backlog of acked messages
	// when the blackhole starts, so the drain has something to wait for.
	prefetch := 1
	s := &scenarios.Scenario{
		Name:         "drain-deadline",
		Seed:         7,
		Duration:     sec(5),
		DrainTimeout: sec(15),
		Broker: scenarios.Broker{Kind: "rabbitmq", Target: "exec",
			Config: &rabbitmq.Config{Heartbeat: heartbeat, Prefetch: &prefetch}},
		Producers: scenarios.Producers{Count: 2, Rate: 4000, MessageSize: 256},
		Consumers: scenarios.Consumers{Count: 1},
		Claims:    []string{"at-least-once"},
		Faults:    []scenarios.Fault{{Kind: "blackhole", At: sec(2), For: sec(600)}},
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	_, err := Run(ctx, Options{Scenario: s, Dir: dir})
	ended := time.Now()
	res, rerr := report.ReadFile(filepath.Join(dir, "results.json"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	plannedEnd := time.Unix(0, res.LoadStartNS).Add(s.Duration.D())
	after := ended.Sub(plannedEnd)
	t.Logf("run error: %v; drain %+v; Run returned %s after the planned end of the load", err, res.Drain, after.Round(time.Millisecond))
	// Closing: consumers (1s each at most), healing the blackhole, the
	// driver and the node.
	const closing = 15 * time.Second
	if limit := s.DrainTimeout.D() + closing; after > limit {
		t.Errorf("Run returned %s after the load, want at most drain_timeout %s + %s", after.Round(time.Millisecond), s.DrainTimeout, closing)
	}
	took := time.Duration(res.Drain.DurationMS) * time.Millisecond
	if took < s.DrainTimeout.D()-time.Second || took > s.DrainTimeout.D()+drainOverrun {
		t.Errorf("drain took %s by results.json, want about drain_timeout %s (the blackhole lasts past the run)", took, s.DrainTimeout)
	}
	if took > after {
		t.Errorf("results.json says the drain took %s, but Run returned %s after the load", took, after)
	}
	if res.Drain.Complete || res.Counts.Unaccounted == 0 {
		t.Errorf("drain %+v, unaccounted %d: want a drain that timed out with acked messages still in the queue", res.Drain, res.Counts.Unaccounted)
	}
	warned := 0
	for _, n := range res.Notices {
		if n.Kind == "reconnect-failing" && n.Warning {
			warned++
		}
	}
	var text strings.Builder
	if err := report.Text(&text, res); err != nil {
		t.Fatal(err)
	}
	if warned == 0 || !strings.Contains(text.String(), "warning at") {
		t.Errorf("%d reconnect-failing warnings; want them in results.json and the summary:\n%s", warned, text.String())
	}
}
