package memory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

// boundedRig is a broker whose backlog holds bound messages of
// payloadSize, one producer, and (when consume is set) one consumer whose
// handler waits for gate to close.
type boundedRig struct {
	b        *Broker
	p        broker.Producer
	gate     chan struct{}
	received atomic.Int64
	done     sync.WaitGroup
}

func newBoundedRig(t *testing.T, ctx context.Context, bound int, consume bool) *boundedRig {
	t.Helper()
	cost := payloadSize + entryOverhead
	b, err := New(Config{Partitions: 1, MaxBacklog: units.Size(int64(bound) * cost)}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := &boundedRig{b: b, gate: make(chan struct{})}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = b.Close(cctx)
		r.done.Wait()
	})
	r.p, err = b.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(*broker.Message, broker.Outcome, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	if !consume {
		return r
	}
	c, err := b.NewConsumer(ctx, broker.ConsumerOptions{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		_ = c.Run(ctx, func(*broker.Delivery) error {
			select {
			case <-r.gate:
			case <-ctx.Done():
				return ctx.Err()
			}
			r.received.Add(1)
			return nil
		})
	}()
	waitFor(ctx, t, "the consumer to join", func() bool { return b.running.Load() == 1 })
	return r
}

// publish publishes n messages in the background, counting the calls that
// returned nil in sent; the first error goes to errc.
func (r *boundedRig) publish(ctx context.Context, n int, sent *atomic.Int64) <-chan error {
	errc := make(chan error, 1)
	r.done.Add(1)
	go func() {
		defer r.done.Done()
		defer close(errc)
		for seq := range uint64(n) {
			buf := make([]byte, payloadSize)
			encode(buf, 0, seq)
			if err := r.p.Publish(ctx, &broker.Message{Seq: seq, Payload: buf}); err != nil {
				errc <- err
				return
			}
			sent.Add(1)
		}
	}()
	return errc
}

// A publish past broker.memory.max_backlog waits while a consumer runs,
// until its acknowledgements make room, and nothing is lost on the way.
func TestMaxBacklogBlocksPublishes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const bound, total = 10, 200
	r := newBoundedRig(t, ctx, bound, true)
	var sent atomic.Int64
	errc := r.publish(ctx, total, &sent)

	waitFor(ctx, t, "the backlog to fill", func() bool { return sent.Load() == bound })
	waitFor(ctx, t, "a publish to wait", func() bool { return r.b.Waited() == 1 })
	// The consumer holds everything in its batch, unacknowledged: the
	// publish after the bound stays waiting.
	time.Sleep(20 * time.Millisecond)
	if n := sent.Load(); n != bound {
		t.Fatalf("%d publishes returned with the consumer stuck, want the bound, %d", n, bound)
	}
	if q, limit := r.b.queued.Load(), int64(r.b.cfg.MaxBacklog); q != limit {
		t.Errorf("backlog of %d bytes, want the bound, %d", q, limit)
	}

	close(r.gate)
	if err := <-errc; err != nil {
		t.Fatalf("publish: %v", err)
	}
	waitFor(ctx, t, "every message delivered", func() bool { return r.received.Load() == total })
	n, err := r.b.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || r.b.queued.Load() != 0 {
		t.Errorf("backlog %d messages, %d bytes after delivering all; want 0 and 0", n, r.b.queued.Load())
	}
	if got := r.received.Load(); got != total {
		t.Errorf("received %d, want exactly %d", got, total)
	}
}

// A waiting publish ends with its context, or when its producer closes,
// with an error that says so; with no consumer running nothing waits.
func TestMaxBacklogWaitEnds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		consume bool
		end     func(r *boundedRig, cancel context.CancelFunc)
		want    error // nil: every publish returns nil without waiting
	}{
		{"context", true, func(_ *boundedRig, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"producer closed", true, func(r *boundedRig, _ context.CancelFunc) { _ = r.p.Close() }, errProducerClosed},
		{"no consumer", false, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			const bound = 5
			r := newBoundedRig(t, ctx, bound, tc.consume)
			pctx, stop := context.WithCancel(ctx)
			defer stop()
			var sent atomic.Int64
			errc := r.publish(pctx, 4*bound, &sent)
			if tc.want == nil {
				if err := <-errc; err != nil {
					t.Fatalf("publish: %v", err)
				}
				if n, w := sent.Load(), r.b.Waited(); n != 4*bound || w != 0 {
					t.Errorf("%d published, %d waited; want %d and 0", n, w, 4*bound)
				}
				return
			}
			waitFor(ctx, t, "a publish to wait", func() bool { return r.b.Waited() == 1 })
			tc.end(r, stop)
			select {
			case err := <-errc:
				if !errors.Is(err, tc.want) {
					t.Errorf("publish error %v, want %v", err, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("the waiting publish did not end")
			}
			if n := sent.Load(); n != bound {
				t.Errorf("%d published, want %d", n, bound)
			}
			close(r.gate)
		})
	}
}
