package swarmtest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// TestPublishBeforeTheConsumerRuns: a message published before the
// consumer's Run took its handler is delivered once it does, as a broker
// keeps what nobody reads yet. Before, it was dropped: a run whose
// consumer goroutine started late (a busy machine) waited out its whole
// drain for an acked message that never came, and ended unknown.
func TestPublishBeforeTheConsumerRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := NewSlowDriver(1000, 0, 1)
	completed := make(chan broker.Outcome, 1)
	p, err := d.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) {
		completed <- o
	}})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("published before any consumer ran")
	m := &broker.Message{Payload: append([]byte(nil), payload...)}
	if err := p.Publish(ctx, m); err != nil {
		t.Fatal(err)
	}
	if o := <-completed; o != broker.Acked {
		t.Fatalf("outcome %v, want acked", o)
	}
	copy(m.Payload, "reused by the next publish after completion")
	c, err := d.NewConsumer(ctx, broker.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Value
	var n atomic.Int32
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(rctx, func(dl *broker.Delivery) error {
			n.Add(1)
			got.Store(string(dl.Payload))
			return nil
		})
	}()
	<-d.Ready()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 || got.Load() != string(payload) {
		t.Fatalf("%d deliveries (%v), want the message published before the consumer ran, once", n.Load(), got.Load())
	}
}
