package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// TestReconnectSubscribesAgain: a consumer that reconnects to a session
// the broker says it kept, but whose subscription the broker lost, still
// receives what is published after it is back. RabbitMQ's MQTT plugin,
// restarted under load, answered "session present" and then delivered
// nothing for 170 s (CI, conformance restart-reconnects): a consumer that
// trusted the flag lost every later message. Here the embedded broker
// drops the subscription from the session and the consumer's socket.
func TestReconnectSubscribesAgain(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			tgt, d := setUp(ctx, t, v, "resub-"+v)
			e := tgt.Restarter.(*embedded)
			bc, err := d.NewConsumer(ctx, broker.ConsumerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := bc.(*consumer)
			got := make(chan string, 1000)
			rctx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() {
				ran <- c.Run(rctx, func(dl *broker.Delivery) error {
					got <- string(dl.Payload)
					return nil
				})
			}()
			defer func() {
				stop()
				<-ran
				_ = c.Close()
			}()
			p, err := d.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(*broker.Message, broker.Outcome, error) {}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Close() }()
			// receive publishes one message a time until one it published
			// arrives, for at most within.
			seq := uint64(0)
			receive := func(within time.Duration) bool {
				end := time.Now().Add(within)
				for time.Now().Before(end) {
					seq++
					want := fmt.Sprintf("m%d", seq)
					if err := p.Publish(ctx, &broker.Message{Seq: seq, Payload: []byte(want)}); err != nil {
						t.Fatal(err)
					}
					wait := time.NewTimer(200 * time.Millisecond)
				drain:
					for {
						select {
						case s := <-got:
							if s == want {
								wait.Stop()
								return true
							}
						case <-wait.C:
							break drain
						}
					}
				}
				return false
			}
			if !receive(10 * time.Second) {
				t.Fatal("the consumer received nothing before its subscription was dropped")
			}
			// The broker keeps the session and forgets its subscription.
			e.mu.Lock()
			cl, ok := e.srv.Clients.Get(c.id)
			if ok {
				cl.State.Subscriptions.Delete(c.filter)
				e.srv.Topics.Unsubscribe(c.filter, c.id)
			}
			e.mu.Unlock()
			if !ok {
				t.Fatalf("no session for %s", c.id)
			}
			c.dropRaw()
			if !receive(15 * time.Second) {
				t.Fatalf("MQTT %s: after reconnecting to a session that had lost its subscription, the consumer received none of %d messages in 15 s", v, seq)
			}
		})
	}
}
