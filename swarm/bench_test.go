package swarm

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/memory"
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

// BenchmarkSwarmAllocs reports the heap allocations per message of a whole run against the
// memory broker (one producer, one consumer, closed loop, 100 B): producing, consuming,
// checking and the collector's batches, from runtime.MemStats around the load and its
// drain. Run with -benchtime=1x.
func BenchmarkSwarmAllocs(b *testing.B) {
	br, err := memory.New(memory.Config{Partitions: 1}, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer func() { _ = br.Close(ctx) }()
	sw := New(Config{RunID: 1, Producers: 1, Consumers: 1, Duration: time.Second, MessageSize: 100}, br, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		b.Fatal(err)
	}
	defer sw.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	if err := sw.Produce(ctx); err != nil {
		b.Fatal(err)
	}
	if dr := sw.Drain(ctx, 30*time.Second, 0); !dr.Drained {
		b.Fatalf("drain: %s", dr.Reason)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(sw.Collector().Totals().Received)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/msg")
	b.ReportMetric(float64(after.NumGC-before.NumGC), "GCs")
	b.ReportMetric(n/b.Elapsed().Seconds(), "msgs/s")
}
