package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/processing"
	"github.com/mqcheck/mqcheck/report"
)

// Idempotent consumers through the CLI (issue 19): embedded Kafka, a
// consumer crashed at a point of its processing, the side effects read
// back from the store. Counts are exact where the run makes them so.

// requireStore skips (or fails with MQCHECK_REQUIRE_BROKERS=1) when the
// machine's server of a store kind does not answer.
func requireStore(t *testing.T, kind string) {
	t.Helper()
	testenv.Optional(t, kind+" for consumers.processing (the machine's own server)", processing.Ping(context.Background(), kind, ""))
}

// idemScenario: one producer at 200/s over four partitions; %d consumers
// processing with store %s; consumer crashes as %s says.
const idemScenario = `name: idem
seed: 5
duration: %s
broker:
  kind: kafka
  target: embedded
  kafka: {partitions: 4}
producers: {count: 1, rate: 200/s, message_size: 200}
consumers:
  count: %d
  processing: {store: %s}
claims: [at-least-once, effectively-once]
faults:
  - kind: consumer-crash
%s`

// fiveCrashes: at 1, 3, 5, 7 and 9 s of an 11 s load. With the run's
// only consumer: each crash comes with a delivery in hand (a consumer of
// two may hold no partition for a while after a rebalance, and crash
// idle), which its replacement reads again: at least one duplicate each.
const fiveCrashes = "    client: 0\n    at: 1s\n    every: 2s\n"

func processed(t *testing.T, res *report.Results) (*checker.ProcessedCounts, *report.Processing) {
	t.Helper()
	if res.Counts.Processed == nil || res.Processing == nil {
		t.Fatalf("no processed layer in results (counts %+v, processing %+v)", res.Counts, res.Processing)
	}
	if res.Processing.Errors != 0 || res.Processing.ReadBackError != "" {
		t.Fatalf("store errors: %+v", res.Processing)
	}
	return res.Counts.Processed, res.Processing
}

func claimVerdict(res *report.Results, name string) checker.Claim {
	for _, c := range res.Claims {
		if c.Name == name {
			return c
		}
	}
	return checker.Claim{}
}

func faultsRan(t *testing.T, res *report.Results, want int) {
	t.Helper()
	if len(res.Faults) != want {
		t.Fatalf("%d faults ran, want %d: %+v", len(res.Faults), want, res.Faults)
	}
}

// TestIdempotentPostgres: five crashes between the side effect and the
// ack; Kafka delivers those messages again (at least one per crash: the
// one in hand was not committed), and the store commits nothing for any
// of them: every duplicate delivery is a skip, none a second effect.
func TestIdempotentPostgres(t *testing.T) {
	t.Parallel()
	requireStore(t, processing.Postgres)
	code, res := runScenario(t, fmt.Sprintf(idemScenario, "11s", 1, "postgres", fiveCrashes+"    crash_point: after-effect\n"))
	faultsRan(t, res, 5)
	c := res.Counts
	p, st := processed(t, res)
	switch {
	case c.Duplicated < 5:
		t.Fatalf("%d duplicate deliveries after 5 crashes between effect and ack, want at least 5", c.Duplicated)
	case p.Twice != 0 || p.Never != 0:
		t.Fatalf("processed %+v: want nothing twice, nothing never", p)
	case p.Effects != c.Acked || p.Unique != c.Acked || c.Acked != c.Sent:
		t.Fatalf("processed %+v, acked %d of %d sent: want one effect per message", p, c.Acked, c.Sent)
	case st.Skipped != c.Duplicated || st.Applied != p.Effects:
		t.Fatalf("consumers' own counts %+v: want every duplicate delivery skipped (%d) and the effects they made = read back (%d)",
			st, c.Duplicated, p.Effects)
	}
	if cl := claimVerdict(res, "effectively-once"); cl.Verdict != checker.Pass || code != exitPass {
		t.Fatalf("effectively-once %s (%s), exit %d: want pass, 0", cl.Verdict, cl.Summary, code)
	}
}

// TestIdempotentNone: the same without a store: every duplicate delivery
// is a second side effect, exactly.
func TestIdempotentNone(t *testing.T) {
	t.Parallel()
	code, res := runScenario(t, fmt.Sprintf(idemScenario, "11s", 1, "none", fiveCrashes))
	faultsRan(t, res, 5)
	c := res.Counts
	p, _ := processed(t, res)
	if c.Duplicated < 5 || p.Twice != c.Duplicated || p.Effects != c.Received || p.Never != 0 {
		t.Fatalf("duplicated %d, received %d, processed %+v: want processed twice = duplicate deliveries (at least 5), one effect per delivery",
			c.Duplicated, c.Received, p)
	}
	cl := claimVerdict(res, "effectively-once")
	if cl.Verdict != checker.Fail || code != exitFail || len(cl.Evidence) == 0 || cl.Evidence[0].Anomaly != "processed_twice" {
		t.Fatalf("effectively-once %s (%s, evidence %+v), exit %d: want fail with processed_twice evidence, 1", cl.Verdict, cl.Summary, cl.Evidence, code)
	}
	if !slices.ContainsFunc(cl.Evidence, func(x checker.Example) bool { return x.Fault != "" && x.At != 0 }) {
		t.Fatalf("evidence %+v: want processed_twice examples dated in a crash's window", cl.Evidence)
	}
}

