package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/mqcheck/mqcheck/broker/memory"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/broker/kafka"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// Fault integration tests: each fault kind injected into a run against the
// embedded Kafka cluster, healed, and its effect asserted as the counts a
// user reads in results.json. Several faults share a run where their
// windows do not touch, to keep the suite short.

func sec(s float64) scenarios.Duration { return scenarios.Duration(s * float64(time.Second)) }

// faultScenario is kafkaScenario with the faults and adjustments given.
func faultScenario(t *testing.T, d float64, faults []scenarios.Fault, mutate func(*scenarios.Scenario)) *scenarios.Scenario {
	t.Helper()
	s := kafkaScenario(t, nil)
	s.Faults = faults
	s.Duration = sec(d)
	s.Seed = 11
	if mutate != nil {
		mutate(s)
	}
	s.ApplyDefaults()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// rowsInside are the timeline rows whose whole second lies in [from, to]
// (ms since the load started).
func rowsInside(res *report.Results, from, to int64) []report.Second {
	var out []report.Second
	for _, row := range res.Timeline {
		if (row.T-1)*1000 >= from && row.T*1000 <= to {
			out = append(out, row)
		}
	}
	return out
}

func faultOf(t *testing.T, res *report.Results, kind string) report.Fault {
	t.Helper()
	for _, f := range res.Faults {
		if f.Kind == kind {
			if f.Error != "" {
				t.Errorf("fault %s: %s", kind, f.Error)
			}
			return f
		}
	}
	t.Fatalf("no %s fault in %+v", kind, res.Faults)
	return report.Fault{}
}

// TestKafkaBlackhole: a partition stops every publish and delivery for its
// duration (acked 0/s inside it), nothing is lost, and the unavailability
// measured matches the window.
func TestKafkaBlackhole(t *testing.T) {
	t.Parallel()
	res := runKafka(t, faultScenario(t, 6, []scenarios.Fault{{Kind: "blackhole", At: sec(2), For: sec(2.5)}}, nil))
	f := faultOf(t, res, "blackhole")
	inside := rowsInside(res, f.StartMS+500, f.EndMS)
	if len(inside) == 0 {
		t.Fatalf("no timeline second inside the blackhole %d..%d ms", f.StartMS, f.EndMS)
	}
	for _, row := range inside {
		if row.AckedPerS > 30 || row.ReceivedPerS > 30 {
			t.Errorf("second %d inside the blackhole: acked %.0f/s, received %.0f/s, want ~0", row.T, row.AckedPerS, row.ReceivedPerS)
		}
	}
	if f.NoPublishMS < 2000 || f.NoDeliveryMS < 2000 {
		t.Errorf("unavailability %d ms publish, %d ms delivery, want about the 2.5s window", f.NoPublishMS, f.NoDeliveryMS)
	}
	c := res.Counts
	if c.Lost != 0 || c.Unaccounted != 0 || f.Anomalies.Lost != 0 {
		t.Errorf("counts %+v: a blackhole made an idempotent producer lose messages", c)
	}
	var rates []string
	for _, row := range res.Timeline {
		rates = append(rates, fmt.Sprintf("%d:%.0f", row.T, row.AckedPerS))
	}
	t.Logf("blackhole %d..%d ms; acked/s by second %s; no publish %d ms, no delivery %d ms; throughput back %d ms after the heal (baseline %.0f/s)",
		f.StartMS, f.EndMS, strings.Join(rates, " "), f.NoPublishMS, f.NoDeliveryMS, f.ThroughputRecoveryMS, f.BaselinePerS)
}

// TestKafkaLatency: 100ms each way from the first second on shows in the
// percentiles (a produce and a fetch each cross the proxy both ways): p50
// at least 200ms, where the same load without it is ~10ms. It starts once
// the consumer group has settled: under latency, joining takes seconds.
func TestKafkaLatency(t *testing.T) {
	t.Parallel()
	res := runKafka(t, faultScenario(t, 5, []scenarios.Fault{{Kind: "latency", At: sec(1), For: sec(10),
		Latency: scenarios.Duration(100 * time.Millisecond), Jitter: scenarios.Duration(10 * time.Millisecond)}}, nil))
	faultOf(t, res, "latency")
	e2e, pub := res.Latency.EndToEnd, res.Latency.Publish
	if e2e.P50US < 200_000 || pub.P50US < 200_000 {
		t.Errorf("latency 100ms each way: end-to-end p50 %dus, publish p50 %dus, want at least 200ms", e2e.P50US, pub.P50US)
	}
	if res.Counts.Lost != 0 || res.Counts.Acked == 0 {
		t.Errorf("counts %+v", res.Counts)
	}
	t.Logf("latency 100ms±10ms each way: publish p50 %.0fms p99 %.0fms, end-to-end p50 %.0fms p99 %.0fms",
		float64(pub.P50US)/1e3, float64(pub.P99US)/1e3, float64(e2e.P50US)/1e3, float64(e2e.P99US)/1e3)
}

// TestKafkaAckLoss: the broker's answers are dropped for 2s while requests
// reach it. A non-idempotent producer with a 1s delivery timeout gives up on
// what it sent (indeterminate), and what the broker had written arrives
// anyway (recovered) or twice (a retry that was written again: duplicated).
func TestKafkaAckLoss(t *testing.T) {
	t.Parallel()
	no := false
	res := runKafka(t, faultScenario(t, 6, []scenarios.Fault{{Kind: "ack-loss", At: sec(2), For: sec(2)}}, func(s *scenarios.Scenario) {
		s.Broker.Config.(*kafka.Config).Idempotent = &no
		s.Broker.Config.(*kafka.Config).DeliveryTimeout = sec(1)
		s.Claims = []string{"at-least-once"}
	}))
	f := faultOf(t, res, "ack-loss")
	c := res.Counts
	if c.Indeterminate == 0 || c.Recovered+c.Duplicated == 0 {
		t.Errorf("counts %+v: want indeterminate sends, delivered as recovered or duplicated", c)
	}
	if f.Anomalies.Indeterminate == 0 || f.Anomalies.Indeterminate > c.Indeterminate {
		t.Errorf("fault %+v: the indeterminate sends must be attributed to it (%d in all)", f.Anomalies, c.Indeterminate)
	}
	if c.Lost != 0 {
		t.Errorf("lost %d: answers lost must not lose acked messages", c.Lost)
	}
	t.Logf("ack loss 2s: sent %d, indeterminate %d (recovered %d), duplicated %d, lost %d; attributed: %+v; no publish %d ms",
		c.Sent, c.Indeterminate, c.Recovered, c.Duplicated, c.Lost, f.Anomalies, f.NoPublishMS)
}

// TestKafkaPauseAndPartitionFaults: a pause of every node freezes the
// cluster with its connections open (acked ~0/s inside it), a burst of
// connection resets, a bandwidth limit that caps throughput, and a move of
// every partition leader: each healed, nothing lost.
func TestKafkaPauseAndPartitionFaults(t *testing.T) {
	t.Parallel()
	res := runKafka(t, faultScenario(t, 11, []scenarios.Fault{
		{Kind: "pause", At: sec(1.5), For: sec(2), Node: -1},
		{Kind: "reset", At: sec(4.5), For: sec(0.5)},
		{Kind: "bandwidth", At: sec(6), For: sec(2), Bandwidth: 10_000},
		{Kind: "leader-move", At: sec(9.5), For: sec(1)},
	}, nil))
	c := res.Counts
	if c.Lost != 0 || c.Unaccounted != 0 || c.Corrupted != 0 {
		t.Errorf("counts %+v: want nothing lost", c)
	}
	p := faultOf(t, res, "pause")
	for _, row := range rowsInside(res, p.StartMS+500, p.EndMS) {
		if row.AckedPerS > 30 {
			t.Errorf("second %d inside the pause: acked %.0f/s, want ~0", row.T, row.AckedPerS)
		}
	}
	if p.NoPublishMS < 1500 {
		t.Errorf("pause of 2s: no publish for %d ms only", p.NoPublishMS)
	}
	b := faultOf(t, res, "bandwidth")
	// Over the window as a whole: batches written just before the limit
	// can still be acknowledged in a burst within it.
	var sum float64
	inside := rowsInside(res, b.StartMS+300, b.EndMS)
	for _, row := range inside {
		sum += row.AckedPerS
	}
	if len(inside) == 0 || sum/float64(len(inside)) > 1500 {
		t.Errorf("under 10kB/s per connection: acked %.0f/s on average over %d seconds, want well below 3000/s", sum/float64(max(1, len(inside))), len(inside))
	}
	r := faultOf(t, res, "reset")
	m := faultOf(t, res, "leader-move")
	if !strings.Contains(m.Detail, "->") {
		t.Errorf("leader move detail %q", m.Detail)
	}
	var rates []string
	for _, row := range res.Timeline {
		rates = append(rates, fmt.Sprintf("%d:%.0f", row.T, row.AckedPerS))
	}
	t.Logf("acked/s by second %s", strings.Join(rates, " "))
	for _, f := range []report.Fault{p, r, b, m} {
		t.Logf("%s %d..%d ms: no publish %d ms, no delivery %d ms, throughput back %d ms after; %+v %s",
			f.Kind, f.StartMS, f.EndMS, f.NoPublishMS, f.NoDeliveryMS, f.ThroughputRecoveryMS, f.Anomalies, f.Detail)
	}
}

// TestKafkaRollingRestart: the three nodes restarted one after another
// (killed, 600ms down each), with idempotent producers: nothing lost.
func TestKafkaRollingRestart(t *testing.T) {
	t.Parallel()
	res := runKafka(t, faultScenario(t, 7, []scenarios.Fault{{Kind: "rolling-restart", At: sec(1.5), For: sec(0.6)}}, nil))
	f := faultOf(t, res, "rolling-restart")
	if d := f.EndMS - f.StartMS; d < 5*600 {
		t.Errorf("rolling restart of 3 nodes at 600ms each took %d ms, want at least 3s", d)
	}
	c := res.Counts
	if c.Lost != 0 || c.Unaccounted != 0 {
		t.Errorf("counts %+v: want nothing lost", c)
	}
	t.Logf("rolling restart %d..%d ms: sent %d, duplicated %d (attributed %d), no publish %d ms",
		f.StartMS, f.EndMS, c.Sent, c.Duplicated, f.Anomalies.Duplicated, f.NoPublishMS)
}

// TestKafkaClientCrashes: a consumer crashed before its ack has its messages
// delivered again (duplicates, no loss); a producer crashed with messages in
// flight leaves them indeterminate.
func TestKafkaClientCrashes(t *testing.T) {
	t.Parallel()
	res := runKafka(t, faultScenario(t, 6, []scenarios.Fault{
		{Kind: "consumer-crash", At: sec(2), For: sec(1), Client: 0},
		{Kind: "producer-crash", At: sec(4), For: sec(1), Client: -1},
	}, func(s *scenarios.Scenario) {
		// A longer linger keeps records in flight when the producers crash.
		linger := scenarios.Duration(50 * time.Millisecond)
		s.Broker.Config.(*kafka.Config).Linger = &linger
	}))
	cc, pc := faultOf(t, res, "consumer-crash"), faultOf(t, res, "producer-crash")
	c := res.Counts
	if c.Duplicated == 0 || cc.Anomalies.Duplicated == 0 {
		t.Errorf("consumer crash: %d duplicated, %d attributed, want the unacknowledged deliveries again", c.Duplicated, cc.Anomalies.Duplicated)
	}
	if c.Lost != 0 || c.Unaccounted != 0 {
		t.Errorf("lost %d, unaccounted %d after client crashes", c.Lost, c.Unaccounted)
	}
	if c.Indeterminate == 0 || pc.Anomalies.Indeterminate == 0 {
		// The fault's record says when the crash came and what it found
		// (a failure in CI was seen once, without it).
		t.Errorf("producer crash: %d indeterminate (%d attributed), want the messages it had in flight; the fault: %+v", c.Indeterminate, pc.Anomalies.Indeterminate, pc)
	}
	t.Logf("consumer crash: duplicated %d (attributed %d); producer crash of 3: indeterminate %d (attributed %d), recovered %d",
		c.Duplicated, cc.Anomalies.Duplicated, c.Indeterminate, pc.Anomalies.Indeterminate, c.Recovered)
}

// TestRandomScheduleReproduces: two runs of one scenario with the same seed
// apply the same random schedule, as results.json and the summary show it;
// another seed gives another.
func TestRandomScheduleReproduces(t *testing.T) {
	t.Parallel()
	sched := func(seed int64) ([]string, string) {
		s := memoryScenario(t, "partitioned", 1, memory.Faults{}, seed)
		s.Duration = sec(3)
		s.Faults = []scenarios.Fault{
			{Kind: "consumer-crash", For: sec(0.2), Client: -1, Random: &scenarios.RandomSchedule{Count: 2, From: sec(0.5), To: sec(2.5)}},
			{Kind: "producer-crash", For: sec(0.1), Random: &scenarios.RandomSchedule{Count: 1}},
		}
		s.Claims = []string{"at-least-once"}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		res := runScenario(t, s)
		var out []string
		for _, f := range res.Faults {
			if f.Error != "" {
				t.Errorf("fault %s: %s", f.Target, f.Error)
			}
			// Late only by what a loaded machine delays a timer (894 ms
			// seen in a full CI run): a schedule off by seconds is a bug.
			if d := f.StartMS - f.PlannedMS; d < 0 || d > 2000 {
				t.Errorf("fault planned at %d ms started at %d ms", f.PlannedMS, f.StartMS)
			}
			out = append(out, fmt.Sprintf("%d %s %s", f.PlannedMS, f.Kind, f.Schedule))
		}
		var text bytes.Buffer
		if err := report.Text(&text, res); err != nil {
			t.Fatal(err)
		}
		if res.Counts.Lost != 0 {
			t.Errorf("client crashes lost %d messages", res.Counts.Lost)
		}
		return out, text.String()
	}
	a, text := sched(99)
	b, _ := sched(99)
	if len(a) != 3 || !reflect.DeepEqual(a, b) {
		t.Errorf("seed 99 twice gave\n%v\n%v", a, b)
	}
	for _, line := range a {
		_, what, _ := strings.Cut(line, " ")
		_, schedule, _ := strings.Cut(what, " ")
		if !strings.Contains(text, schedule) {
			t.Errorf("the summary does not show the schedule %q:\n%s", schedule, text)
		}
	}
	if c, _ := sched(100); reflect.DeepEqual(a, c) {
		t.Errorf("seeds 99 and 100 gave the same schedule %v", a)
	}
	t.Logf("seed 99: %v", a)
}

// routeLog records the proxies a run logs.
type routeLog struct {
	mu     sync.Mutex
	routes map[string]string
}

func (l *routeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *routeLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *routeLog) WithGroup(string) slog.Handler            { return l }
func (l *routeLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if m, ok := a.Value.Any().(map[string]string); ok && a.Key == "routes" {
			l.mu.Lock()
			l.routes = m
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// interruptAt cancels a run a while after its load started.
type interruptAt struct {
	after  time.Duration
	cancel context.CancelFunc
}

func (i *interruptAt) Attach(lr LiveRun) {
	time.AfterFunc(time.Until(lr.LoadStart.Add(i.after)), i.cancel)
}

func (*interruptAt) Second(report.Second, *hdrhistogram.Histogram, *hdrhistogram.Histogram) {}

// TestFaultsLeaveNothingBehind interrupts a run while a blackhole and a
// pause of the whole cluster are on: Run still heals them and closes every
// proxy and the embedded brokers, so no port is left listening.
func TestFaultsLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	s := faultScenario(t, 20, []scenarios.Fault{
		{Kind: "blackhole", At: sec(1), For: sec(30)},
		{Kind: "pause", At: sec(1.5), For: sec(30), Node: -1},
	}, nil)
	dir := t.TempDir()
	logs := &routeLog{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 2.5s into the load, however long the cluster took to start.
	interrupt := &interruptAt{after: 2500 * time.Millisecond, cancel: cancel}
	start := time.Now()
	_, err := Run(ctx, Options{Scenario: s, Dir: dir, Log: slog.New(logs), Observers: []Observer{interrupt}})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("run: %v, want interrupted", err)
	}
	took := time.Since(start)
	res, rerr := report.ReadFile(filepath.Join(dir, "results.json"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(res.Faults) != 2 || res.Faults[0].EndMS == 0 || res.Faults[1].EndMS == 0 {
		t.Errorf("faults %+v: want both healed", res.Faults)
	}
	logs.mu.Lock()
	routes := logs.routes
	logs.mu.Unlock()
	if len(routes) != 3 {
		t.Fatalf("proxies %v, want one per broker", routes)
	}
	for broker, proxy := range routes {
		for _, a := range []string{broker, proxy} {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still listens after the run", a)
			}
		}
	}
	t.Logf("interrupted at 2.5s, Run returned after %v; proxies %v closed", took.Round(time.Millisecond), routes)
}
