package main

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
)

// sharedRabbitMQ is the machine's RabbitMQ, used as an existing broker
// (url target) only: never restarted or reconfigured.
const sharedRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"

// TestWorkersProcessesShareRabbitMQ: three mqcheck processes, each a
// worker of one run (--run-id, index from --worker or, as a Kubernetes
// Indexed Job gives it, $JOB_COMPLETION_INDEX), publish to and consume
// from one queue on the machine's RabbitMQ, their consumers competing for
// every worker's messages; the merge matches what one worker sent and
// another received: every intended message sent, acked and received once.
func TestWorkersProcessesShareRabbitMQ(t *testing.T) {
	if testing.Short() {
		t.Skip("three processes against RabbitMQ")
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err != nil {
		t.Skipf("no RabbitMQ on 127.0.0.1:5672: %v", err)
	}
	c.Close()
	queue := "mqcheck-split-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteQueue(t, queue) })
	file := writeScenario(t, fmt.Sprintf(`name: split-rabbitmq
duration: 3s
drain_timeout: 30s
drain_settle: 1s
broker: {kind: rabbitmq, url: %q, destination: %s}
producers: {count: 3, rate: 900/s, message_size: 200}
consumers: {count: 3}
claims: [at-most-once, at-least-once]
`, sharedRabbitMQ, queue))
	base := t.TempDir()
	runID := "rabbit-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// Process start-up is slow under the race detector: the barrier
	// leaves time for all three.
	startAt := time.Now().Add(8 * time.Second).UTC().Format(time.RFC3339)
	var procs []*proc
	var dirs []string
	for i := range 3 {
		dir := filepath.Join(base, fmt.Sprintf("w%d", i))
		args := []string{"run", file, "--run-id", runID, "--start-at", startAt, "--out", dir, "-q"}
		var env []string
		if i == 2 {
			args = append(args, "--workers", "3")
			env = []string{jobIndexEnv + "=2"}
		} else {
			args = append(args, "--worker", fmt.Sprintf("%d/3", i))
		}
		procs = append(procs, startMQCheckIn(t, "", env, args...))
		dirs = append(dirs, dir)
	}
	for i, p := range procs {
		if code := p.wait(t, 90*time.Second); code != exitPass {
			t.Fatalf("worker %d: exit %d\n%s", i, code, p.output())
		}
	}
	out := filepath.Join(base, "merged")
	code, stdout, stderr := mqcheck(t, append(append([]string{"merge"}, dirs...), "--out", out)...)
	r, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("merge: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	got := r.Counts
	// 3 s at 900/s: every intended send is made (the pacer's hits are
	// dealt across all three workers' producers).
	const sent = 2700
	want := checker.Counts{Sent: sent, Acked: sent, Received: sent, Unique: sent}
	pick := checker.Counts{Sent: got.Sent, Acked: got.Acked, Received: got.Received, Unique: got.Unique, Lost: got.Lost,
		Duplicated: got.Duplicated, Unexpected: got.Unexpected, Indeterminate: got.Indeterminate, Unaccounted: got.Unaccounted}
	if pick != want {
		t.Errorf("merged counts\n got %+v\nwant %+v", pick, want)
	}
	if code != exitPass || r.Verdict != checker.Pass {
		t.Errorf("merge: exit %d, verdict %s\n%s", code, r.Verdict, stderr)
	}
	// The workers' own parts add up to the merged sends, and their
	// consumers took messages of other workers' producers.
	var sum uint64
	for i, d := range dirs {
		w, err := report.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		sum += w.Counts.Sent
		t.Logf("worker %d: sent %d, received %d, drain %d ms (%s), started %s, ended %s", i, w.Counts.Sent, w.Counts.Received,
			w.Drain.DurationMS, w.Drain.Reason, w.StartedAt, w.EndedAt)
		if w.Counts.Sent != sent/3 || w.Counts.Unexpected != 0 || w.Counts.Lost != 0 {
			t.Errorf("worker %d: sent %d (want %d), unexpected %d, lost %d: a worker judges its own producers, and leaves what is missing to the merge",
				i, w.Counts.Sent, sent/3, w.Counts.Unexpected, w.Counts.Lost)
		}
	}
	if sum != got.Sent {
		t.Errorf("workers sent %d together, the merge says %d", sum, got.Sent)
	}
}

func deleteQueue(t *testing.T, queue string) {
	conn, err := amqp.Dial(sharedRabbitMQ)
	if err != nil {
		t.Logf("deleting %s: %v", queue, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Logf("deleting %s: %v", queue, err)
		return
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Logf("deleting %s: %v", queue, err)
	}
}
