package memory

import (
	"bytes"
	"context"
	"errors"
	"github.com/mqcheck/mqcheck/units"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// completions records OnComplete calls.
type completions struct {
	mu   sync.Mutex
	at   map[uint64]time.Time
	outs map[uint64]broker.Outcome
	errs map[uint64]error
}

func newCompletions() *completions {
	return &completions{at: map[uint64]time.Time{}, outs: map[uint64]broker.Outcome{}, errs: map[uint64]error{}}
}

func (c *completions) record(m *broker.Message, o broker.Outcome, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at[m.Seq], c.outs[m.Seq], c.errs[m.Seq] = time.Now(), o, err
}

func (c *completions) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.outs)
}

func newProducer(t *testing.T, cfg Config) (*Broker, broker.Producer, *completions) {
	t.Helper()
	b, err := New(cfg, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = b.Close(ctx)
	})
	c := newCompletions()
	p, err := b.NewProducer(context.Background(), broker.ProducerOptions{OnComplete: c.record})
	if err != nil {
		t.Fatal(err)
	}
	return b, p, c
}

func TestAckLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	_, p, c := newProducer(t, Config{AckLatency: units.Duration(latency)})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sent := map[uint64]time.Time{}
	for seq := range uint64(10) {
		sent[seq] = time.Now()
		if err := p.Publish(ctx, &broker.Message{Seq: seq, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.len(); n != 0 {
		t.Errorf("%d completions right after Publish, want 0 before the latency", n)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := c.len(); n != 10 {
		t.Fatalf("%d completions after Flush, want 10", n)
	}
	for seq, at := range c.at {
		if d := at.Sub(sent[seq]); d < latency {
			t.Errorf("seq %d confirmed after %s, want at least %s", seq, d, latency)
		}
		if c.outs[seq] != broker.Acked {
			t.Errorf("seq %d: %s, want acked", seq, c.outs[seq])
		}
	}
}

// TestCloseInFlight: Close completes what waits for its confirm as
// indeterminate, at once, and a phantom told so is not counted.
func TestCloseInFlight(t *testing.T) {
	b, p, c := newProducer(t, Config{
		AckLatency: units.Duration(time.Hour),
		Faults:     Faults{Window: 2, Phantom: 1, WithholdAckDropped: 1},
	})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for seq := range uint64(5) {
		if err := p.Publish(ctx, &broker.Message{Seq: seq, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
	if n := c.len(); n != 5 {
		t.Fatalf("%d completions after Close, want 5", n)
	}
	for seq, o := range c.outs {
		if o != broker.Indeterminate || c.errs[seq] == nil {
			t.Errorf("seq %d: %s (%v), want indeterminate with a reason", seq, o, c.errs[seq])
		}
	}
	want := Faults{Window: 2, WithholdAckDropped: 1}
	if got := b.Injected(); got != want {
		t.Errorf("Injected() = %+v, want %+v", got, want)
	}
	if err := p.Publish(ctx, &broker.Message{Seq: 9}); !errors.Is(err, errProducerClosed) {
		t.Errorf("Publish after Close = %v, want %v", err, errProducerClosed)
	}
	if err := p.Flush(ctx); err != nil {
		t.Errorf("Flush after Close = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestPublishErrors(t *testing.T) {
	b, p, c := newProducer(t, Config{})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(canceled, &broker.Message{Payload: []byte("x")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context = %v, want context.Canceled", err)
	}
	if err := p.Publish(context.Background(), nil); err == nil {
		t.Error("Publish(nil) accepted")
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), testTimeout)
	defer cancel2()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, &broker.Message{Payload: []byte("x")}); err == nil {
		t.Error("Publish after the broker closed accepted")
	}
	if n := c.len(); n != 0 {
		t.Errorf("%d completions for refused publishes, want 0", n)
	}
	if _, err := b.NewProducer(ctx, broker.ProducerOptions{OnComplete: c.record}); err == nil {
		t.Error("NewProducer after Close accepted")
	}
	b2, err := New(Config{}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.NewProducer(ctx, broker.ProducerOptions{}); err == nil {
		t.Error("NewProducer without OnComplete accepted")
	}
}

func TestFlushTimeout(t *testing.T) {
	_, p, _ := newProducer(t, Config{AckLatency: units.Duration(time.Hour)})
	if err := p.Publish(context.Background(), &broker.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want a deadline error", err)
	}
}

func TestPartitioning(t *testing.T) {
	b, err := New(Config{Partitions: 3}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{b: b}
	for i := range 6 {
		if got := p.lane(nil); got != i%3 {
			t.Errorf("message %d without key went to partition %d, want %d", i, got, i%3)
		}
	}
	for _, k := range []string{"a", "b", "", "order-17"} {
		first := p.lane([]byte(k))
		for range 3 {
			if got := p.lane([]byte(k)); got != first {
				t.Errorf("key %q went to partitions %d and %d", k, first, got)
			}
		}
	}
}

// TestPublishCopiesPayload: Publish keeps a copy of the payload, in the
// shared slab or (past maxSlabPayload) an allocation of its own, so the
// caller may write the next message into the same buffer
// (broker.PayloadCopier): every delivery is what was published, and small
// copies do not run into one another.
func TestPublishCopiesPayload(t *testing.T) {
	for _, size := range []int{1, 100, maxSlabPayload, maxSlabPayload + 1, 3 * slabSize} {
		t.Run(units.Size(size).String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			b, p, _ := newProducer(t, Config{})
			const n = 40 // past one slab for the small sizes
			buf := make([]byte, size)
			for i := range n {
				for j := range buf {
					buf[j] = byte(i)
				}
				if err := p.Publish(ctx, &broker.Message{Seq: uint64(i), Payload: buf}); err != nil {
					t.Fatal(err)
				}
			}
			clear(buf)
			c, err := b.NewConsumer(ctx, broker.ConsumerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rctx, stop := context.WithCancel(ctx)
			defer stop()
			seen := make([]int, n)
			got := 0
			if err := c.Run(rctx, func(d *broker.Delivery) error {
				v := d.Payload[0]
				if len(d.Payload) != size || int(v) >= n || bytes.Count(d.Payload, []byte{v}) != size {
					t.Errorf("delivery %d: %d bytes, not %d bytes of one message's value", got, len(d.Payload), size)
				} else {
					seen[v]++
				}
				if got++; got == n {
					stop()
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i, k := range seen {
				if k != 1 {
					t.Errorf("message %d delivered intact %d times, want once", i, k)
				}
			}
		})
	}
}
