package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
)

// backlogSent is what produceBacklog publishes: 2 producers at 2,000/s
// for 1s, every intended send made.
const backlogSent = 2000

// produceBacklog runs a produce-only scenario through the CLI against a
// fresh queue on the machine's RabbitMQ, kept at the end (deleted when
// the test ends), and returns the queue and the run directory.
func produceBacklog(t *testing.T) (queue, dir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("two runs against RabbitMQ")
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err != nil {
		t.Skipf("no RabbitMQ on 127.0.0.1:5672: %v", err)
	}
	c.Close()
	queue = "mqcheck-backlog-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { deleteQueue(t, queue) })
	dir = filepath.Join(t.TempDir(), "produce")
	code, out, errOut := mqcheck(t, "run", writeScenario(t, fmt.Sprintf(`name: produce-backlog
duration: 1s
broker: {kind: rabbitmq, url: %q, destination: %s, keep: true}
producers: {count: 2, rate: 2000/s, message_size: 200}
consumers: {count: 0}
`, sharedRabbitMQ, queue)), "--out", dir, "-q")
	if code != exitPass {
		t.Fatalf("produce-only run: exit %d\n%s\n%s", code, out, errOut)
	}
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c := res.Counts; c.Sent != backlogSent || c.Acked != backlogSent {
		t.Fatalf("produce-only run: sent %d, acked %d; want %d each", c.Sent, c.Acked, backlogSent)
	}
	return queue, dir
}

// consumeBacklog is the consume-only scenario: no destination (it is the
// backlog's), both loss and duplicate claims.
var consumeBacklog = fmt.Sprintf(`name: consume-backlog
drain_timeout: 30s
drain_settle: 500ms
broker: {kind: rabbitmq, url: %q}
producers: {count: 0}
consumers: {count: 2}
claims: [at-least-once, at-most-once]
`, sharedRabbitMQ)

// consume runs the consume-only scenario body on backlog through the CLI.
func consume(t *testing.T, body, backlog string) (int, *report.Results, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "consume")
	code, out, errOut := mqcheck(t, "run", writeScenario(t, body), "--backlog", backlog, "--out", dir)
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatalf("consume-only run: exit %d, no results: %v\n%s\n%s", code, err, out, errOut)
	}
	return code, res, out
}

