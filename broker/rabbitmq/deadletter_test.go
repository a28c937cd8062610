package rabbitmq_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/rabbitmq"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/scenarios"
)

// TestDeadLetteredNotLost: consumers fail a fraction of first deliveries
// for good (nack without requeue); the broker routes them to the
// subscription's dead-letter queue, which the harness consumes. Nothing is
// lost, and dead_lettered equals what the consumers failed, for each of two
// subscriptions.
func TestDeadLetteredNotLost(t *testing.T) {
	url := sharedURL(t)
	for _, qt := range []string{"classic", "quorum"} {
		t.Run(qt, func(t *testing.T) {
			s := onShared(t, scenario(t, "dead-letter-"+qt, func(s *scenarios.Scenario) {
				s.Broker.Config.(*rabbitmq.Config).QueueType = qt
				s.Broker.Config.(*rabbitmq.Config).Pattern = "fanout"
				s.Broker.Config.(*rabbitmq.Config).DeadLetter = true
				s.Consumers.Subscriptions = 2
				s.Consumers.FailFraction = 0.05
				s.Consumers.FailAction = scenarios.FailDeadLetter
				s.Claims = []string{scenarios.ClaimAtLeastOnce, scenarios.ClaimAtMostOnce}
			}))
			res := runScenario(t, s, nil)
			c := res.Counts
			if c.Lost != 0 || c.Unaccounted != 0 {
				t.Errorf("lost %d, unaccounted %d: dead-lettered messages are accounted for", c.Lost, c.Unaccounted)
			}
			if c.Rejected == 0 || c.DeadLettered != c.Rejected {
				t.Errorf("rejected %d, dead-lettered %d: want equal and above 0", c.Rejected, c.DeadLettered)
			}
			// Every sent message reached each subscription once, either way.
			if c.Acked != c.Sent || c.Unique+c.DeadLettered != 2*c.Sent || c.Duplicated != 0 {
				t.Errorf("counts %+v: want every message once per subscription, received or dead-lettered", c)
			}
			if res.Verdict != checker.Pass {
				t.Errorf("verdict %s", res.Verdict)
			}
			for _, q := range []string{s.Broker.Destination + ".s0", s.Broker.Destination + ".s0.dlq", s.Broker.Destination + ".s1.dlq"} {
				if !queueGone(t, url, q) {
					t.Errorf("queue %s left behind", q)
				}
			}
		})
	}
}

// TestDeadLetterReason: the x-death reason reaches the handler: "rejected"
// for a nack without requeue, "delivery_limit" for a quorum queue's
// redelivery limit, "expired" for a message TTL.
func TestDeadLetterReason(t *testing.T) {
	sharedURL(t)
	cases := []struct {
		name   string
		mutate func(r *rabbitmq.Config)
		fail   error // what the handler answers to first deliveries
		want   string
	}{
		{"rejected", func(*rabbitmq.Config) {}, broker.ErrDeadLetter, "rejected"},
		{"delivery limit", func(r *rabbitmq.Config) { r.QueueType = "quorum"; r.DeliveryLimit = 2 }, broker.ErrReject, "delivery_limit"},
		{"expired", func(r *rabbitmq.Config) { r.MessageTTL = scenarios.Duration(time.Millisecond) }, nil, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := onShared(t, scenario(t, "reason", func(s *scenarios.Scenario) {
				s.Broker.Config.(*rabbitmq.Config).DeadLetter = true
				tc.mutate(s.Broker.Config.(*rabbitmq.Config))
			}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tgt, err := openScenario(ctx, s, broker.Env{RunID: "reason", Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close(ctx)
			defer tgt.Driver.Close(ctx)
			if err := tgt.Driver.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.want == "expired" {
				// Published before anyone consumes: it expires in the queue.
				publishOne(t, ctx, tgt.Driver)
				time.Sleep(100 * time.Millisecond)
			}
			c, err := tgt.Driver.NewConsumer(ctx, broker.ConsumerOptions{ID: 0})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var dead []broker.Delivery
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- c.Run(runCtx, func(d *broker.Delivery) error {
					mu.Lock()
					defer mu.Unlock()
					if d.DeadLettered {
						dead = append(dead, broker.Delivery{Domain: d.Domain, Reason: d.Reason})
						return nil
					}
					return tc.fail
				})
			}()
			if tc.want != "expired" {
				publishOne(t, ctx, tgt.Driver)
			}
			err = waitFor(ctx, "the dead-lettered delivery", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(dead) > 0
			})
			stop()
			if rerr := <-done; rerr != nil {
				t.Errorf("Run: %v", rerr)
			}
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if dead[0].Reason != tc.want || dead[0].Domain != rabbitmq.Queues(tgt.Driver)[1]+"@consumer-0" {
				t.Errorf("dead-lettered delivery %+v, want reason %q from the dead-letter queue", dead[0], tc.want)
			}
		})
	}
}

// publishOne publishes one message with confirms and waits for its ack.
func publishOne(t *testing.T, ctx context.Context, d broker.Driver) {
	t.Helper()
	outcome := make(chan error, 1)
	p, err := d.NewProducer(ctx, broker.ProducerOptions{ID: 0, OnComplete: func(_ *broker.Message, o broker.Outcome, err error) {
		if o != broker.Acked {
			err = errors.Join(errors.New(o.String()), err)
		}
		outcome <- err
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, &broker.Message{Payload: []byte("dead letter")}); err != nil {
		t.Fatal(err)
	}
	if err := <-outcome; err != nil {
		t.Fatal(err)
	}
}
