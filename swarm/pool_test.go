package swarm

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
)

// TestMsgPoolBoundsInFlight runs a publishing loop against a completion
// goroutine and checks that no more than the pool's size is ever in flight
// and that the loop never stalls for good, for window sizes around the
// batching thresholds. The pool may drop messages that stayed idle for a
// period and make them again later (a loop that a neighbour's load slowed
// down has less in flight for a while), so what is bounded is what it
// holds at once, not what it made in all.
func TestMsgPoolBoundsInFlight(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 63, 256, 1000} {
		p := newMsgPool(n, func() *broker.Message { return &broker.Message{} })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		inflight := make(chan *broker.Message, n)
		outstanding := map[*broker.Message]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the driver: completes in order, one at a time
			defer wg.Done()
			for m := range inflight {
				mu.Lock()
				delete(outstanding, m)
				mu.Unlock()
				p.put(m, false)
			}
		}()
		for i := 0; i < 20000; i++ {
			m, _ := p.get(ctx, monoClock{}.NewWaiter(), math.MaxInt64, 0, nil)
			if m == nil {
				t.Fatalf("n=%d: loop stalled after %d messages", n, i)
			}
			mu.Lock()
			if outstanding[m] {
				t.Fatalf("n=%d: message handed out twice", n)
			}
			outstanding[m] = true
			if len(outstanding) > n {
				t.Fatalf("n=%d: %d in flight", n, len(outstanding))
			}
			mu.Unlock()
			if p.made > n {
				t.Fatalf("n=%d: the pool holds %d messages after %d taken", n, p.made, i+1)
			}
			inflight <- m // would block (and the test time out) past n in flight
		}
		close(inflight)
		wg.Wait()
		cancel()
	}
}

// TestMsgPoolMakesWhatIsInFlight: messages are made only when none is
// returned, so a loop that never has more than two in flight makes two,
// whatever the window.
func TestMsgPoolMakesWhatIsInFlight(t *testing.T) {
	made := 0
	p := newMsgPool(1000, func() *broker.Message { made++; return &broker.Message{} })
	ctx := t.Context()
	get := func() *broker.Message {
		m, _ := p.get(ctx, monoClock{}.NewWaiter(), math.MaxInt64, 0, nil)
		if m == nil {
			t.Fatal("get returned nothing")
		}
		return m
	}
	for range 500 {
		a, b := get(), get()
		if a == b {
			t.Fatal("one message handed out twice")
		}
		p.put(a, false)
		p.put(b, true) // nothing else in flight: handed back now
	}
	if made != 2 {
		t.Errorf("%d messages made for two in flight at a time, want 2", made)
	}
}

// TestCollectorReadDuringClose reads the collector while it closes, as a
// metrics scrape at the end of a run does.
func TestCollectorReadDuringClose(t *testing.T) {
	for range 50 {
		col := NewCollector(checker.New(checker.NewNames("s0")))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					col.Totals()
				}
			}()
		}
		col.Close()
		wg.Wait()
	}
}

// burstDriver completes its producer's messages only in bursts, from
// inside Publish, once it holds batch of them: a transaction ending. With
// together it completes each burst in one OnCompleteBatch call.
type burstDriver struct {
	batch    int
	together bool
}

func (d *burstDriver) Setup(context.Context) error { return nil }
func (d *burstDriver) Close(context.Context) error { return nil }
func (d *burstDriver) NewConsumer(context.Context, broker.ConsumerOptions) (broker.Consumer, error) {
	return nil, context.Canceled
}
func (d *burstDriver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	p := &burstProducer{batch: d.batch, done: o.OnComplete}
	if d.together {
		p.doneAll = o.OnCompleteBatch
	}
	return p, nil
}

type burstProducer struct {
	batch   int
	done    broker.Completion
	doneAll broker.CompletionBatch
	held    []*broker.Message
}

func (p *burstProducer) Publish(_ context.Context, m *broker.Message) error {
	p.held = append(p.held, m)
	if len(p.held) == p.batch {
		p.end()
	}
	return nil
}

func (p *burstProducer) end() {
	if p.doneAll != nil {
		p.doneAll(p.held, broker.Acked, nil)
	} else {
		for _, m := range p.held {
			p.done(m, broker.Acked, nil)
		}
	}
	clear(p.held)
	p.held = p.held[:0]
}

func (p *burstProducer) Flush(context.Context) error { p.end(); return nil }
func (p *burstProducer) Close() error                { p.end(); return nil }

