package memory

import (
	"context"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
)

// BenchmarkPublishConsume measures one message through the broker: publish,
// confirm, delivery and ack, with one producer and one consumer per
// subscription, the way the swarm drives a driver (Messages recycled on
// OnComplete, a bounded number in flight).
func BenchmarkPublishConsume(b *testing.B) {
	for _, bc := range []struct {
		name string
		mode string
		subs int
	}{
		{"partitioned", ModePartitioned, 1},
		{"queue", ModeQueue, 1},
		{"partitioned/2subs", ModePartitioned, 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchPublishConsume(b, Config{Mode: bc.mode}, bc.subs)
		})
	}
}

func benchPublishConsume(b *testing.B, cfg Config, subs int) {
	const inFlight = 1024
	br, err := New(cfg, subs, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer br.Close(context.Background())

	free := make(chan *broker.Message, inFlight)
	for range inFlight {
		free <- &broker.Message{Payload: make([]byte, 256)}
	}
	p, err := br.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(m *broker.Message, _ broker.Outcome, _ error) {
		free <- m
	}})
	if err != nil {
		b.Fatal(err)
	}
	total := b.N
	done := make(chan struct{}, subs)
	for s := range subs {
		c, err := br.NewConsumer(ctx, broker.ConsumerOptions{ID: s, Subscription: s})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		go func() {
			_ = c.Run(ctx, func(d *broker.Delivery) error {
				n++
				if n == total {
					done <- struct{}{}
				}
				return nil
			})
		}()
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := <-free
		m.Seq = uint64(i)
		if err := p.Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	for range subs {
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
