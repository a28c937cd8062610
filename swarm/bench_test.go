package swarm

import (
	"context"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// nullDriver confirms every publish from one completion goroutine, as
// franz-go does, and delivers nothing: what is left is mqcheck's own cost
// per message on the producing side.
type nullDriver struct{}

func (nullDriver) Setup(context.Context) error { return nil }
func (nullDriver) Close(context.Context) error { return nil }
func (nullDriver) NewConsumer(context.Context, broker.ConsumerOptions) (broker.Consumer, error) {
	return nil, nil
}
func (nullDriver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p := &nullProducer{o: o, q: make(chan *broker.Message, 4096), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for m := range p.q {
			p.o.OnComplete(m, broker.Acked, nil)
		}
	}()
	return p, nil
}

type nullProducer struct {
	o    broker.ProducerOptions
	q    chan *broker.Message
	done chan struct{}
}

func (p *nullProducer) Publish(_ context.Context, m *broker.Message) error { p.q <- m; return nil }
func (p *nullProducer) Flush(context.Context) error                        { return nil }
func (p *nullProducer) Close() error                                       { close(p.q); <-p.done; return nil }

// BenchmarkProducerOverhead reports the swarm's cost per published message
// against a driver that does nothing: encoding, clock reads, outcome
// tracking, checker and histograms. Run with -benchtime=1x.
func BenchmarkProducerOverhead(b *testing.B) {
	sw := New(Config{RunID: 1, Producers: 1, Duration: 2 * time.Second, MessageSize: 100, MaxInFlight: 10000}, nullDriver{}, nil)
	b.ResetTimer()
	start := time.Now()
	if err := sw.Produce(context.Background()); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	n := sw.Collector().Totals().Acked
	b.ReportMetric(float64(took.Nanoseconds())/float64(n), "ns/msg")
	b.ReportMetric(float64(n)/took.Seconds(), "msgs/s")
}
