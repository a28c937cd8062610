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

// TestWorkersProcessesShareRabbitMQ: three worker processes share one
// queue on the machine's RabbitMQ (runRabbitMQWorkers); the merge matches
// what one worker sent and another received: every intended message sent,
// acked and received once.
func TestWorkersProcessesShareRabbitMQ(t *testing.T) {
	t.Parallel()
	r, workers := runRabbitMQWorkers(t, "")
	got := r.Counts
	// 3 s at 900/s: every intended send is made (the pacer's hits are
	// dealt across all three workers' producers).
	const sent = 2700
	want := checker.Counts{Sent: sent, Acked: sent, Received: sent, Unique: sent}
	if pick := pickCounts(got); pick != want {
		t.Errorf("merged counts\n got %+v\nwant %+v", pick, want)
	}
	if r.Verdict != checker.Pass {
		t.Errorf("merged verdict %s", r.Verdict)
	}
	// The workers' own parts add up to the merged sends.
	var sum uint64
	for i, w := range workers {
		sum += w.Counts.Sent
		t.Logf("worker %d: sent %d, received %d, drain %d ms (%s)", i, w.Counts.Sent, w.Counts.Received, w.Drain.DurationMS, w.Drain.Reason)
		if w.Counts.Sent != sent/3 || w.Counts.Unexpected != 0 || w.Counts.Lost != 0 {
			t.Errorf("worker %d: sent %d (want %d), unexpected %d, lost %d: a worker judges its own producers, and leaves what is missing to the merge",
				i, w.Counts.Sent, sent/3, w.Counts.Unexpected, w.Counts.Lost)
		}
	}
	if sum != got.Sent {
		t.Errorf("workers sent %d together, the merge says %d", sum, got.Sent)
	}
	// One machine, one clock: the true offset, 0, lies within every
	// bound the merge gives (its width is the delays', not asserted).
	if len(r.Merged.Clocks) != 2 {
		t.Fatalf("clocks %+v, want workers 1 and 2", r.Merged.Clocks)
	}
	for _, c := range r.Merged.Clocks {
		t.Logf("clock of worker %d: %+d ± %d µs", c.Worker, c.OffsetUS, c.ErrorUS)
		if !c.Known || c.OffsetUS > c.ErrorUS+1 || -c.OffsetUS > c.ErrorUS+1 {
			t.Errorf("worker %d: offset %d ± %d µs (known %v) excludes 0, the offset of one machine's clock", c.Worker, c.OffsetUS, c.ErrorUS, c.Known)
		}
	}
}

// TestWorkersProcessesConsumerCrash: worker 1's first consumer dies before
// it acknowledges a delivery it processed; RabbitMQ hands what it held,
// flagged redelivered, to any consumer of the queue, another worker's
// too. Only the merge sees both copies: nothing is lost, every copy past
// the first is one duplicate, at-most-once fails and at-least-once holds.
func TestWorkersProcessesConsumerCrash(t *testing.T) {
	t.Parallel()
	r, workers := runRabbitMQWorkers(t, "faults: [{kind: consumer-crash, at: 1s, client: 0, worker: 1}]\n")
	c := r.Counts
	const sent = 2700
	if c.Sent != sent || c.Acked != sent || c.Unique != sent || c.Lost != 0 || c.Unexpected != 0 {
		t.Errorf("merged counts %+v: every message sent, acked and received, none lost", c)
	}
	if c.Duplicated < 1 || c.Received != c.Unique+c.Duplicated {
		t.Errorf("duplicated %d, received %d of %d unique: the crashed delivery must come again", c.Duplicated, c.Received, c.Unique)
	}
	for i, w := range workers {
		if len(w.Faults) != 1 || w.Faults[0].Elsewhere != (i != 1) {
			t.Errorf("worker %d faults %+v: want the crash, run by worker 1 and told to the others", i, w.Faults)
		}
	}
	if len(r.Faults) != 1 || r.Faults[0].Elsewhere || r.Faults[0].Worker == nil || *r.Faults[0].Worker != 1 {
		t.Errorf("merged faults %+v, want worker 1's crash once", r.Faults)
	}
	for _, cl := range r.Claims {
		if want := map[string]string{"at-most-once": checker.Fail, "at-least-once": checker.Pass}[cl.Name]; cl.Verdict != want {
			t.Errorf("%s: %s (%s), want %s", cl.Name, cl.Verdict, cl.Summary, want)
		}
	}
	t.Logf("duplicated %d: %d flagged redelivered within a worker, %d found only by the merge", c.Duplicated,
		c.DuplicatedRedelivered, c.DuplicatedPositionUnknown)
}

func pickCounts(c checker.Counts) checker.Counts {
	return checker.Counts{Sent: c.Sent, Acked: c.Acked, Received: c.Received, Unique: c.Unique, Lost: c.Lost,
		Duplicated: c.Duplicated, Unexpected: c.Unexpected, Indeterminate: c.Indeterminate, Unaccounted: c.Unaccounted}
}

// runRabbitMQWorkers runs three mqcheck processes, each a worker of one
// run (--run-id; the index from --worker or, as a Kubernetes Indexed Job
// gives it, $JOB_COMPLETION_INDEX), against one queue on the machine's
// RabbitMQ, their consumers competing for every worker's messages, and
// merges them. It returns the merged results and the workers'.
func runRabbitMQWorkers(t *testing.T, extra string) (*report.Results, []*report.Results) {
	t.Helper()
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
`, sharedRabbitMQ, queue)+extra)
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
	var workers []*report.Results
	for _, d := range dirs {
		w, err := report.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	out := filepath.Join(base, "merged")
	code, stdout, stderr := mqcheck(t, append(append([]string{"merge"}, dirs...), "--out", out)...)
	r, err := report.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("merge: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	if want := map[string]int{checker.Pass: exitPass, checker.Fail: exitFail}[r.Verdict]; code != want {
		t.Errorf("merge exit %d for verdict %s", code, r.Verdict)
	}
	return r, workers
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
