package brokertest

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/swarm"
)

// Bench is a comparison of a bare client loop with mqcheck's swarm on the
// same broker: the price of verifying every message (DESIGN.md asks for at
// least 0.9 of the bare rate). The figures are printed, never asserted: the
// machine is shared.
type Bench struct {
	// Title heads the printout (broker, target, settings, message size).
	Title string
	// Unit of the rates ("records/s", "msg/s").
	Unit string
	// Rounds of bare loop and swarm rows, alternating so that a noisy
	// neighbour hurts both; medians are compared. Default 3.
	Rounds int
	// BareLabel names the bare loop's row.
	BareLabel string
	// Bare runs the bare client loop once: messages confirmed and how long
	// publishing and confirming them took.
	Bare func(ctx context.Context) (n int, took time.Duration, err error)
	// Ref, when set, is a second baseline run after Bare in every round:
	// the client's own benchmark loop as its authors ship it, the
	// comparison a user makes with that tool, where Bare is the least the
	// client can cost. Each row without a bare loop of its own is printed
	// once more, with its ratio to Ref.
	Ref      func(ctx context.Context) (n int, took time.Duration, err error)
	RefLabel string
	// Rows are the swarm configurations compared with it.
	Rows []BenchRow
}

// BenchRow is one swarm configuration of a Bench.
type BenchRow struct {
	Label string
	// Metric names the ratio reported to the benchmark
	// ("produce-ratio").
	Metric string
	// Driver gives the driver of one round (with consumers: a destination
	// of its own, so they read only what this round wrote) and what to do
	// after the round.
	Driver func(ctx context.Context, round int) (broker.Driver, func(), error)
	// Config of the swarm: closed loop (Rate 0) for a Duration; RunID is
	// set per round.
	Config swarm.Config
	// Bare, when set, is the row's own baseline, run just before the row
	// in every round and printed above it under BareLabel: a bare loop that
	// does the work this row does (a verified row against a bare loop that
	// consumes and checks every message too), instead of the bench's bare
	// producer loop. round is the round's number, for a destination of
	// its own.
	Bare      func(ctx context.Context, round int) (n int, took time.Duration, err error)
	BareLabel string
}

