package swarm

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/memory"
	"github.com/mqcheck/mqcheck/checker"
)

// countingClock is the monotonic clock, counting its readings: Now, and each wait's
// own (a wait from the caller's reading makes none unless it runs to its time).
type countingClock struct{ reads atomic.Int64 }

func (c *countingClock) Now() int64 {
	c.reads.Add(1)
	return clockNow()
}

func (c *countingClock) NewWaiter() Waiter { return &countingWaiter{c: c} }

type countingWaiter struct {
	c *countingClock
	w timerWaiter
}

func (w *countingWaiter) Until(ctx context.Context, t int64, a, b <-chan struct{}) (Wake, int64) {
	w.c.reads.Add(1)
	wake, now := w.w.Until(ctx, t, a, b)
	if wake == Reached && now != 0 && t > clockNow()-int64(time.Millisecond) {
		w.c.reads.Add(1) // it slept to t, and read the clock again
	}
	return wake, now
}

func (w *countingWaiter) UntilFrom(ctx context.Context, t, now int64, a, b <-chan struct{}) (Wake, int64) {
	wake, read := w.w.UntilFrom(ctx, t, now, a, b)
	if wake == Reached && read != now {
		w.c.reads.Add(1)
	}
	return wake, read
}

// TestOneClockReadPerMessagePerSide: closed loop with a window of one message, so the
// producer finds its window full after every send, against the memory broker. Each
// message is read on the clock once when sent, once when its outcome comes, once when
// received (DESIGN's hot path): the wait for the free message must not read it again.
func TestOneClockReadPerMessagePerSide(t *testing.T) {
	t.Parallel()
	b, ctx := memBroker(t, memory.Config{Partitions: 1})
	clock := &countingClock{}
	sw := New(Config{RunID: 1, Producers: 1, Consumers: 1, MaxInFlight: 1, Duration: 200 * time.Millisecond,
		MessageSize: 64, Clock: clock}, b, nil)
	if err := sw.StartConsumers(ctx); err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	before := clock.reads.Load()
	if err := sw.Produce(ctx); err != nil {
		t.Fatal(err)
	}
	if dr := sw.Drain(ctx, 30*time.Second, 50*time.Millisecond); !dr.Drained {
		t.Fatalf("drain: %s", dr.Reason)
	}
	reads := clock.reads.Load() - before
	sw.Close()
	c := sw.Collector().Finalize(checker.Options{Drained: true}).Counts
	if c.Sent < 100 || c.Received != c.Sent {
		t.Fatalf("counts %+v: want at least 100 messages sent and each received", c)
	}
	// Send, outcome and receipt; a few more per run (start, end, drain) and per wait that
	// outlasts fromCheck (a stalled machine): far below the fourth read per message
	// that a wait reading the clock again would make.
	if limit := 3*int64(c.Sent) + int64(c.Sent)/20 + 20; reads > limit {
		t.Errorf("%d clock reads for %d messages (%.2f each), want at most %d", reads, c.Sent, float64(reads)/float64(c.Sent), limit)
	}
	t.Logf("%d clock reads for %d messages (%.2f each)", reads, c.Sent, float64(reads)/float64(c.Sent))
}
