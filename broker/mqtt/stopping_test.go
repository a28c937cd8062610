package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// TestStoppingConsumerAcksNothing: a message that reaches a consumer
// already stopping is not handed over, so it must not be acknowledged
// either: the session keeps it and the next consumer in the slot gets it.
// MQTT 5's paho acknowledges whatever its callback returns from, so a
// stopping consumer acknowledged a message no handler saw: lost, by the
// tester rather than by the broker.
func TestStoppingConsumerAcksNothing(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			_, d := setUp(ctx, t, v, "stopping-"+v)
			got := make(chan string, 100)
			start := func() *consumer {
				bc, err := d.NewConsumer(ctx, broker.ConsumerOptions{})
				if err != nil {
					t.Fatal(err)
				}
				c := bc.(*consumer)
				go func() {
					_ = c.Run(ctx, func(dl *broker.Delivery) error {
						got <- string(dl.Payload)
						return nil
					})
				}()
				return c
			}
			acked := make(chan broker.Outcome, 10)
			p, err := d.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) { acked <- o }})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = p.Close() }()
			publish := func(seq uint64, s string) {
				if err := p.Publish(ctx, &broker.Message{Seq: seq, Payload: []byte(s)}); err != nil {
					t.Fatal(err)
				}
				if o := <-acked; o != broker.Acked {
					t.Fatalf("publishing %s: %v", s, o)
				}
			}
			wait := func(want string) bool {
				for end := time.After(10 * time.Second); ; {
					select {
					case s := <-got:
						if s == want {
							return true
						}
					case <-end:
						return false
					}
				}
			}
			c1 := start()
			publish(1, "m1")
			if !wait("m1") {
				t.Fatal("the first consumer received nothing")
			}
			c1.stop()
			publish(2, "m2")
			// m2 reaches the stopping consumer, which takes nothing.
			time.Sleep(300 * time.Millisecond)
			_ = c1.Crash()
			c2 := start()
			defer func() { _ = c2.Close() }()
			if !wait("m2") {
				t.Errorf("MQTT %s: a message that reached a stopping consumer never came to the next one in its slot", v)
			}
		})
	}
}

// setUp opens an embedded broker of MQTT version v for one producer and
// one consumer on destination dest, and runs Setup; the broker closes at
// the test's end.
func setUp(ctx context.Context, t *testing.T, v, dest string) (*broker.Target, *driver) {
	t.Helper()
	tgt, err := Open(ctx, &Config{Version: v, Persistence: "none"},
		broker.Spec{Destination: dest, Producers: 1, Subscriptions: 1, Consumers: 1},
		broker.Env{RunID: dest, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tgt.Close(context.Background()) })
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return tgt, tgt.Driver.(*driver)
}