// TestIdempotentRedisAfterDedupe: crashes between SET NX and the side
// effect leave the key set and no effect; the redelivery finds the key and
// skips: each message so cut is processed never, exactly. One consumer:
// its first crash comes with a first delivery in hand, so at least one is
// cut (a later crash may hold a re-read whose key was set: skipped).
func TestIdempotentRedisAfterDedupe(t *testing.T) {
	t.Parallel()
	requireStore(t, processing.Redis)
	code, res := runScenario(t, fmt.Sprintf(idemScenario, "8s", 1, "redis, ttl: 10m",
		"    client: 0\n    at: 1s\n    every: 2s\n    crash_point: after-dedupe\n"))
	faultsRan(t, res, 4)
	p, st := processed(t, res)
	if st.Stopped == 0 || p.Never != st.Stopped || p.Twice != 0 {
		t.Fatalf("processed %+v, consumers %+v: want processed never = deliveries cut after the dedupe step (> 0), none twice", p, st)
	}
	cl := claimVerdict(res, "effectively-once")
	if cl.Verdict != checker.Fail || code != exitFail {
		t.Fatalf("effectively-once %s (%s), exit %d: want fail, 1", cl.Verdict, cl.Summary, code)
	}
	// Dated by when they were sent (the store has no trace of them): just
	// before the crash that cut them.
	if n := len(cl.Evidence); n == 0 || uint64(n) > p.Never ||
		slices.ContainsFunc(cl.Evidence, func(x checker.Example) bool { return x.Anomaly != "processed_never" || x.At == 0 }) {
		t.Fatalf("evidence %+v: want dated processed_never examples, at most one per message cut (%d)", cl.Evidence, p.Never)
	}
}

// TestIdempotentMemory: a map in each consumer's process, and every
// consumer crashed at once after a side effect: the messages in hand were
// processed and come back to processes that never saw them (restarted
// ones, whose maps died with the old). Every consumer, not one: a
// consumer the group gave no partition crashes idle.
func TestIdempotentMemory(t *testing.T) {
	t.Parallel()
	code, res := runScenario(t, fmt.Sprintf(idemScenario, "7s", 3, "memory", "    client: -1\n    at: 3s\n"))
	faultsRan(t, res, 1)
	c := res.Counts
	p, _ := processed(t, res)
	if p.Twice == 0 || p.Twice > c.Duplicated || p.Never != 0 {
		t.Fatalf("processed %+v, duplicated %d: want some processed twice (at most the duplicate deliveries)", p, c.Duplicated)
	}
	if cl := claimVerdict(res, "effectively-once"); cl.Verdict != checker.Fail || code != exitFail {
		t.Fatalf("effectively-once %s (%s), exit %d: want fail, 1", cl.Verdict, cl.Summary, code)
	}
}

// TestProcessingBadInput: a store that cannot be reached ends the run
// before any broker starts (exit 3, naming it); effectively-once without
// processing is refused (exit 2).
func TestProcessingBadInput(t *testing.T) {
	t.Parallel()
	t.Run("unreachable postgres", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "run")
		body := strings.Replace(fmt.Sprintf(idemScenario, "5s", 1, "postgres", "    at: 1s\n"), "{store: postgres}",
			"{store: postgres, url: 'postgres://postgres@127.0.0.1:1/postgres'}", 1)
		code, _, errOut := mqcheck(t, "run", writeScenario(t, body), "--out", dir, "-q")
		if code != exitInfra || !strings.Contains(errOut, "consumers.processing") || !strings.Contains(errOut, "127.0.0.1:1") {
			t.Fatalf("exit %d, stderr %q: want 3 naming consumers.processing and the url", code, errOut)
		}
		res, err := report.ReadFile(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Measured() || res.Target != "" {
			t.Fatalf("load started (%v) or a target was opened (%q) before the store was reached", res.Measured(), res.Target)
		}
	})
	t.Run("effectively-once without processing", func(t *testing.T) {
		t.Parallel()
		body := "name: x\nbroker: {kind: kafka}\nclaims: [at-least-once, effectively-once]\n"
		for _, cmd := range []string{"validate", "run"} {
			code, _, errOut := mqcheck(t, cmd, writeScenario(t, body))
			if code != exitUsage || !strings.Contains(errOut, "claims.1") || !strings.Contains(errOut, "consumers.processing") {
				t.Fatalf("%s: exit %d, stderr %q: want 2 naming claims.1 and consumers.processing", cmd, code, errOut)
			}
		}
	})
}

