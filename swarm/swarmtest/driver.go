package swarmtest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/swarm"
)

// Stall is a scripted window [From, To) on the driver's clock (unix ns):
// a publish made inside it is held, then acked and delivered at To. To 0
// never ends: what it holds is completed indeterminate at Close.
type Stall struct{ From, To int64 }

// Driver is a broker.Driver whose broker acks and delivers every publish
// at once, except as scripted: inside a Stall (on a virtual Clock) it holds
// publishes until the stall ends, and with SlowAbove it delays acks and
// deliveries (in real time) while producers publish faster than a rate.
// There is one subscription; its first consumer gets every message, in
// one ordering domain.
type Driver struct {
	clock  swarm.Clock
	vclock *Clock
	stalls []Stall

	// Above a rate (per second, summed over Producers), acks and
	// deliveries come SlowBy late: a broker that saturates.
	slowAbove float64
	slowBy    time.Duration
	producers int

	mu      sync.Mutex // serializes deliveries
	handler broker.Handler
	// early are payloads delivered before any consumer ran, kept for the
	// first one, as a broker keeps messages for a consumer that comes.
	early    [][]byte
	consumed bool // a consumer ran (and may have stopped)
	ready    chan struct{}
	readyOne sync.Once
	first    []byte // the first payload, for a late duplicate
	// scheduled marks the stalls whose release is scheduled.
	scheduled map[int]bool
	held      map[int][]heldMsg
}

type heldMsg struct {
	p *producer
	m *broker.Message
}

// NewDriver returns a driver on clock c that stalls as scripted.
func NewDriver(c *Clock, stalls ...Stall) *Driver {
	return &Driver{clock: c, vclock: c, stalls: stalls, ready: make(chan struct{}),
		scheduled: map[int]bool{}, held: map[int][]heldMsg{}}
}

// NewSlowDriver returns a real-time driver that delays every ack and
// delivery by slowBy while the load's intended rate (from the send times
// of each producer's successive messages, times producers) is above
// rate, and is immediate below it.
func NewSlowDriver(rate float64, slowBy time.Duration, producers int) *Driver {
	return &Driver{clock: swarm.MonotonicClock(), slowAbove: rate, slowBy: slowBy, producers: max(1, producers),
		ready: make(chan struct{}), scheduled: map[int]bool{}, held: map[int][]heldMsg{}}
}

// Ready is closed once a consumer runs. What is delivered before is kept
// for that consumer, which gets it first, as a broker keeps messages for
// a consumer that comes (a publish before the consumer runs is delivered
// late, not lost).
func (d *Driver) Ready() <-chan struct{} { return d.ready }

// RedeliverFirstAfter delivers the first message published once more,
// flagged redelivered, after wall-clock time after: a late duplicate, as
// a redelivery after a crash near the end would be. It is dropped if no
// consumer runs by then.
func (d *Driver) RedeliverFirstAfter(after time.Duration) {
	time.AfterFunc(after, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.handler != nil && d.first != nil {
			_ = d.handler(&broker.Delivery{Payload: d.first, Domain: "stall/0", Redelivered: true})
		}
	})
}

// Setup does nothing: there is nothing to create.
func (d *Driver) Setup(context.Context) error { return nil }

// Close does nothing: producers and consumers close themselves.
func (d *Driver) Close(context.Context) error { return nil }

// NewProducer returns a producer.
func (d *Driver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	return &producer{d: d, o: o}, nil
}

// NewConsumer returns a consumer; only the first to run gets deliveries.
func (d *Driver) NewConsumer(context.Context, broker.ConsumerOptions) (broker.Consumer, error) {
	return &consumer{d: d}, nil
}

func (d *Driver) stallAt(t int64) (int, bool) {
	for i, s := range d.stalls {
		if t >= s.From && (s.To == 0 || t < s.To) {
			return i, true
		}
	}
	return 0, false
}

// deliver hands m to the consumer, if one runs.
func (d *Driver) deliver(m *broker.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.first == nil {
		d.first = append([]byte(nil), m.Payload...)
	}
	switch {
	case d.handler != nil:
		_ = d.handler(&broker.Delivery{Payload: m.Payload, Domain: "stall/0"})
	case !d.consumed:
		// The swarm reuses m once it is completed: keep a copy.
		d.early = append(d.early, append([]byte(nil), m.Payload...))
	}
}

