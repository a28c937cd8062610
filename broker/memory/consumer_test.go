package memory

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

var modes = []string{ModePartitioned, ModeQueue}

func cleanSpec(mode string) loadSpec {
	return loadSpec{
		cfg:  Config{Mode: mode},
		subs: 2, perSub: 3, producers: 3, messages: 600, seed: 1,
	}
}

// onlyRedelivered checks that the run's only anomalies are want flagged
// redeliveries.
func onlyRedelivered(t *testing.T, o observed, want int) {
	t.Helper()
	if o.faults.DuplicateRedelivered != want {
		t.Errorf("%d redelivered copies, want %d: %v", o.faults.DuplicateRedelivered, want, o.events)
	}
	o.faults.DuplicateRedelivered = 0
	if o.faults != (Faults{Window: o.faults.Window}) {
		t.Errorf("unexpected anomalies %+v: %v", o.faults, o.events)
	}
	if o.flaggedFirst != 0 {
		t.Errorf("%d first deliveries flagged redelivered, want 0", o.flaggedFirst)
	}
}

func TestRejectRedelivers(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, cleanSpec(mode))
			var rejected atomic.Bool
			var again atomic.Int32
			r.hook = func(r *rig, cons, n int, d delivered) error {
				if d.sub != 0 || d.producer != 1 || d.seq != 100 {
					return nil
				}
				if rejected.CompareAndSwap(false, true) {
					return broker.ErrReject
				}
				if !d.redelivered {
					t.Errorf("redelivery after a reject not flagged")
				}
				again.Add(1)
				return nil
			}
			o := r.run()
			if again.Load() != 1 {
				t.Errorf("rejected message delivered again %d times, want 1", again.Load())
			}
			onlyRedelivered(t, o, 1)
		})
	}
}

// TestCloseMidStream closes a consumer from its own handler, as a client
// crashing before its ack: the message in the handler comes back flagged, to
// another consumer, and the rest of its batch unflagged.
func TestCloseMidStream(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			r := newRig(t, cleanSpec(mode))
			closed := make(chan struct{})
			var victim delivered
			r.hook = func(r *rig, cons, n int, d delivered) error {
				if cons == 0 && n == 20 {
					victim = d
					if err := r.consumers[0].Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
					close(closed)
				}
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cctx, ccancel := context.WithCancel(ctx)
			if mode == ModePartitioned {
				// Everyone runs: the partitions of consumer 0 move to the
				// others, which must wait for its batch to come back.
				r.startAll(cctx)
			} else {
				// Competing consumers would take later messages first, which
				// a queue may do: start the others once consumer 0 is gone,
				// so that only the redelivery is an anomaly.
				r.start(cctx, 0)
				for i := 3; i < 6; i++ {
					r.start(cctx, i)
				}
				waitFor(ctx, t, "consumers to join", func() bool { return r.members() == 4 })
			}
			ps := r.publish(ctx)
			select {
			case <-closed:
			case <-ctx.Done():
				t.Fatal("consumer 0 never got 20 deliveries")
			}
			if mode == ModeQueue {
				r.start(cctx, 1)
				r.start(cctx, 2)
			}
			r.drain(ctx)
			r.stop(ctx, ccancel)
			for _, p := range ps {
				_ = p.Close()
			}
			o := r.observe()
			onlyRedelivered(t, o, 1)
			for _, l := range r.logs {
				for _, d := range l {
					if d.redelivered && (d.sub != 0 || d.producer != victim.producer || d.seq != victim.seq || d.cons == 0) {
						t.Errorf("redelivered %+v, want p%d/%d of subscription 0 on another consumer", d, victim.producer, victim.seq)
					}
				}
			}
			if n := len(r.logs[0]); n != 20 {
				t.Errorf("consumer 0 got %d deliveries after its Close, want 20", n)
			}
			if err := r.consumers[0].Run(ctx, func(*broker.Delivery) error { return nil }); err == nil {
				t.Error("Run after Close returned nil, want an error")
			}
		})
	}
}