// SwarmVsBare runs bench in alternating rounds, prints each row's median
// rate and its ratio to the bare loop's median (the row's own bare loop's,
// if it has one), and reports the ratios as benchmark metrics. Run it with -benchtime=1x (make bench does).
func SwarmVsBare(b *testing.B, bench Bench) {
	b.Helper()
	ctx := b.Context()
	rounds := bench.Rounds
	if rounds <= 0 {
		rounds = 3
	}
	// Rates, and process CPU per message: the rate swings with what else
	// runs on the machine, the CPU a message costs much less, so the CPU
	// ratio says what verifying costs when the rate ratio is noise.
	var bare, bareCPU, ref, refCPU []float64
	rows, rowsCPU := make([][]float64, len(bench.Rows)), make([][]float64, len(bench.Rows))
	// Each row's own bare loop, if it has one.
	rowBare, rowBareCPU := make([][]float64, len(bench.Rows)), make([][]float64, len(bench.Rows))
	for round := range rounds {
		c0 := cpuTime()
		var n int
		var took time.Duration
		var err error
		profiled(ctx, bench.BareLabel, func(ctx context.Context) { n, took, err = bench.Bare(ctx) })
		if err != nil {
			b.Fatalf("bare loop, round %d: %v", round, err)
		}
		bare = append(bare, float64(n)/took.Seconds())
		bareCPU = append(bareCPU, perMessage(cpuTime()-c0, n))
		if bench.Ref != nil {
			c0 := cpuTime()
			profiled(ctx, bench.RefLabel, func(ctx context.Context) { n, took, err = bench.Ref(ctx) })
			if err != nil {
				b.Fatalf("%s, round %d: %v", bench.RefLabel, round, err)
			}
			ref = append(ref, float64(n)/took.Seconds())
			refCPU = append(refCPU, perMessage(cpuTime()-c0, n))
		}
		for i, row := range bench.Rows {
			if row.Bare != nil {
				c0 := cpuTime()
				var n int
				var took time.Duration
				var err error
				profiled(ctx, row.BareLabel, func(ctx context.Context) { n, took, err = row.Bare(ctx, round) })
				if err != nil {
					b.Fatalf("%s, round %d: %v", row.BareLabel, round, err)
				}
				rowBare[i] = append(rowBare[i], float64(n)/took.Seconds())
				rowBareCPU[i] = append(rowBareCPU[i], perMessage(cpuTime()-c0, n))
			}
			d, done, err := row.Driver(ctx, round)
			if err != nil {
				b.Fatalf("%s, round %d: %v", row.Label, round, err)
			}
			cfg := row.Config
			cfg.RunID = uint64(round*len(bench.Rows) + i + 1)
			c0 := cpuTime()
			var acked int
			var took time.Duration
			profiled(ctx, row.Label, func(ctx context.Context) { acked, took, err = swarmRun(ctx, d, cfg) })
			cpu := cpuTime() - c0
			if done != nil {
				done()
			}
			if err != nil {
				b.Fatalf("%s, round %d: %v", row.Label, round, err)
			}
			rows[i] = append(rows[i], float64(acked)/took.Seconds())
			rowsCPU[i] = append(rowsCPU[i], perMessage(cpu, acked))
		}
	}
	mb, mbc := median(bare), median(bareCPU)
	fmt.Println(bench.Title)
	fmt.Printf("  %-40s %10.0f %s  %v  cpu %.2f µs/msg\n", bench.BareLabel, mb, bench.Unit, rounded(bare), mbc)
	for i, row := range bench.Rows {
		base, baseCPU := mb, mbc
		if row.Bare != nil {
			base, baseCPU = median(rowBare[i]), median(rowBareCPU[i])
			fmt.Printf("  %-40s %10.0f %s  %v  cpu %.2f µs/msg\n", row.BareLabel, base, bench.Unit, rounded(rowBare[i]), baseCPU)
		}
		m, mc := median(rows[i]), median(rowsCPU[i])
		fmt.Printf("  %-40s %10.0f %s  %v  ratio %.2f  cpu %.2f µs/msg (cpu ratio %.2f)\n",
			row.Label, m, bench.Unit, rounded(rows[i]), m/base, mc, baseCPU/mc)
		b.ReportMetric(m/base, row.Metric)
		b.ReportMetric(baseCPU/mc, "cpu-"+row.Metric)
	}
	if bench.Ref == nil {
		return
	}
	mr, mrc := median(ref), median(refCPU)
	fmt.Printf("  %-40s %10.0f %s  %v  cpu %.2f µs/msg\n", bench.RefLabel, mr, bench.Unit, rounded(ref), mrc)
	for i, row := range bench.Rows {
		if row.Bare != nil {
			continue
		}
		m, mc := median(rows[i]), median(rowsCPU[i])
		fmt.Printf("  %-40s %10.0f %s  ratio %.2f  cpu %.2f µs/msg (cpu ratio %.2f)\n",
			row.Label+", to it", m, bench.Unit, m/mr, mc, mrc/mc)
		b.ReportMetric(m/mr, "ref-"+row.Metric)
		b.ReportMetric(mrc/mc, "cpu-ref-"+row.Metric)
	}
}

// profiled runs f with the pprof label row=label, which the goroutines it
// starts inherit: a CPU profile of a benchmark (-cpuprofile) then splits
// by row with pprof's -tagfocus, e.g. -tagfocus 'row=mqcheck producers'.
func profiled(ctx context.Context, label string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("row", label), f)
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perMessage is cpu over n messages, in microseconds.
func perMessage(cpu time.Duration, n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// drainTimeout and drainSettle bound the drain of a verified round: the
// consumers must account for every acked message.
const (
	drainTimeout = time.Minute
	drainSettle  = 2 * time.Second
)

// swarmRun runs a swarm on d and returns the acked messages and how long
// the load phase took. With consumers it must also drain with nothing
// missing: the verified rate counts only if it verified.
func swarmRun(ctx context.Context, d broker.Driver, cfg swarm.Config) (int, time.Duration, error) {
	sw := swarm.New(cfg, d, nil)
	defer sw.Close()
	if cfg.Consumers > 0 {
		if err := sw.StartConsumers(ctx); err != nil {
			return 0, 0, err
		}
		defer sw.StopConsumers()
	}
	start := time.Now()
	if err := sw.Produce(ctx); err != nil {
		return 0, 0, err
	}
	took := time.Since(start)
	t := sw.Collector().Totals()
	if t.Failed+t.Indeterminate > 0 {
		return 0, 0, fmt.Errorf("%d failed and %d indeterminate publishes in a clean benchmark", t.Failed, t.Indeterminate)
	}
	if cfg.Consumers > 0 {
		dr := sw.Drain(ctx, drainTimeout, drainSettle)
		if !dr.Drained || sw.Collector().Outstanding() > 0 {
			return 0, 0, fmt.Errorf("verified run did not drain: %s", dr.Reason)
		}
	}
	return int(t.Acked), took, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func rounded(xs []float64) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}
