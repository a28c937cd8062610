package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// benchTarget opens BenchScenario in a temporary run directory.
func benchTarget(b *testing.B) *broker.Target {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, spec := BenchConfig()
	tgt, err := Open(ctx, cfg, spec, broker.Env{RunID: "bench", Dir: b.TempDir(), Log: testLog()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tgt.Driver.Close(ctx)
		tgt.Close(ctx)
	})
	if err := tgt.Driver.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	return tgt
}

// BenchmarkBareProduce: a bare franz-go produce loop (one client, Produce
// with a promise, 100-byte records, acks all, idempotent) against an
// embedded kfake cluster. The mqcheck side of the comparison runs the swarm
// against the same kind of target: Open(ctx, cfg, spec, env) with BenchConfig(), or
// BareProduce on the swarm's own target.
func BenchmarkBareProduce(b *testing.B) {
	tgt := benchTarget(b)
	b.ReportAllocs()
	b.ResetTimer()
	took, err := BareProduce(b.Context(), tgt, b.N, 100)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
}

// BenchmarkDriverPublish: the driver's Publish path, same cluster and
// settings as BenchmarkBareProduce: one Message per record (allocated before
// the timer, as the swarm reuses its own) sharing one 100-byte payload, no
// window beyond franz-go's buffer. allocs/op is the driver's and franz-go's
// per-message cost.
//
// An in-flight window built from a channel send and receive per message
// (the obvious swarm design) costs about a third of the throughput here:
// the publisher and franz-go's promise goroutine then hand off a wakeup per
// message.
func BenchmarkDriverPublish(b *testing.B) {
	tgt := benchTarget(b)
	payload := make([]byte, 100)
	for j := range payload {
		payload[j] = byte(j*7 + j>>3)
	}
	msgs := make([]broker.Message, b.N)
	for i := range msgs {
		msgs[i] = broker.Message{Seq: uint64(i), Payload: payload}
	}
	var failed int
	p, err := tgt.Driver.NewProducer(b.Context(), broker.ProducerOptions{
		ID: 0,
		OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) {
			if o != broker.Acked {
				failed++
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range msgs {
		m := &msgs[i]
		m.Sent = time.Now().UnixNano()
		if err := p.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d publishes not acked", failed)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
}