// TestBurstCompletionsDoNotStall: a driver that completes a whole window
// at once, from inside Publish, gets its messages back at once. The pool
// handed returns over in batches of 64 and when the loop was waiting; the
// last partial batch of a burst stayed with the completion side, which was
// the loop itself, so a window no larger than the burst stalled until the
// end of the load (1,000 sent in a second, one transaction).
// Completed in one OnCompleteBatch call per burst, the same holds, and
// every message sent is acked once.
func TestBurstCompletionsDoNotStall(t *testing.T) {
	for _, together := range []bool{false, true} {
		for _, window := range []int{100, 1000} {
			sw := New(Config{Producers: 1, Duration: 300 * time.Millisecond, MessageSize: 100, MaxInFlight: window}, &burstDriver{batch: window, together: together}, nil)
			if err := sw.Produce(context.Background()); err != nil {
				t.Fatal(err)
			}
			sw.Close()
			tot := sw.Collector().Totals()
			if tot.Acked < uint64(10*window) {
				t.Errorf("window %d, batch completions %v: %d acked in 300ms of closed loop, want many windows' worth", window, together, tot.Acked)
			}
			if tot.Acked != tot.Sent || tot.Indeterminate+tot.Failed != 0 {
				t.Errorf("window %d, batch completions %v: sent %d, acked %d, failed %d, indeterminate %d; want every send acked", window, together, tot.Sent, tot.Acked, tot.Failed, tot.Indeterminate)
			}
		}
	}
}

// TestMsgPoolShrinks: a producer whose window filled once (all 1,000 in
// flight), then goes on with one message in flight, lets the idle ones go,
// down to a few batches of returns; one that stays window-bound keeps
// every message it made and makes none again.
func TestMsgPoolShrinks(t *testing.T) {
	made := 0
	p := newMsgPool(1000, func() *broker.Message { made++; return &broker.Message{} })
	ctx := t.Context()
	get := func() *broker.Message {
		t.Helper()
		m, _ := p.get(ctx, monoClock{}.NewWaiter(), math.MaxInt64, 0, nil)
		if m == nil {
			t.Fatal("get returned nothing")
		}
		return m
	}
	burst := make([]*broker.Message, 0, 1000)
	for range 1000 {
		burst = append(burst, get())
	}
	for i, m := range burst {
		p.put(m, i == len(burst)-1)
	}
	if made != 1000 || p.made != 1000 {
		t.Fatalf("made %d (pool counts %d) for the burst, want 1000", made, p.made)
	}
	for range 200_000 {
		p.put(get(), true)
	}
	// The period that saw the burst drops nothing; each one after drops
	// half of what stayed idle (all but the one out) beyond one batch of
	// returns (64): 1000 → 533 → 299 → 182 → 124, where 123 idle is not
	// over two batches.
	if made != 1000 || p.made != 124 {
		t.Errorf("after a steady load of one in flight: %d made in all, the pool holds %d; want 1000 and 124", made, p.made)
	}

	// Window-bound: all 200 in flight, returned at once, again and again.
	made = 0
	q := newMsgPool(200, func() *broker.Message { made++; return &broker.Message{} })
	p = q
	for range 2000 {
		for i := range 200 {
			burst[i] = get()
		}
		for i, m := range burst[:200] {
			q.put(m, i == 199)
		}
	}
	if made != 200 || q.made != 200 {
		t.Errorf("window-bound: %d made in all, the pool holds %d; want 200 and 200", made, q.made)
	}
}

// TestMsgPoolKeepsBurstyWindow: a producer whose client completes in
// bursts (franz-go answers thousands at once) has its whole window out
// only once per window's worth of sends, and a few thousand out the rest
// of the time. Its pool must keep the window: periods shorter than that
// dropped messages and made them again all along.
func TestMsgPoolKeepsBurstyWindow(t *testing.T) {
	const size, low = 10_000, 3_000
	made := 0
	p := newMsgPool(size, func() *broker.Message { made++; return &broker.Message{} })
	ctx := t.Context()
	get := func() *broker.Message {
		t.Helper()
		m, _ := p.get(ctx, monoClock{}.NewWaiter(), math.MaxInt64, 0, nil)
		if m == nil {
			t.Fatal("get returned nothing")
		}
		return m
	}
	var out []*broker.Message // oldest first
	for range 30 {
		// Up to the whole window, then a burst brings it down to low.
		for len(out) < size {
			out = append(out, get())
		}
		burst := len(out) - low
		for i, m := range out[:burst] {
			p.put(m, i == burst-1)
		}
		out = append(out[:0], out[burst:]...)
		// Then a while at low: one batch of 1,000 completes at a time.
		for range 3 {
			for i, m := range out[:1000] {
				p.put(m, i == 999)
			}
			out = append(out[:0], out[1000:]...)
			for range 1000 {
				out = append(out, get())
			}
		}
	}
	if made != size || p.made != size {
		t.Errorf("%d made in all, the pool holds %d; want %d and %d: a window-bound producer makes no message twice", made, p.made, size, size)
	}
}
