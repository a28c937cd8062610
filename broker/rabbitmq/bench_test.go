package rabbitmq_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare runs, in one process against one private node, a
// bare amqp091-go publish-with-confirms loop and mqcheck's swarm with full
// verification (producers encoding headers and tracking outcomes, consumers
// decoding and checking every message, the checker and histograms), with
// the same message size, in-flight window and duration, five rounds each, and prints
// both rates and the ratio of the medians. The "producers only" row leaves
// the consumers out. Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	requireServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, spec := rabbitmq.BenchConfig()
	tgt, err := rabbitmq.Open(ctx, cfg, spec, broker.Env{RunID: "bench", Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tgt.Close(ctx)
	})
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { swarmVsBare(b, tgt, size) })
	}
}

func swarmVsBare(b *testing.B, tgt *broker.Target, size int) {
	ctx := b.Context()
	const (
		window = 1000 // producers.max_in_flight's default
		runFor = 2 * time.Second
		rounds = 5 // the machine is shared: medians of several
	)
	var bare, produce, verified []float64
	for round := range rounds {
		n, took, err := rabbitmq.BarePublish(ctx, tgt, runFor, size, window)
		if err != nil {
			b.Fatal(err)
		}
		bare = append(bare, float64(n)/took.Seconds())
		cfg := swarm.Config{RunID: uint64(round) + 1, Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window}
		r, err := swarmRate(ctx, b, tgt, fmt.Sprintf("bench-p-%d-%d", size, round), cfg)
		if err != nil {
			b.Fatal(err)
		}
		produce = append(produce, r)
		cfg.RunID, cfg.Consumers = uint64(round)+100, 2
		r, err = swarmRate(ctx, b, tgt, fmt.Sprintf("bench-v-%d-%d", size, round), cfg)
		if err != nil {
			b.Fatal(err)
		}
		verified = append(verified, r)
	}
	mb, mp, mv := median(bare), median(produce), median(verified)
	fmt.Printf("rabbitmq (private node, durable classic queue, persistent, confirms, %d-byte messages, window %d)\n", size, window)
	fmt.Printf("  bare amqp091-go publish loop           %8.0f msg/s  %v\n", mb, rounded(bare))
	fmt.Printf("  mqcheck producers only                 %8.0f msg/s  %v  ratio %.2f\n", mp, rounded(produce), mp/mb)
	fmt.Printf("  mqcheck producers + consumers, checked %8.0f msg/s  %v  ratio %.2f\n", mv, rounded(verified), mv/mb)
	b.ReportMetric(mp/mb, "produce-ratio")
	b.ReportMetric(mv/mb, "verified-ratio")
}

// swarmRate runs a closed-loop swarm on a queue of its own on tgt's node
// and returns acked messages per second of the load phase. With consumers it
// must also drain with nothing lost.
func swarmRate(ctx context.Context, b *testing.B, tgt *broker.Target, dest string, cfg swarm.Config) (float64, error) {
	rc, spec := rabbitmq.BenchConfig()
	spec.Target, spec.URL, spec.Destination = broker.TargetURL, rabbitmq.URL(tgt), dest
	t, err := rabbitmq.Open(ctx, rc, spec, broker.Env{RunID: dest, Dir: b.TempDir()})
	if err != nil {
		return 0, err
	}
	defer t.Close(ctx)
	defer t.Driver.Close(ctx)
	if err := t.Driver.Setup(ctx); err != nil {
		return 0, err
	}
	sw := swarm.New(cfg, t.Driver, nil)
	defer sw.Close()
	if cfg.Consumers > 0 {
		if err := sw.StartConsumers(ctx); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if err := sw.Produce(ctx); err != nil {
		return 0, err
	}
	took := time.Since(start)
	tot := sw.Collector().Totals()
	if tot.Failed+tot.Indeterminate > 0 {
		return 0, fmt.Errorf("%d failed and %d indeterminate publishes in a clean benchmark", tot.Failed, tot.Indeterminate)
	}
	if cfg.Consumers > 0 {
		dr := sw.Drain(ctx, 60*time.Second, time.Second)
		if !dr.Drained || sw.Collector().Outstanding() > 0 {
			return 0, fmt.Errorf("verified run did not drain: %s", dr.Reason)
		}
	}
	return float64(tot.Acked) / took.Seconds(), nil
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