// TestCancelMidStream ends a consumer's context: it is between deliveries
// then, so nothing is redelivered and the rest of its batch goes on
// elsewhere, in order.
func TestCancelMidStream(t *testing.T) {
	r := newRig(t, cleanSpec(ModePartitioned))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	victimCtx, victimCancel := context.WithCancel(cctx)
	r.hook = func(r *rig, cons, n int, d delivered) error {
		if cons == 0 && n == 20 {
			victimCancel()
		}
		return nil
	}
	r.start(victimCtx, 0)
	for i := 1; i < len(r.consumers); i++ {
		r.start(cctx, i)
	}
	waitFor(ctx, t, "consumers to join", func() bool { return r.members() == len(r.consumers) })
	ps := r.publish(ctx)
	r.drain(ctx)
	r.stop(ctx, ccancel)
	for _, p := range ps {
		_ = p.Close()
	}
	onlyRedelivered(t, r.observe(), 0)
	if n := len(r.logs[0]); n != 20 {
		t.Errorf("consumer 0 got %d deliveries, want 20", n)
	}
}

// TestRebalanceMidStream adds and removes consumers while messages flow: the
// cooperative handover keeps every partition with one consumer at a time, so
// nothing is lost, duplicated or reordered. With a Handover hook, a
// partition moves to its new owner only after the consumer that delivered
// from it before has called the hook, so the swarm can hand its receipts to
// the checker first (without it, receipts from two consumers reached the
// checker in the wrong order and the fault-free broker failed "ordered").
func TestRebalanceMidStream(t *testing.T) {
	for _, handover := range []bool{false, true} {
		t.Run(fmt.Sprintf("handover=%v", handover), func(t *testing.T) {
			spec := cleanSpec(ModePartitioned)
			spec.handover = handover
			r := newRig(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cctx, ccancel := context.WithCancel(ctx)
			leaveCtx, leave := context.WithCancel(cctx)
			var grow, shrink sync.Once
			order := newHandoverOrder(t)
			r.hook = func(r *rig, cons, n int, d delivered) error {
				if handover {
					order.check(r, cons, d)
				}
				switch {
				case cons == 0 && n == 50:
					grow.Do(func() { r.start(cctx, 1); r.start(leaveCtx, 2) })
				case cons == 1 && n == 50:
					shrink.Do(leave)
				}
				if n%64 == 0 {
					time.Sleep(100 * time.Microsecond) // let rebalances land mid-batch
				}
				return nil
			}
			r.start(cctx, 0)
			for i := 3; i < 6; i++ {
				r.start(cctx, i)
			}
			waitFor(ctx, t, "consumers to join", func() bool { return r.members() == 4 })
			ps := r.publish(ctx)
			r.drain(ctx)
			r.stop(ctx, ccancel)
			for _, p := range ps {
				_ = p.Close()
			}
			onlyRedelivered(t, r.observe(), 0)
			if r.notices.Load() == 0 {
				t.Error("no rebalance notices")
			}
			if handover && order.moved == 0 {
				t.Error("no partition changed consumers: the handover was not tested")
			}
		})
	}
}

// handoverOrder checks, delivery by delivery, that a consumer delivers from
// a partition another consumer delivered from before only after that one
// has called its Handover hook since.
type handoverOrder struct {
	t     *testing.T
	mu    sync.Mutex
	last  map[[2]string]handoverMark // (subscription, domain) -> last deliverer
	moved int
}

type handoverMark struct {
	cons      int
	handovers int64
}

func newHandoverOrder(t *testing.T) *handoverOrder {
	return &handoverOrder{t: t, last: map[[2]string]handoverMark{}}
}

func (o *handoverOrder) check(r *rig, cons int, d delivered) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := [2]string{strconv.Itoa(d.sub), d.domain}
	if l, ok := o.last[w]; ok && l.cons != cons {
		o.moved++
		if r.handovers[l.cons].Load() == l.handovers {
			o.t.Errorf("consumer %d delivers from %s before consumer %d, which delivered from it, handed over", cons, d.domain, l.cons)
		}
	}
	o.last[w] = handoverMark{cons, r.handovers[cons].Load()}
}

