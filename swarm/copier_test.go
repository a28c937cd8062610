package swarm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/message"
)

// copyingDriver acks publishes ten at a time, in Publish (and the rest in
// Flush), keeping a copy of each payload and which buffer it came in;
// with copies it says so (broker.PayloadCopier).
type copyingDriver struct {
	copies bool
	mu     sync.Mutex
	got    [][]byte
	bufs   map[*byte]bool
}

func (d *copyingDriver) Setup(context.Context) error { return nil }
func (d *copyingDriver) Close(context.Context) error { return nil }
func (d *copyingDriver) NewConsumer(context.Context, broker.ConsumerOptions) (broker.Consumer, error) {
	return nil, errors.New("no consumers here")
}
func (d *copyingDriver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	return &copyingProducer{d: d, o: o}, nil
}

type copyingProducer struct {
	d    *copyingDriver
	o    broker.ProducerOptions
	held []*broker.Message
}

func (p *copyingProducer) CopiesPayload() bool { return p.d.copies }
func (p *copyingProducer) Close() error        { return nil }

func (p *copyingProducer) Flush(context.Context) error {
	for _, m := range p.held {
		p.o.OnComplete(m, broker.Acked, nil)
	}
	p.held = p.held[:0]
	return nil
}
func (p *copyingProducer) Publish(_ context.Context, m *broker.Message) error {
	p.d.mu.Lock()
	if len(p.d.got) < 20000 {
		p.d.got = append(p.d.got, append([]byte(nil), m.Payload...))
	}
	p.d.bufs[&m.Payload[0]] = true
	p.d.mu.Unlock()
	if p.held = append(p.held, m); len(p.held) == 10 {
		return p.Flush(context.Background())
	}
	return nil
}

// TestPayloadCopierSharesOneBuffer: a driver that copies payloads at
// Publish gets every message in one buffer, and each copy it took is
// the message it was handed (seq after seq, checksum intact); a driver
// that does not say so gets a buffer per message in flight.
func TestPayloadCopierSharesOneBuffer(t *testing.T) {
	for _, copies := range []bool{true, false} {
		d := &copyingDriver{copies: copies, bufs: map[*byte]bool{}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		sw := New(Config{RunID: 7, Producers: 1, Duration: 100 * time.Millisecond, MessageSize: 100, MaxInFlight: 64}, d, nil)
		if err := sw.Produce(ctx); err != nil {
			t.Fatal(err)
		}
		sw.Close()
		cancel()
		if len(d.got) < 100 {
			t.Fatalf("copies %v: only %d publishes", copies, len(d.got))
		}
		for i, b := range d.got {
			h, err := message.Decode(b)
			if err != nil {
				t.Fatalf("copies %v: publish %d: %v", copies, i, err)
			}
			if h.Seq != uint64(i) {
				t.Fatalf("copies %v: publish %d carries seq %d", copies, i, h.Seq)
			}
		}
		if n := len(d.bufs); copies && n != 1 || !copies && n < 2 {
			t.Errorf("copies %v: payloads came in %d buffers", copies, n)
		}
	}
}