// TestProcessingTTLWarning: a redis dedupe key that expires before the
// broker redelivers (JetStream's ack_wait, 30s by default) is warned
// about, naming both.
func TestProcessingTTLWarning(t *testing.T) {
	t.Parallel()
	requireStore(t, processing.Redis)
	body := "name: ttl\nduration: 1s\nbroker: {kind: nats, target: embedded}\nproducers: {rate: 50/s}\n" +
		"consumers: {processing: {store: redis, ttl: 5s}}\n"
	_, res := runScenario(t, body)
	ws := notices(res, "processing")
	if len(ws) != 1 || !strings.Contains(ws[0], "consumers.processing.ttl 5s") || !strings.Contains(ws[0], "broker.nats.ack_wait 30s") {
		t.Fatalf("processing notices %q: want one naming the ttl and ack_wait", ws)
	}
}

// privateRedis starts a redis-server of the test's own on a free port of
// 127.0.0.1, killed by its PID at the end, and returns its port.
func privateRedis(t *testing.T) int {
	t.Helper()
	bin, err := redis.FindServer()
	testenv.Require(t, "redis", err)
	_, err = exec.LookPath("redis-cli")
	testenv.Require(t, "redis", err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	deadline := time.Now().Add(10 * time.Second)
	for processing.Ping(context.Background(), processing.Redis, url) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the private redis-server on port %d did not answer within 10s", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port
}

// TestStorePausedByCommand: the store unavailable for a window, as README
// shows it: a pause fault whose commands pause every client of a private
// Redis for 3 s. The consumers wait on the store (deliveries in the window
// are late by up to the pause), nothing fails, nothing is processed twice
// or never.
func TestStorePausedByCommand(t *testing.T) {
	t.Parallel()
	port := strconv.Itoa(privateRedis(t))
	body := fmt.Sprintf(idemScenario, "8s", 2, "redis, url: 'redis://127.0.0.1:"+port+"/0'", "") +
		"  - kind: pause\n    at: 2s\n    for: 3s\n" +
		"    pause_command: [redis-cli, -p, \"" + port + "\", client, pause, \"3000\", all]\n" +
		"    heal_command: [redis-cli, -p, \"" + port + "\", client, unpause]\n"
	// No consumer crash in this one: the template's fault entry is replaced.
	body = strings.Replace(body, "  - kind: consumer-crash\n", "", 1)
	code, res := runScenario(t, body)
	faultsRan(t, res, 1)
	p, st := processed(t, res)
	c := res.Counts
	if p.Twice != 0 || p.Never != 0 || p.Unique != c.Acked || st.Errors != 0 {
		t.Fatalf("processed %+v, consumers %+v, acked %d: want every message processed once, no store error", p, st, c.Acked)
	}
	// The pause holds every store command for 3 s: a delivery handled
	// at its start waits that long at least (a busy machine only adds).
	if max := res.Latency.EndToEnd.MaxUS; max < 2_000_000 {
		t.Fatalf("end-to-end max %d µs: want the 3 s pause of the store in it", max)
	}
	if code != exitPass {
		t.Fatalf("exit %d, claims %+v", code, res.Claims)
	}
}

// TestStorePause: the store-pause fault freezes the private redis-server
// mqcheck started for the store (target exec) for 3 s: consumers wait,
// nothing is processed twice or never, and the server is gone after the
// run.
func TestStorePause(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("redis-server")
	testenv.Require(t, "redis", err)
	body := strings.Replace(fmt.Sprintf(idemScenario, "8s", 2, "redis, target: exec", ""), "  - kind: consumer-crash\n",
		"  - kind: store-pause\n    at: 2s\n    for: 3s\n", 1)
	code, res := runScenario(t, body)
	faultsRan(t, res, 1)
	if f := res.Faults[0]; f.Kind != "store-pause" || f.Error != "" {
		t.Fatalf("fault %+v", f)
	}
	p, st := processed(t, res)
	if p.Twice != 0 || p.Never != 0 || p.Unique != res.Counts.Acked || st.Errors != 0 {
		t.Fatalf("processed %+v, consumers %+v, acked %d: want every message processed once, no store error", p, st, res.Counts.Acked)
	}
	// SIGSTOP holds every store command for 3 s: a delivery handled at
	// its start waits that long at least.
	if max := res.Latency.EndToEnd.MaxUS; max < 2_000_000 {
		t.Fatalf("end-to-end max %d µs: want the 3 s pause of the store in it", max)
	}
	if code != exitPass {
		t.Fatalf("exit %d, claims %+v", code, res.Claims)
	}
}