func TestBacklog(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			spec := cleanSpec(mode)
			spec.producers = 1
			// A window the run fills, so every fault is applied.
			spec.cfg.Faults = Faults{Window: 500, Drop: 2, Duplicate: 3, Reorder: 4, Reject: 1}
			r := newRig(t, spec)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			ps := r.publish(ctx) // nobody consumes yet

			// Every subscription holds every stored message, plus duplicate
			// copies, minus drops; held reorders count too.
			want := int64(2*(600-1) + 3 - 2)
			if n, err := r.b.Backlog(ctx); err != nil || n != want {
				t.Fatalf("Backlog() = %d, %v; want %d", n, err, want)
			}
			cctx, ccancel := context.WithCancel(ctx)
			r.startAll(cctx)
			r.drain(ctx)
			r.stop(ctx, ccancel)
			for _, p := range ps {
				_ = p.Close()
			}
			if o := r.observe(); o.faults != r.b.Config().Faults {
				t.Errorf("observed %+v, want %+v", o.faults, r.b.Config().Faults)
			}
			if err := r.b.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := r.b.Backlog(ctx); err == nil {
				t.Error("Backlog after Close: nil error")
			}
		})
	}
}

// TestHeldUntilFinished checks that a reorder with no successor yet is
// held while its producer may still send one, and released (uncounted) once
// the producer is flushed.
func TestHeldUntilFinished(t *testing.T) {
	b, err := New(Config{Partitions: 1, Faults: Faults{Window: 1, Reorder: 1}}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	defer b.Close(ctx)
	done := make(chan broker.Outcome, 1)
	p, err := b.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) { done <- o }})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, payloadSize)
	encode(buf, 0, 0)
	if err := p.Publish(ctx, &broker.Message{Payload: buf}); err != nil {
		t.Fatal(err)
	}
	if o := <-done; o != broker.Acked {
		t.Fatalf("outcome %s, want acked", o)
	}
	b.mu.Lock()
	held, queued := len(b.held), b.subs[0].lanes[0].q.len()
	b.mu.Unlock()
	if held != 1 || queued != 0 {
		t.Fatalf("%d held and %d queued before the flush, want 1 and 0", held, queued)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("Backlog() = %d, %v; want 1", n, err)
	}
	b.mu.Lock()
	held, queued = len(b.held), b.subs[0].lanes[0].q.len()
	b.mu.Unlock()
	if held != 0 || queued != 1 {
		t.Errorf("%d held and %d queued after the flush, want 0 and 1", held, queued)
	}
	if got := b.Injected().Reorder; got != 0 {
		t.Errorf("Injected().Reorder = %d for a message released last, want 0", got)
	}
}

func TestHandlerError(t *testing.T) {
	b, err := New(Config{}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	defer b.Close(ctx)
	p, err := b.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(*broker.Message, broker.Outcome, error) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctx, &broker.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c, err := b.NewConsumer(ctx, broker.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := c.Run(ctx, func(*broker.Delivery) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	// The failed delivery went back, flagged.
	c2, err := b.NewConsumer(ctx, broker.ConsumerOptions{ID: 1})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	var flags []bool
	if err := c2.Run(rctx, func(d *broker.Delivery) error {
		flags = append(flags, d.Redelivered)
		rcancel() // Run returns before the next delivery
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(flags) != 1 || !flags[0] {
		t.Errorf("redelivery flags %v, want [true]", flags)
	}
	if n, _ := b.Backlog(ctx); n != 0 {
		t.Errorf("backlog %d after the redelivery, want 0", n)
	}
}

func TestConsumerErrors(t *testing.T) {
	b, err := New(Config{}, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := b.NewConsumer(ctx, broker.ConsumerOptions{Subscription: 2}); err == nil {
		t.Error("subscription out of range accepted")
	}
	c, err := b.NewConsumer(ctx, broker.ConsumerOptions{Subscription: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx, nil); err == nil {
		t.Error("nil handler accepted")
	}
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx, func(*broker.Delivery) error { return nil }) }()
	waitFor(ctx, t, "the consumer to join", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.subs[1].members) == 1
	})
	if err := c.Run(ctx, func(*broker.Delivery) error { return nil }); err == nil {
		t.Error("second concurrent Run accepted")
	}
	rcancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.NewConsumer(ctx, broker.ConsumerOptions{}); err == nil {
		t.Error("NewConsumer after Close accepted")
	}
}
