package rabbitmq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/scenarios"
)

// backlog asks the driver with a short deadline, as the drain does.
func backlog(d broker.Driver) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return d.(broker.Backlogger).Backlog(ctx)
}

// TestBacklogNeverGuessesZero walks Backlog through the states where a 0
// would be a guess: no consumer, a consumer that just attached, messages
// the broker no longer counts as ready because a stuck consumer holds them,
// and a consumer the harness does not know about. It must say 0 only once a
// consumer has received the probe behind everything.
func TestBacklogNeverGuessesZero(t *testing.T) {
	url := sharedURL(t)
	tgt := openShared(t, scenario(t, "backlog", func(s *scenarios.Scenario) { s.Consumers.Count = 1 }))
	d := tgt.Driver
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if n, err := backlog(d); err == nil {
		t.Fatalf("no consumer: backlog %d, want an error", n)
	}

	const msgs = 50
	p, err := d.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: func(*broker.Message, broker.Outcome, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	publish(t, ctx, p, 0, 0, msgs)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := d.NewConsumer(ctx, broker.ConsumerOptions{ID: 0})
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	handled := make(chan struct{}, msgs)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, func(*broker.Delivery) error {
			select {
			case <-stuck:
			case <-runCtx.Done():
				return broker.ErrReject
			}
			handled <- struct{}{}
			return nil
		})
	}()
	defer func() {
		stop()
		<-done
		c.Close()
	}()
	// Settling is a count to wait for, also in a split run's drain.
	if n, err := backlog(d); err == nil || errors.Is(err, broker.ErrCannotCount) {
		t.Errorf("consumer just attached: backlog %d, %v; want an error that holds a split run's drain", n, err)
	}
	queue := rabbitmq.Queues(d)[0]
	// The consumer's prefetch takes all 50: the broker counts none ready.
	if err := waitFor(ctx, "the prefetch to take everything", func() bool {
		n, err := queueDepth(ctx, url, queue)
		return err == nil && n == 0
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // past the reconnect settle time
	if n, err := backlog(d); err == nil {
		t.Errorf("50 messages held by a stuck consumer, broker says 0 ready: backlog %d, want an error", n)
	} else {
		t.Logf("stuck consumer: %v", err)
	}

	// A consumer the harness did not attach (a dead connection the broker
	// has not noticed would look the same) may hold messages.
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := conn.Channel()
	if _, err := ch.Consume(queue, "stranger", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	// In a split run other workers' consumers look the same, for good:
	// the driver's answer is that it cannot count.
	if n, err := backlog(d); !errors.Is(err, broker.ErrCannotCount) {
		t.Errorf("a consumer the harness does not know: backlog %d, %v; want the driver's answer that it cannot count", n, err)
	} else {
		t.Logf("stranger: %v", err)
	}
	conn.Close()

	close(stuck)
	for range msgs {
		<-handled
	}
	if err := waitFor(ctx, "backlog 0", func() bool {
		n, err := backlog(d)
		return err == nil && n == 0
	}); err != nil {
		t.Error(err)
	}
}
