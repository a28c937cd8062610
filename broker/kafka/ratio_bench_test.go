package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare runs, in one process against one embedded cluster, a
// bare franz-go produce loop and mqcheck's producer swarm (header encoding,
// checksums, outcome tracking, checker and histograms), alternating three
// times, and prints both rates and the ratio of the medians. The "verified"
// row adds consumers that decode and check every message while producing.
// Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { swarmVsBare(b, size) })
	}
}

func swarmVsBare(b *testing.B, size int) {
	tgt := benchTarget(b)
	ctx := b.Context()
	bareRecords := 1_000_000
	if size > 512 {
		bareRecords = 400_000
	}
	const swarmFor = 2 * time.Second
	// franz-go buffers up to 50,000 records by default: the bare loop's
	// in-flight window. The swarm gets the same.
	const window = 50_000
	var bare, produce, verified []float64
	for round := range 3 {
		took, err := BareProduce(ctx, tgt, bareRecords, size)
		if err != nil {
			b.Fatal(err)
		}
		bare = append(bare, float64(bareRecords)/took.Seconds())
		r, err := swarmRate(ctx, tgt.Driver, swarm.Config{RunID: uint64(round) + 1, Producers: 1, Duration: swarmFor,
			MessageSize: size, MaxInFlight: window})
		if err != nil {
			b.Fatal(err)
		}
		produce = append(produce, r)
		// Verified rounds get a fresh topic on the same cluster, so their
		// consumers read only what their producers wrote.
		vt := urlTarget(b, tgt, fmt.Sprintf("verified-%d", round))
		r, err = swarmRate(ctx, vt.Driver, swarm.Config{RunID: uint64(round) + 100, Producers: 1, Consumers: 2,
			Duration: swarmFor, MessageSize: size, MaxInFlight: window})
		if err != nil {
			b.Fatal(err)
		}
		verified = append(verified, r)
	}
	mb, mp, mv := median(bare), median(produce), median(verified)
	fmt.Printf("kafka (embedded kfake, 3 brokers, acks=all, idempotent, %d-byte records, window %d)\n", size, window)
	fmt.Printf("  bare franz-go produce loop        %10.0f records/s  %v\n", mb, rounded(bare))
	fmt.Printf("  mqcheck producers (checked)       %10.0f records/s  %v  ratio %.2f\n", mp, rounded(produce), mp/mb)
	fmt.Printf("  mqcheck producers + consumers     %10.0f records/s  %v  ratio %.2f\n", mv, rounded(verified), mv/mb)
	b.ReportMetric(mp/mb, "produce-ratio")
	b.ReportMetric(mv/mb, "verified-ratio")
}

// swarmRate runs a swarm closed loop on d and returns acked records per
// second of the load phase.
func swarmRate(ctx context.Context, d broker.Driver, cfg swarm.Config) (float64, error) {
	sw := swarm.New(cfg, d, nil)
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
		// The verified run must verify: drain and check nothing was lost.
		dr := sw.Drain(ctx, 30*time.Second, 2*time.Second)
		if !dr.Drained || sw.Collector().Outstanding() > 0 {
			return 0, fmt.Errorf("verified run did not drain: %s", dr.Reason)
		}
	}
	return float64(t.Acked) / took.Seconds(), nil
}

// urlTarget opens a second driver on tgt's cluster with its own topic.
func urlTarget(b *testing.B, tgt *broker.Target, topic string) *broker.Target {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, spec := BenchConfig()
	spec.Target, spec.URL, spec.Destination = broker.TargetURL, strings.Join(Addrs(tgt), ","), topic
	vt, err := Open(ctx, cfg, spec, broker.Env{RunID: topic, Dir: b.TempDir(), Log: testLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		vt.Driver.Close(ctx)
		vt.Close(ctx)
	})
	if err := vt.Driver.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	return vt
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
