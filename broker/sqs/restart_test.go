package sqs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
)

// TestRestartWhileConsuming: a consumer that keeps polling through a
// restart (its receives fail while the server is down) gets what is sent
// after it, and the restart's setup, which creates the queues again, does
// not write what the running clients read (-race caught it).
func TestRestartWhileConsuming(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tgt, err := sqs.Open(ctx, fast(), broker.Spec{Target: broker.TargetEmbedded, Destination: "restart-consuming"},
		broker.Env{RunID: "restart-consuming", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tgt.Driver.Close(context.Background())
		_ = tgt.Close(context.Background())
	})
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(rctx, func(*broker.Delivery) error { got.Add(1); return nil }) }()
	defer func() {
		stop()
		<-ran
		_ = c.Close()
	}()
	for range 3 {
		if err := tgt.Restarter.Stop(ctx, 0, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // the consumer's receives fail meanwhile
		if err := tgt.Restarter.Start(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	acked := make(chan broker.Outcome, 1)
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) { acked <- o }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, &broker.Message{Payload: make([]byte, 80)}); err != nil {
		t.Fatal(err)
	}
	if o := <-acked; o != broker.Acked {
		t.Fatalf("a send after the restarts: %s", o)
	}
	for got.Load() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the consumer got nothing sent after the restarts")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
