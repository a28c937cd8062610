package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/sync/errgroup"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/barewait"
)

// BenchConfig is the node and producer settings of the bare-vs-mqcheck
// publish comparison: a private node, a durable classic queue, persistent
// messages, publisher confirms, the driver's defaults otherwise. Open it
// once, then run BarePublish and the swarm against the same node.
func BenchConfig() (*Config, broker.Spec) {
	c := &Config{}
	c.ApplyDefaults()
	return c, broker.Spec{Target: broker.TargetExec, Producers: 1, MaxInFlight: 1000, Consumers: 1, Subscriptions: 1}
}

// URL is the AMQP URL of a RabbitMQ target, with its credentials: for
// benchmarks and tools that reach the same broker as the driver. Empty when
// t is not a RabbitMQ target.
func URL(t *broker.Target) string {
	if t == nil {
		return ""
	}
	d, ok := t.Driver.(*driver)
	if !ok {
		return ""
	}
	return d.st.url
}

// BarePublish is the baseline mqcheck's hot path is measured against:
// publishers amqp091-go connections, each with one channel in confirm
// mode, publishing messages of size bytes for d to one queue of their own
// (declared like t's, deleted after), each with at most window
// unconfirmed, confirms read from one NotifyPublish listener per channel.
// It returns how many messages were confirmed and how long publishing and
// confirming them took (the slowest publisher's time).
func BarePublish(ctx context.Context, t *broker.Target, publishers int, d time.Duration, size, window int) (int, time.Duration, error) {
	return barePublishConsume(ctx, t, publishers, 0, d, size, window)
}

// BarePublishConsume is BarePublish with consumers reading the queue
// meanwhile, as omq and mqcheck's checked runs do: each on a connection of
// its own, with the driver's prefetch, checking every body's CRC-32C
// against the published one (as mqcheck's consumers verify theirs) and
// acknowledging it on its own.
// It returns what BarePublish returns, once the consumers have read every
// confirmed message (the wait for them is not timed, as mqcheck's drain
// is not), and fails if they did not within a minute.
func BarePublishConsume(ctx context.Context, t *broker.Target, clients int, d time.Duration, size, window int) (int, time.Duration, error) {
	return barePublishConsume(ctx, t, clients, clients, d, size, window)
}

func barePublishConsume(ctx context.Context, t *broker.Target, publishers, consumers int, d time.Duration, size, window int) (int, time.Duration, error) {
	drv, ok := t.Driver.(*driver)
	if !ok {
		return 0, 0, errors.New("bare publish: not a rabbitmq target")
	}
	st := drv.st
	c, ch, err := st.bareChannel(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.shut()
	queue := fmt.Sprintf("mqcheck-bare-%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(queue, st.topo.durable, false, false, false, st.topo.args[0]); err != nil {
		return 0, 0, fmt.Errorf("bare publish: declaring %s: %w", queue, err)
	}
	defer func() { _, _ = ch.QueueDelete(queue, false, false, false) }()
	var consumed atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var cg errgroup.Group
	want := barewait.Sum(bareBody(size))
	for range consumers {
		ready := make(chan error, 1)
		cg.Go(func() error { return st.bareConsumeLoop(cctx, queue, want, &consumed, ready) })
		if err := <-ready; err != nil {
			stop()
			_ = cg.Wait()
			return 0, 0, err
		}
	}
	var g errgroup.Group
	counts, took := make([]int, publishers), make([]time.Duration, publishers)
	for i := range publishers {
		g.Go(func() error {
			var err error
			counts[i], took[i], err = st.barePublishLoop(ctx, queue, d, size, window)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		stop()
		_ = cg.Wait()
		return 0, 0, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if consumers > 0 {
		if err := barewait.Consumed(ctx, &consumed, total, false, stop, cg.Wait); err != nil {
			return 0, 0, err
		}
	}
	return total, slices.Max(took), nil
}

// bareConsumeLoop is one consumer of BarePublishConsume, on a connection
// of its own: it says on ready when it consumes, then reads until ctx
// ends, checking each body's CRC-32C against want and counting what it
// read into consumed.
func (st *settings) bareConsumeLoop(ctx context.Context, queue string, want uint32, consumed *atomic.Int64, ready chan<- error) error {
	c, ch, err := st.bareChannel(ctx)
	if err != nil {
		ready <- err
		return nil
	}
	defer c.shut()
	if err := ch.Qos(*st.r.Prefetch, 0, false); err != nil {
		ready <- fmt.Errorf("bare consume: setting prefetch: %w", err)
		return nil
	}
	dels, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		ready <- fmt.Errorf("bare consume: %w", err)
		return nil
	}
	ready <- nil
	for {
		select {
		case <-ctx.Done():
			return nil
		case dl, ok := <-dels:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("bare consume: the deliveries ended")
			}
			if barewait.Sum(dl.Body) != want {
				return fmt.Errorf("bare consume: delivery %d: its body is not the one published", dl.DeliveryTag)
			}
			if err := dl.Ack(false); err != nil {
				return fmt.Errorf("bare consume: acknowledging: %w", err)
			}
			consumed.Add(1)
		}
	}
}

// bareBody is the body every bare publish sends.
func bareBody(size int) []byte {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i*7 + i>>3)
	}
	return body
}

// bareChannel opens a connection and a channel on it for the bare loop.
func (st *settings) bareChannel(ctx context.Context) (*conn, *amqp.Channel, error) {
	c, err := st.connect(ctx, "mqcheck-bare")
	if err != nil {
		return nil, nil, fmt.Errorf("bare publish: %w", err)
	}
	ch, err := c.Channel()
	if err != nil {
		c.shut()
		return nil, nil, fmt.Errorf("bare publish: opening a channel: %w", err)
	}
	return c, ch, nil
}

// barePublishLoop is one publisher of BarePublish, on a connection of its
// own.
func (st *settings) barePublishLoop(ctx context.Context, queue string, d time.Duration, size, window int) (int, time.Duration, error) {
	c, ch, err := st.bareChannel(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer c.shut()
	if err := ch.Confirm(false); err != nil {
		return 0, 0, fmt.Errorf("bare publish: turning on confirms: %w", err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, window+1))
	slots := make(chan struct{}, window)
	var nacked, confirmed atomic.Int64
	go func() {
		for c := range confirms {
			if !c.Ack {
				nacked.Add(1)
			}
			confirmed.Add(1)
			<-slots
		}
	}()
	body := bareBody(size)
	mode := uint8(amqp.Transient)
	if st.r.IsPersistent() {
		mode = amqp.Persistent
	}
	start := time.Now()
	end := start.Add(d)
	n := 0
	for time.Now().Before(end) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
		if err := ch.PublishWithContext(ctx, "", queue, false, false, amqp.Publishing{DeliveryMode: mode, Body: body}); err != nil {
			return 0, 0, fmt.Errorf("bare publish: message %d: %w", n, err)
		}
		n++
	}
	// Every slot back means every publish confirmed.
	for range window {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	took := time.Since(start)
	if k := nacked.Load(); k > 0 || confirmed.Load() != int64(n) {
		return n, took, fmt.Errorf("bare publish: %d of %d nacked, %d confirmed", k, n, confirmed.Load())
	}
	return n, took, nil
}