// hold keeps m until stall i ends, scheduling the release once.
func (d *Driver) hold(i int, p *producer, m *broker.Message) {
	d.mu.Lock()
	d.held[i] = append(d.held[i], heldMsg{p, m})
	schedule := !d.scheduled[i] && d.stalls[i].To != 0
	d.scheduled[i] = true
	d.mu.Unlock()
	p.inFlight.Add(1)
	if schedule {
		d.vclock.At(d.stalls[i].To, func() { d.release(i) })
	}
}

// release acks and delivers what stall i held, in publish order.
func (d *Driver) release(i int) {
	d.mu.Lock()
	held := d.held[i]
	delete(d.held, i)
	d.mu.Unlock()
	for _, h := range held {
		h.p.done(h.m, broker.Acked)
	}
}

type producer struct {
	d        *Driver
	o        broker.ProducerOptions
	mu       sync.Mutex // completions never overlap
	inFlight atomic.Int64
	last     int64 // the previous message's intended time
}

func (p *producer) Publish(_ context.Context, m *broker.Message) error {
	d := p.d
	if d.vclock != nil {
		if i, ok := d.stallAt(d.clock.Now()); ok {
			d.hold(i, p, m)
			return nil
		}
	}
	if d.slowBy > 0 {
		slow := p.last != 0 && m.Intended > p.last && 1e9/float64(m.Intended-p.last)*float64(d.producers) > d.slowAbove
		p.last = m.Intended
		if slow {
			p.inFlight.Add(1)
			time.AfterFunc(d.slowBy, func() { p.done(m, broker.Acked) })
			return nil
		}
	}
	p.inFlight.Add(1)
	p.done(m, broker.Acked)
	return nil
}

// done delivers m, then completes it: the swarm reuses a message once it
// is completed.
func (p *producer) done(m *broker.Message, o broker.Outcome) {
	if o == broker.Acked {
		p.d.deliver(m)
	}
	p.mu.Lock()
	p.o.OnComplete(m, o, nil)
	p.mu.Unlock()
	p.inFlight.Add(-1)
}

// Flush waits for what is held: on a virtual clock it moves the clock to
// the end of the stalls that hold something (those that end).
func (p *producer) Flush(ctx context.Context) error {
	d := p.d
	if d.vclock != nil {
		var until int64
		d.mu.Lock()
		for i := range d.held {
			until = max(until, d.stalls[i].To)
		}
		d.mu.Unlock()
		if until > 0 {
			d.vclock.Until(ctx, until, nil, nil)
		}
	}
	for p.inFlight.Load() > 0 {
		if d.vclock != nil {
			return errors.New("swarmtest: publishes held by a stall that never ends")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Close completes what a never-ending stall holds as indeterminate, and
// waits for delayed acks.
func (p *producer) Close() error {
	d := p.d
	d.mu.Lock()
	var mine []heldMsg
	for i, hs := range d.held {
		var rest []heldMsg
		for _, h := range hs {
			if h.p == p {
				mine = append(mine, h)
			} else {
				rest = append(rest, h)
			}
		}
		d.held[i] = rest
	}
	d.mu.Unlock()
	for _, h := range mine {
		p.done(h.m, broker.Indeterminate)
	}
	for p.inFlight.Load() > 0 {
		time.Sleep(time.Millisecond)
	}
	return nil
}

type consumer struct{ d *Driver }

func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	d := c.d
	mine := false
	d.readyOne.Do(func() {
		d.mu.Lock()
		d.handler, d.consumed = h, true
		for _, p := range d.early {
			_ = h(&broker.Delivery{Payload: p, Domain: "stall/0"})
		}
		d.early = nil
		d.mu.Unlock()
		mine = true
		close(d.ready)
	})
	<-ctx.Done()
	if mine {
		d.mu.Lock()
		d.handler = nil
		d.mu.Unlock()
	}
	return nil
}

func (c *consumer) Close() error { return nil }