// TestConsumeOnlyReadsBacklog: a consume-only run reads what a
// produce-only run left in its queue and judges it as one run would:
// every acked message received once, nothing lost, a pass. Its rate is
// the consume rate, and its end-to-end latency says it includes the wait.
func TestConsumeOnlyReadsBacklog(t *testing.T) {
	t.Parallel()
	_, backlog := produceBacklog(t)
	code, res, out := consume(t, consumeBacklog, backlog)
	c := res.Counts
	if code != exitPass || res.Verdict != checker.Pass {
		t.Errorf("exit %d, verdict %s: want 0, pass\n%s", code, res.Verdict, out)
	}
	want := checker.Counts{Sent: backlogSent, Acked: backlogSent, Received: backlogSent, Unique: backlogSent}
	if got := pickCounts(c); got != want {
		t.Errorf("counts\n got %+v\nwant %+v", got, want)
	}
	if c.Foreign != 0 || c.Reordered != 0 || c.Corrupted != 0 {
		t.Errorf("foreign %d, reordered %d, corrupted %d: want none", c.Foreign, c.Reordered, c.Corrupted)
	}
	prod, err := report.ReadFile(filepath.Join(backlog, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := res.Backlog
	if b == nil || b.RunID != prod.RunID || res.RunID != prod.RunID || b.Acked != backlogSent || b.Dir != backlog {
		t.Errorf("backlog %+v, run id %s: want the produce-only run's (%s, %s)", b, res.RunID, backlog, prod.RunID)
	}
	if res.Load.Mode != report.LoadConsumeOnly || res.Throughput.ReceivedPerS <= 0 || res.Throughput.SentPerS != 0 {
		t.Errorf("load %s, throughput %+v: want consume-only with a consume rate only", res.Load.Mode, res.Throughput)
	}
	if res.Latency.EndToEnd.Count != backlogSent {
		t.Errorf("end-to-end samples %d, want %d", res.Latency.EndToEnd.Count, backlogSent)
	}
	for _, w := range []string{"consume-only:", "throughput  consumed", "waited in the backlog"} {
		if !strings.Contains(out, w) {
			t.Errorf("summary does not say %q:\n%s", w, out)
		}
	}
	t.Logf("consumed %.0f/s, drain %d ms (%s)", res.Throughput.ReceivedPerS, res.Drain.DurationMS, res.Drain.Reason)
}

// TestConsumeOnlyFindsInjectedAnomalies: between the two runs a client
// takes exactly 7 messages away (basic.get, acked) and publishes one more
// message's body back twice (it was taken too): the consume-only run
// counts exactly 7 lost and 1 duplicated, and both claims fail (exit 1).
func TestConsumeOnlyFindsInjectedAnomalies(t *testing.T) {
	t.Parallel()
	queue, backlog := produceBacklog(t)
	const taken = 7
	tamper(t, queue, taken)
	code, res, out := consume(t, consumeBacklog, backlog)
	c := res.Counts
	if code != exitFail || res.Verdict != checker.Fail {
		t.Errorf("exit %d, verdict %s: want 1, fail\n%s", code, res.Verdict, out)
	}
	want := checker.Counts{Sent: backlogSent, Acked: backlogSent, Received: backlogSent - taken + 1,
		Unique: backlogSent - taken, Lost: taken, Duplicated: 1}
	if got := pickCounts(c); got != want {
		t.Errorf("counts\n got %+v\nwant %+v", got, want)
	}
	if !res.Drain.Complete {
		t.Errorf("drain %+v: the broker had nothing left, so the missing are lost", res.Drain)
	}
	// The lost were sent in the produce-only run: their times count
	// from its start, and say so.
	if !strings.Contains(out, "(time in the produce-only run)") {
		t.Errorf("the summary's lost evidence is not dated in the produce-only run:\n%s", out)
	}
	for _, cl := range res.Claims {
		if cl.Verdict != checker.Fail {
			t.Errorf("%s: %s (%s), want fail", cl.Name, cl.Verdict, cl.Summary)
		}
	}
}

// tamper takes n messages off queue for good, then takes one more and
// publishes its body back twice, confirmed: n lost, one duplicated.
func tamper(t *testing.T, queue string, n int) {
	t.Helper()
	conn, err := amqp.Dial(sharedRabbitMQ)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	get := func() amqp.Delivery {
		d, ok, err := ch.Get(queue, false)
		if err != nil || !ok {
			t.Fatalf("basic.get on %s: ok %v, %v", queue, ok, err)
		}
		if err := d.Ack(false); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for range n {
		get()
	}
	body := get().Body
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("copy not confirmed: %v, %v", ok, err)
		}
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := backlogSent - n + 1; q.Messages != want {
		t.Fatalf("queue %s holds %d messages after the tampering, want %d", queue, q.Messages, want)
	}
}

// TestConsumeOnlyRefuses: a consume-only run with nothing to judge
// against, or a backlog it cannot read, runs nothing (exit 2) and says
// what is wrong, naming both sides where two disagree.
func TestConsumeOnlyRefuses(t *testing.T) {
	t.Parallel()
	// A produce-only run on an embedded broker: it stopped with the run.
	embedded := filepath.Join(t.TempDir(), "embedded")
	if code, out, errOut := mqcheck(t, "run", writeScenario(t, strings.Replace(produceOnly, "%q", `"failed == 0"`, 1)),
		"--out", embedded, "--set", "duration=200ms", "-q"); code != exitPass {
		t.Fatalf("produce-only run: exit %d\n%s\n%s", code, out, errOut)
	}
	// The same run, killed (SIGKILL) before it ended: its partial results,
	// and no checker state.
	partial := filepath.Join(t.TempDir(), "partial")
	copyRun(t, embedded, partial, func(name string, data []byte) []byte {
		switch name {
		case "results.json":
			return []byte(strings.Replace(string(data), `"schema_version"`, `"partial": true, "schema_version"`, 1))
		case "checker.state":
			return nil
		}
		return data
	})
	// A run whose consumers read its messages already.
	consumed := filepath.Join(t.TempDir(), "consumed")
	if code, out, errOut := mqcheck(t, "run", writeScenario(t, okScenario), "--out", consumed, "--set", "duration=200ms", "-q"); code != exitPass {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	memConsume := "name: c\nbroker: {kind: memory}\nproducers: {count: 0}\nconsumers: {count: 1}\n"
	urlConsume := fmt.Sprintf("name: c\nbroker: {kind: rabbitmq, url: %q}\nproducers: {count: 0}\nconsumers: {count: 1}\n", sharedRabbitMQ)
	for _, tc := range []struct {
		name    string
		body    string
		backlog string
		want    []string
	}{
		{"no backlog", memConsume, "", []string{"producers.count", "consumers.backlog is not set", "--backlog DIR"}},
		{"backlog with producers", okScenario, embedded, []string{"consumers.backlog", "set producers.count: 0"}},
		{"no such directory", memConsume, filepath.Join(embedded, "nope"), []string{"consumers.backlog", "no such file"}},
		{"not a run directory", memConsume, t.TempDir(), []string{"not an mqcheck run directory", "no results.json"}},
		{"embedded broker", memConsume, embedded, []string{"target embedded", "stopped with it", "target url"}},
		{"partial run", memConsume, partial, []string{partial, "partial run"}},
		{"consumed already", memConsume, consumed, []string{"not a produce-only run", "consumers.count is 2"}},
		{"other kind", urlConsume, embedded, []string{"broker.kind is rabbitmq", "used memory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "run")
			args := []string{"run", writeScenario(t, tc.body), "--out", out}
			if tc.backlog != "" {
				args = append(args, "--backlog", tc.backlog)
			}
			code, _, errOut := mqcheck(t, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2\n%s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not say %q:\n%s", w, errOut)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("run directory %s made for a run refused", out)
			}
		})
	}
	t.Run("validate reads the backlog", func(t *testing.T) {
		t.Parallel()
		code, _, errOut := mqcheck(t, "validate", writeScenario(t, memConsume), "--set", "consumers.backlog="+consumed)
		if code != exitUsage || !strings.Contains(errOut, "not a produce-only run") {
			t.Errorf("exit %d: %s", code, errOut)
		}
	})
	t.Run("out is the backlog", func(t *testing.T) {
		t.Parallel()
		code, _, errOut := mqcheck(t, "run", writeScenario(t, memConsume), "--backlog", embedded, "--out", embedded, "--force")
		if code != exitUsage || !strings.Contains(errOut, "is the backlog's run directory") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(embedded, "results.json")); err != nil {
			t.Errorf("the backlog's results are gone: %v", err)
		}
	})
}

// TestConsumeOnlyRefusesMismatch: a backlog on another broker, in another
// destination, or not kept, is refused before anything runs, naming both.
func TestConsumeOnlyRefusesMismatch(t *testing.T) {
	t.Parallel()
	queue, backlog := produceBacklog(t)
	notKept := filepath.Join(t.TempDir(), "not-kept")
	copyRun(t, backlog, notKept, func(name string, data []byte) []byte {
		if name == "scenario.yaml" {
			return []byte(strings.Replace(string(data), "keep: true", "keep: false", 1))
		}
		return data
	})
	for _, tc := range []struct {
		name, backlog string
		sets          []string
		want          []string
	}{
		{"other url", backlog, []string{"broker.url=amqp://guest:guest@127.0.0.1:5673/"},
			[]string{"broker.url is amqp://***:***@127.0.0.1:5673/", "used amqp://***:***@127.0.0.1:5672/"}},
		{"other destination", backlog, []string{"broker.destination=elsewhere"},
			[]string{"broker.destination is elsewhere", "used " + queue}},
		{"more subscriptions", backlog, []string{"consumers.subscriptions=2", "broker.rabbitmq.pattern=fanout"},
			[]string{"consumers.subscriptions is 2", "used 1"}},
		{"not kept", notKept, nil, []string{"broker.keep is false", "broker.keep: true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"run", writeScenario(t, consumeBacklog), "--backlog", tc.backlog, "--out", filepath.Join(t.TempDir(), "run")}
			for _, s := range tc.sets {
				args = append(args, "--set", s)
			}
			code, _, errOut := mqcheck(t, args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want 2\n%s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not say %q:\n%s", w, errOut)
				}
			}
		})
	}
	// Nothing was read: the backlog is whole.
	conn, err := amqp.Dial(sharedRabbitMQ)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil); err != nil || q.Messages != backlogSent {
		t.Errorf("queue %s: %d messages (%v), want the whole backlog, %d", queue, q.Messages, err, backlogSent)
	}
}

// copyRun copies a run directory's results, scenario and checker state,
// each through edit; a file edit returns nil for is left out.
func copyRun(t *testing.T, from, to string, edit func(name string, data []byte) []byte) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"results.json", "scenario.yaml", "checker.state"} {
		data, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		data = edit(name, data)
		if data == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(to, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
