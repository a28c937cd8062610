package runner

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/kafka"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

func kafkaScenario(t *testing.T, faults []scenarios.Fault) *scenarios.Scenario {
	t.Helper()
	yes := true
	s := &scenarios.Scenario{
		Name:     "kafka-it",
		Duration: scenarios.Duration(6 * time.Second),
		Broker: scenarios.Broker{Kind: "kafka", Target: "embedded",
			Config: &kafka.Config{Brokers: 3, Partitions: 6, Acks: "all", Idempotent: &yes}},
		Producers: scenarios.Producers{Count: 3, Rate: 3000, MessageSize: 256},
		Consumers: scenarios.Consumers{Count: 3},
		Claims:    []string{"at-least-once", "ordered"},
		Faults:    faults,
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

func runKafka(t *testing.T, s *scenarios.Scenario) *report.Results {
	t.Helper()
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
	return res
}

// TestKafkaClean: a clean run on the embedded cluster has no anomaly at all.
func TestKafkaClean(t *testing.T) {
	t.Parallel()
	res := runKafka(t, kafkaScenario(t, nil))
	c := res.Counts
	if c.Sent < 10000 || c.Acked != c.Sent || c.Unique != c.Sent || c.Received != c.Sent {
		t.Errorf("counts %+v: want every message acked and received once", c)
	}
	if c.Lost+c.Duplicated+c.Reordered+c.Corrupted+c.Unexpected+c.Indeterminate+c.Failed != 0 {
		t.Errorf("anomalies in a clean run: %+v", c)
	}
	if res.Verdict != checker.Pass || !res.Drain.Complete {
		t.Errorf("verdict %s, drain %+v", res.Verdict, res.Drain)
	}
}

// TestKafkaRestartLosesNothing kills every broker of the embedded cluster in
// the middle of the load: an idempotent acks=all producer loses nothing,
// and the fault window and the recovery are in the results.
func TestKafkaRestartLosesNothing(t *testing.T) {
	t.Parallel()
	res := runKafka(t, kafkaScenario(t, []scenarios.Fault{{Kind: "restart", At: scenarios.Duration(2 * time.Second),
		For: scenarios.Duration(time.Second), Node: -1}}))
	c := res.Counts
	if c.Lost != 0 || c.Unaccounted != 0 || c.Corrupted != 0 || c.Unexpected != 0 || c.Reordered != 0 {
		t.Errorf("counts %+v: want no loss and no reorder", c)
	}
	if c.Acked+c.Indeterminate != c.Sent || c.Unique < c.Acked {
		t.Errorf("counts %+v: every acked message must be received", c)
	}
	if res.Verdict != checker.Pass {
		t.Errorf("verdict %s: %+v", res.Verdict, res.Claims)
	}
	if len(res.Faults) != 1 || res.Faults[0].EndMS-res.Faults[0].StartMS < 1000 || res.Faults[0].Error != "" {
		t.Fatalf("faults %+v: want one restart of at least 1s", res.Faults)
	}
	if res.Faults[0].PublishRecoveryMS < 0 || res.Faults[0].DeliverRecoveryMS < 0 {
		t.Errorf("fault %+v: recovery not measured", res.Faults[0])
	}
	during := 0
	for _, row := range res.Timeline {
		if len(row.Faults) > 0 {
			during++
		}
	}
	if during == 0 {
		t.Errorf("no timeline row shows the fault")
	}
	t.Logf("sent %d, acked %d, indeterminate %d, duplicated %d, publish recovered in %d ms",
		c.Sent, c.Acked, c.Indeterminate, c.Duplicated, res.Faults[0].PublishRecoveryMS)
}
