package rabbitmq_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestStreamResumesAfterReconnect: a stream keeps what was read, so a
// consumer that reconnects from the start would read everything again. The
// driver resumes after the last offset it handled: a crash in the middle
// costs neither a message nor a duplicate.
func TestStreamResumesAfterReconnect(t *testing.T) {
	tgt := openShared(t, scenario(t, "stream-resume", func(s *scenarios.Scenario) {
		s.Broker.Config.(*rabbitmq.Config).QueueType = "stream"
		s.Consumers.Count = 1
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n, crashAt = 1000, 300
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: func(*broker.Message, broker.Outcome, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish(t, ctx, p, 0, 0, n)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	crashed := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, func(d *broker.Delivery) error {
			mu.Lock()
			seen[string(d.Payload)]++
			total := len(seen)
			mu.Unlock()
			if total == crashAt {
				rabbitmq.CrashConsumer(c)
				close(crashed)
			}
			return nil
		})
	}()
	err = waitFor(ctx, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	time.Sleep(200 * time.Millisecond) // room for duplicates to show
	stop()
	if rerr := <-done; rerr != nil {
		t.Errorf("Run: %v", rerr)
	}
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-crashed:
	default:
		t.Fatal("the consumer never crashed")
	}
	mu.Lock()
	defer mu.Unlock()
	for m, k := range seen {
		if k > 1 {
			t.Errorf("%s read %d times", m, k)
		}
	}
}
