package rabbitmq_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/brokertest"
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
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { swarmVsBare(b, tgt, size, 1) })
	}
	// Four publishers (and four consumers checking), as peers such as omq
	// are compared at: the bare side runs four loops on connections of
	// their own to one queue, as mqcheck's producers do.
	b.Run("1024B-4x4", func(b *testing.B) { swarmVsBare(b, tgt, 1024, 4) })
}

func swarmVsBare(b *testing.B, tgt *broker.Target, size, clients int) {
	const (
		window = 1000 // producers.max_in_flight's default
		runFor = 2 * time.Second
	)
	// Each row's round publishes to a queue of its own on the same node,
	// so consumers read only what their producers wrote.
	onOwnQueue := func(kind string) func(context.Context, int) (broker.Driver, func(), error) {
		return func(ctx context.Context, round int) (broker.Driver, func(), error) {
			dest := fmt.Sprintf("bench-%s-%d-%d", kind, size, round)
			rc, spec := rabbitmq.BenchConfig()
			spec.Target, spec.URL, spec.Destination = broker.TargetURL, rabbitmq.URL(tgt), dest
			t, err := rabbitmq.Open(ctx, rc, spec, broker.Env{RunID: dest, Dir: b.TempDir()})
			if err != nil {
				return nil, nil, err
			}
			done := func() {
				t.Driver.Close(ctx)
				t.Close(ctx)
			}
			if err := t.Driver.Setup(ctx); err != nil {
				done()
				return nil, nil, err
			}
			return t.Driver, done, nil
		}
	}
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title: fmt.Sprintf("rabbitmq (private node, durable classic queue, persistent, confirms, %d-byte messages, window %d, %d producers)",
			size, window, clients),
		Unit:      "msg/s",
		Rounds:    5, // the machine is shared: medians of several
		BareLabel: "bare amqp091-go publish loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			return rabbitmq.BarePublish(ctx, tgt, clients, runFor, size, window)
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: onOwnQueue("p"),
				Config: swarm.Config{Producers: clients, Duration: runFor, MessageSize: size, MaxInFlight: window}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: onOwnQueue("v"),
				Config:    swarm.Config{Producers: clients, Consumers: clients, Duration: runFor, MessageSize: size, MaxInFlight: window},
				BareLabel: "bare amqp091-go publish + consume loop",
				Bare: func(ctx context.Context, _ int) (int, time.Duration, error) {
					return rabbitmq.BarePublishConsume(ctx, tgt, clients, runFor, size, window)
				}},
		},
	})
}
