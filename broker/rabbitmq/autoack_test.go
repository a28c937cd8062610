package rabbitmq_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/scenarios"
	"github.com/mqcheck/mqcheck/swarm"
)

// crashAfter wraps a driver whose (single) consumer handles its first k
// deliveries, then takes one more and dies with it in hand: that delivery
// and everything after it from the same connection never reach the swarm,
// as if the process had been killed. The consumer itself reconnects.
type crashAfter struct {
	broker.Driver
	k       int64
	n       atomic.Int64
	taken   chan struct{} // closed when delivery k+1 is in hand
	crashed chan struct{} // closed by the test once the connection is dropped
	once    sync.Once
	mu      sync.Mutex
	inner   broker.Consumer
}

func (d *crashAfter) Backlog(ctx context.Context) (int64, error) {
	return d.Driver.(broker.Backlogger).Backlog(ctx)
}

func (d *crashAfter) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	c, err := d.Driver.NewConsumer(ctx, o)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.inner = c
	d.mu.Unlock()
	return &crashingConsumer{Consumer: c, d: d}, nil
}

type crashingConsumer struct {
	broker.Consumer
	d *crashAfter
}

func (c *crashingConsumer) Run(ctx context.Context, h broker.Handler) error {
	return c.Consumer.Run(ctx, func(dl *broker.Delivery) error {
		n := c.d.n.Add(1)
		switch {
		case n <= c.d.k:
			return h(dl)
		case n == c.d.k+1:
			c.d.once.Do(func() { close(c.d.taken) })
			select {
			case <-c.d.crashed:
			case <-ctx.Done():
			}
		}
		return nil // dead: processed by nobody
	})
}

// TestAutoAckConsumerCrashLosesWhatItTook: an auto-ack consumer takes every
// message the broker has (the broker forgets them as it sends them), handles
// k of them and dies. Exactly the rest is lost: at-most-once holds,
// at-least-once fails, and the counts say by how much.
//
// The swarm is driven step by step (publish everything first, then consume),
// which makes the loss exact: every acked message has left the queue before
// the crash.
func TestAutoAckConsumerCrashLosesWhatItTook(t *testing.T) {
	url := sharedURL(t)
	s := onShared(t, scenario(t, "autoack-crash", func(s *scenarios.Scenario) {
		s.Broker.Config.(*rabbitmq.Config).AckMode = "auto"
		s.Producers.Count = 1
		s.Consumers.Count = 1
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tgt, err := openScenario(ctx, s, broker.Env{RunID: "autoack", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctx)
	defer tgt.Driver.Close(ctx)
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	const k = 500
	drv := &crashAfter{Driver: tgt.Driver, k: k, taken: make(chan struct{}), crashed: make(chan struct{})}
	sw := swarm.New(swarm.Config{RunID: 42, Seed: 1, Producers: 1, Consumers: 1, Subscriptions: 1,
		Rate: 4000, Duration: 500 * time.Millisecond, MessageSize: 256, MaxInFlight: 256}, drv, nil)
	defer sw.Close()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	acked := sw.Collector().Totals().Acked
	if acked < 2*k {
		t.Fatalf("only %d messages acked; the test needs more than %d", acked, 2*k)
	}
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-drv.taken:
	case <-ctx.Done():
		t.Fatal("the consumer never took its last message")
	}
	queue := rabbitmq.Queues(tgt.Driver)[0]
	if err := waitFor(ctx, "the queue to be empty", func() bool {
		n, err := queueDepth(ctx, url, queue)
		return err == nil && n == 0
	}); err != nil {
		t.Fatal(err)
	}
	drv.mu.Lock()
	rabbitmq.CrashConsumer(drv.inner)
	drv.mu.Unlock()
	close(drv.crashed)

	dr := sw.Drain(ctx, 20*time.Second, time.Second)
	sw.StopConsumers()
	claims := []string{scenarios.ClaimAtMostOnce, scenarios.ClaimAtLeastOnce}
	res := sw.Collector().Finalize(checker.Options{Drained: dr.Drained, Claims: claims})
	c := res.Counts
	t.Logf("drain %+v; counts %+v", dr, c)
	if !dr.Drained {
		t.Fatalf("drain incomplete: %s", dr.Reason)
	}
	if c.Acked != acked || c.Received != k || c.Lost != acked-k || c.Duplicated != 0 {
		t.Errorf("acked %d, received %d, lost %d, duplicated %d: want %d received and %d lost",
			c.Acked, c.Received, c.Lost, c.Duplicated, k, acked-k)
	}
	for _, cl := range res.Claims {
		want := map[string]string{scenarios.ClaimAtMostOnce: checker.Pass, scenarios.ClaimAtLeastOnce: checker.Fail}[cl.Name]
		if cl.Verdict != want {
			t.Errorf("%s: %s (%s), want %s", cl.Name, cl.Verdict, cl.Summary, want)
		}
	}
}
