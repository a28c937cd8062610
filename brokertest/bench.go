package brokertest

import (
	"context"
	"fmt"
	"slices"
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
}

// SwarmVsBare runs bench in alternating rounds, prints each row's median
// rate and its ratio to the bare loop's median, and reports the ratios as
// benchmark metrics. Run it with -benchtime=1x (make bench does).
func SwarmVsBare(b *testing.B, bench Bench) {
	b.Helper()
	ctx := b.Context()
	rounds := bench.Rounds
	if rounds <= 0 {
		rounds = 3
	}
	var bare []float64
	rows := make([][]float64, len(bench.Rows))
	for round := range rounds {
		n, took, err := bench.Bare(ctx)
		if err != nil {
			b.Fatalf("bare loop, round %d: %v", round, err)
		}
		bare = append(bare, float64(n)/took.Seconds())
		for i, row := range bench.Rows {
			d, done, err := row.Driver(ctx, round)
			if err != nil {
				b.Fatalf("%s, round %d: %v", row.Label, round, err)
			}
			cfg := row.Config
			cfg.RunID = uint64(round*len(bench.Rows) + i + 1)
			r, err := swarmRate(ctx, d, cfg)
			if done != nil {
				done()
			}
			if err != nil {
				b.Fatalf("%s, round %d: %v", row.Label, round, err)
			}
			rows[i] = append(rows[i], r)
		}
	}
	mb := median(bare)
	fmt.Println(bench.Title)
	fmt.Printf("  %-40s %10.0f %s  %v\n", bench.BareLabel, mb, bench.Unit, rounded(bare))
	for i, row := range bench.Rows {
		m := median(rows[i])
		fmt.Printf("  %-40s %10.0f %s  %v  ratio %.2f\n", row.Label, m, bench.Unit, rounded(rows[i]), m/mb)
		b.ReportMetric(m/mb, row.Metric)
	}
}

// drainTimeout and drainSettle bound the drain of a verified round: the
// consumers must account for every acked message.
const (
	drainTimeout = time.Minute
	drainSettle  = 2 * time.Second
)

// swarmRate runs a swarm on d and returns acked messages per second of the
// load phase. With consumers it must also drain with nothing missing: the
// verified rate counts only if it verified.
func swarmRate(ctx context.Context, d broker.Driver, cfg swarm.Config) (float64, error) {
	sw := swarm.New(cfg, d, nil)
	defer sw.Close()
	if cfg.Consumers > 0 {
		if err := sw.StartConsumers(ctx); err != nil {
			return 0, err
		}
		defer sw.StopConsumers()
	}
	start := time.Now()
	if err := sw.Produce(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	t := sw.Collector().Totals()
	if t.Failed+t.Indeterminate > 0 {
		return 0, fmt.Errorf("%d failed and %d indeterminate publishes in a clean benchmark", t.Failed, t.Indeterminate)
	}
	if cfg.Consumers > 0 {
		dr := sw.Drain(ctx, drainTimeout, drainSettle)
		if !dr.Drained || sw.Collector().Outstanding() > 0 {
			return 0, fmt.Errorf("verified run did not drain: %s", dr.Reason)
		}
	}
	return float64(t.Acked) / took.Seconds(), nil
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
