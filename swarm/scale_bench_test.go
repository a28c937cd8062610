package swarm

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/internal/machine"
)

// scaleDuration is each scale round's load, d unless MQCHECK_SCALE_DURATION
// (a Go duration) says otherwise.
func scaleDuration(b *testing.B, d time.Duration) time.Duration {
	if v := os.Getenv("MQCHECK_SCALE_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("MQCHECK_SCALE_DURATION: %v", err)
		}
	}
	return d
}

// BenchmarkPacedScale measures the swarm's CPU per message at a fixed
// 20k/s in total, spread over 1, 10, 100, 1,000 and 10,000 producers,
// against the memory broker with one checking consumer: the goal is a flat
// cost per message, whatever the number of producers (at most 1.3× from 1
// to 1,000 and 10,000). CPU is the process's (getrusage: user and system, every
// goroutine: producers, pacer, broker, consumer, checker), over the load
// and its drain, divided by the messages received. Sizes run in
// alternating rounds (1, 10, ..., 10,000, then again), five rounds, and
// the median of each size is printed with its ratio to one producer, so
// that a neighbour's load on a shared machine falls on every size alike.
// Run with -benchtime=1x (make bench does).
func BenchmarkPacedScale(b *testing.B) {
	// 5 s: at 10,000 producers a round of 3 s is 6 messages each, and
	// each producer's first and last message (its first state in the
	// checker, its flush and close) was a third of the CPU over one
	// producer's; over 8 s the rest, the steady state, cost 1.19× one
	// producer's (the first and last messages cost 26 ms in all).
	d := scaleDuration(b, 5*time.Second)
	sizes := []int{1, 10, 100, 1000, 10000}
	if v := os.Getenv("MQCHECK_SCALE_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("MQCHECK_SCALE_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	const rounds = 5
	cpu := make(map[int][]float64)
	steady := make(map[int][]float64)
	for range b.N {
		for range rounds {
			for _, n := range sizes {
				whole, mid := pacedRun(b, n, 20000, d)
				cpu[n] = append(cpu[n], whole)
				if mid > 0 {
					steady[n] = append(steady[n], mid)
				}
			}
		}
	}
	base := median(cpu[sizes[0]])
	fmt.Printf("paced scale, 20k/s in total for %s, memory broker, median of %d alternating rounds (load average %s):\n", d, rounds, loadAverage())
	for _, n := range sizes {
		m := median(cpu[n])
		fmt.Printf("  %5d producers: CPU %5.2f µs/msg  (%.2f× the first)  rounds %s\n", n, m, m/base, fmtRounds(cpu[n]))
	}
	b.ReportMetric(median(cpu[sizes[len(sizes)-1]])/base, "cpu-last/first")
	if len(steady[sizes[0]]) > 0 {
		sbase := median(steady[sizes[0]])
		fmt.Printf("steady state, from %s into each round to %s before its end (sends, not each producer's first send, flush and close):\n", steadyMargin, steadyMargin)
		for _, n := range sizes {
			m := median(steady[n])
			fmt.Printf("  %5d producers: CPU %5.2f µs/msg  (%.2f× the first)  rounds %s\n", n, m, m/sbase, fmtRounds(steady[n]))
		}
		b.ReportMetric(median(steady[sizes[len(sizes)-1]])/sbase, "steady-last/first")
	}
	b.ReportMetric(0, "ns/op")
}

// steadyMargin is what a round's steady state leaves out at each end: at
// 20k/s every producer of 10,000 has made its first send within half a
// second, and none has started its flush and close.
const steadyMargin = time.Second

// cpuSample is the process's CPU time and a swarm's sends at one moment.
type cpuSample struct {
	cpu  time.Duration
	sent uint64
}

// sampleSteady takes a cpuSample at steadyMargin into a load of d that
// starts now and at steadyMargin before its end; the second is zero if
// ctx ended first or d leaves no steady state between the two.
func sampleSteady(ctx context.Context, sw *Swarm, d time.Duration) <-chan [2]cpuSample {
	out := make(chan [2]cpuSample, 1)
	start := time.Now()
	go func() {
		var s [2]cpuSample
		defer func() { out <- s }()
		if d < 3*steadyMargin {
			return
		}
		for i, at := range []time.Duration{steadyMargin, d - steadyMargin} {
			t := time.NewTimer(time.Until(start.Add(at)))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return // s[1] is still zero
			}
			s[i] = cpuSample{cpu: machine.CPUTime(false), sent: sw.Collector().Totals().Sent}
		}
	}()
	return out
}

// pacedRun runs n producers at rate in total for d and returns the CPU
// spent per message received, in µs, and per message sent in the round's
// steady state (0 if it had none).
func pacedRun(b *testing.B, n int, rate float64, d time.Duration) (whole, steady float64) {
	b.Helper()
	br, err := memory.New(memory.Config{}, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	defer func() { _ = br.Close(ctx) }()
	lanes, _ := strconv.Atoi(os.Getenv("MQCHECK_SCALE_LANES"))
	sw := New(Config{RunID: 1, Producers: n, Consumers: 1, Rate: rate, Duration: d, MessageSize: 100, MaxInFlight: 1000, Lanes: lanes}, br, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		b.Fatal(err)
	}
	if err := sw.Prepare(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	stopProfile := profileWindow(b, n)
	cpu0 := machine.CPUTime(false)
	samples := sampleSteady(ctx, sw, d)
	if err := sw.Produce(ctx); err != nil {
		b.Fatal(err)
	}
	dr := sw.Drain(ctx, 30*time.Second, 0)
	cpu := machine.CPUTime(false) - cpu0
	stopProfile()
	mid := <-samples
	sw.Close()
	t := sw.Collector().Totals()
	if !dr.Drained || t.Received == 0 {
		b.Fatalf("%d producers: drain %+v, totals %+v", n, dr, t)
	}
	if want := rate * d.Seconds(); float64(t.Sent) < want*0.99 {
		b.Errorf("%d producers: sent %d of the %.0f intended", n, t.Sent, want)
	}
	whole = float64(cpu.Nanoseconds()) / 1e3 / float64(t.Received)
	if mid[1].sent > mid[0].sent {
		steady = float64((mid[1].cpu - mid[0].cpu).Nanoseconds()) / 1e3 / float64(mid[1].sent-mid[0].sent)
	}
	return whole, steady
}

// profileWindow profiles the CPU of one measured window (load and drain,
// not the preparation around it) when MQCHECK_SCALE_CPUPROFILE names a
// path prefix: one file a round, <prefix>-<producers>-<n>, to merge with
// go tool pprof.
func profileWindow(b *testing.B, producers int) (stop func()) {
	prefix := os.Getenv("MQCHECK_SCALE_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	for i := 0; ; i++ {
		path := fmt.Sprintf("%s-%d-%d", prefix, producers, i)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		return func() {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				b.Error(err)
			}
		}
	}
}

// BenchmarkClosedLoopRSS measures the process's peak resident memory with
// 1,000 producers of 100 B messages in closed loop against the memory
// broker (its default backlog bound) with one checking consumer; the goal
// is under 300 MB. The window is a scenario's default for this: 1,000
// shared out (broker.SharedWindow), 147 each; MQCHECK_SCALE_WINDOW sets
// another, MQCHECK_SCALE_CONSUMERS more consumers, and MQCHECK_SCALE_HEAP
// a path for heap profiles at the load's end and once drained (.drained).
// Run with -benchtime=1x.
func BenchmarkClosedLoopRSS(b *testing.B) {
	d := scaleDuration(b, 3*time.Second)
	const n = 1000
	window := broker.SharedWindow(1000, n, 100)
	consumers := 1
	if v := os.Getenv("MQCHECK_SCALE_CONSUMERS"); v != "" {
		var err error
		if consumers, err = strconv.Atoi(v); err != nil {
			b.Fatalf("MQCHECK_SCALE_CONSUMERS: %v", err)
		}
	}
	if v := os.Getenv("MQCHECK_SCALE_WINDOW"); v != "" {
		var err error
		if window, err = strconv.Atoi(v); err != nil {
			b.Fatalf("MQCHECK_SCALE_WINDOW: %v", err)
		}
	}
	for range b.N {
		br, err := memory.New(memory.Config{}, 1, 1)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
		sw := New(Config{RunID: 1, Producers: n, Consumers: consumers, Duration: d, MessageSize: 100, MaxInFlight: window}, br, nil)
		if err := sw.StartConsumers(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		before := machine.Resident()
		peak, stop := machine.WatchResident(100 * time.Millisecond)
		classes := watchMemory(100 * time.Millisecond)
		cpu0 := machine.CPUTime(false)
		if err := sw.Produce(ctx); err != nil {
			b.Fatal(err)
		}
		if path := os.Getenv("MQCHECK_SCALE_HEAP"); path != "" {
			writeHeap(b, path)
		}
		dr := sw.Drain(ctx, time.Minute, 0)
		if path := os.Getenv("MQCHECK_SCALE_HEAP"); path != "" {
			writeHeap(b, path+".drained")
		}
		cpu := machine.CPUTime(false) - cpu0
		stop()
		held := classes()
		pooled := 0
		for _, p := range sw.producers {
			pooled += p.pool.made
		}
		sw.Close()
		_ = br.Close(ctx)
		cancel()
		t := sw.Collector().Totals()
		if !dr.Drained {
			b.Fatalf("drain %+v", dr)
		}
		fmt.Printf("closed loop, %d producers × window %d, memory broker, %s: %d received (%.0f/s), CPU %.2f µs/msg, peak RSS %d MiB (%d before; load average %s); "+
			"the producers' pools hold %d messages at the end (%.1f a producer); %s\n",
			n, window, d, t.Received, float64(t.Received)/d.Seconds(), float64(cpu.Nanoseconds())/1e3/float64(max(t.Received, 1)), peak()>>20, before>>20, loadAverage(),
			pooled, float64(pooled)/n, held)
		b.ReportMetric(float64(peak())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(0, "ns/op")
	}
}

// BenchmarkIdleClientsRSS measures the process's peak resident memory with
// 10,000 producers at 0.2 messages a second each (2,000/s in total, the
// MQTT fleet's load) against the memory broker with one checking
// consumer, for 20 s (MQCHECK_IDLE_DURATION changes it): the goal is
// under 1 GB. The fleet benchmark of broker/mqtt measures the same with
// a real broker and its clients, at far greater cost. Run with
// -benchtime=1x.
func BenchmarkIdleClientsRSS(b *testing.B) {
	d := 20 * time.Second
	if v := os.Getenv("MQCHECK_IDLE_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("MQCHECK_IDLE_DURATION: %v", err)
		}
	}
	const n, rate = 10000, 2000
	for range b.N {
		br, err := memory.New(memory.Config{}, 1, 1)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
		sw := New(Config{RunID: 1, Producers: n, Consumers: 1, Rate: rate, Duration: d, MessageSize: 100, MaxInFlight: 1000}, br, nil)
		if err := sw.StartConsumers(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		before := machine.Resident()
		peak, stop := machine.WatchResident(100 * time.Millisecond)
		classes := watchMemory(100 * time.Millisecond)
		cpu0 := machine.CPUTime(false)
		if err := sw.Prepare(ctx); err != nil {
			b.Fatal(err)
		}
		if err := sw.Produce(ctx); err != nil {
			b.Fatal(err)
		}
		dr := sw.Drain(ctx, time.Minute, 0)
		if path := os.Getenv("MQCHECK_SCALE_HEAP"); path != "" {
			writeHeap(b, path+".drained")
		}
		cpu := machine.CPUTime(false) - cpu0
		stop()
		held := classes()
		sw.Close()
		_ = br.Close(ctx)
		cancel()
		t := sw.Collector().Totals()
		if !dr.Drained || t.Received == 0 {
			b.Fatalf("drain %+v, totals %+v", dr, t)
		}
		fmt.Printf("idle-ish, %d producers × %.1f msg/s, memory broker, %s: %d sent, %d received, CPU %.0f µs/msg, peak RSS %d MiB (%d before; load average %s); %s\n",
			n, float64(rate)/n, d, t.Sent, t.Received, float64(cpu.Nanoseconds())/1e3/float64(t.Received), peak()>>20, before>>20, loadAverage(), held)
		b.ReportMetric(float64(peak())/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(0, "ns/op")
	}
}

// writeHeap writes a heap profile to path.
func writeHeap(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fmtRounds(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}
