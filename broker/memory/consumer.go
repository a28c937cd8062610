package memory

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/mqcheck/mqcheck/broker"
)

// maxInFlight bounds the deliveries a consumer takes at once, like a
// prefetch count: it is what goes back to the broker when the consumer dies.
const maxInFlight = 256

// Bits of consumer.state next to the batch index.
const (
	closedBit  = uint64(1) << 63
	revokeBit  = uint64(1) << 62
	handlerBit = uint64(1) << 61
	indexMask  = handlerBit - 1
)

var (
	errConsumerClosed = errors.New("consumer closed")
	errAlreadyRunning = errors.New("consumer already running")
)

type consumer struct {
	b      *Broker
	id     int
	sub    *subscription
	notify func(broker.Notice)
	// handover is ConsumerOptions.Handover: a partition this consumer
	// loses moves on only once it was called (see handing).
	handover func()
	// queueDomain is the ordering domain in queue mode: what this consumer
	// sees of the queue.
	queueDomain string

	// state lets Run acknowledge without the broker lock while Close and
	// rebalances, which hold it, take the batch back. It holds the index of
	// the first batch entry not yet acknowledged, handlerBit while the
	// handler has that entry, and the closed and revoke requests; Run
	// advances it by compare-and-swap, which fails once a request is set.
	state atomic.Uint64
	// wake has room for one signal, so a wake-up is never lost nor blocks.
	wake chan struct{}

	// Guarded by Broker.mu. batch and returned are written by Run only.
	running, closed, waiting bool
	owned                    []int // lanes assigned to this consumer
	holding                  []int // lanes with entries in batch
	batch                    []entry
	// handing are lanes this consumer still holds but no longer owns: it
	// delivered from them, and releases them once handover was called.
	handing []int
	// returned counts batch entries rejected and already put back, which
	// are neither acknowledged nor to be put back again.
	returned int
	// returnedBytes is their entryCost, which giveBack does not take off
	// the backlog.
	returnedBytes int64
	rot           int // first owned lane the next fetch looks at
}

func (c *consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// why Run stopped handing out a batch.
type stop uint8

const (
	stopDone        stop = iota // every entry acknowledged or given back
	stopCtx                     // the context ended before entry i
	stopInterrupted             // Close or a revoke: entries before i acknowledged
	stopFailed                  // the handler failed on entry i
)

// Run delivers until ctx ends (returning nil), Close is called (nil), the
// handler returns an error other than broker.ErrReject (that error), or the
// consumer cannot start.
func (c *consumer) Run(ctx context.Context, h broker.Handler) error {
	if h == nil {
		return fmt.Errorf("memory broker: run consumer %d: nil handler", c.id)
	}
	b := c.b
	b.mu.Lock()
	ns, err := b.join(c)
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("memory broker: run consumer %d of subscription %d: %w", c.id, c.sub.index, err)
	}
	sendNotices(ns)

	done := ctx.Done()
	var d broker.Delivery
	for {
		b.mu.Lock()
		c.waiting = false
		if c.closed {
			b.mu.Unlock()
			return nil
		}
		if len(c.handing) > 0 || ctx.Err() != nil {
			// Partitions this consumer gives up (all of them when it
			// stops) move on once its handover was called.
			if !c.handOver() {
				return nil
			}
			if ctx.Err() != nil {
				ns := b.leave(c)
				b.mu.Unlock()
				sendNotices(ns)
				return nil
			}
		}
		if !b.fetch(c) {
			c.waiting = true
			b.mu.Unlock()
			select {
			case <-c.wake:
			case <-done:
			}
			continue
		}
		b.mu.Unlock()

		i, why, herr := c.deliver(done, h, &d)

		b.mu.Lock()
		if c.closed {
			// Close took the batch back, the entry in the handler included.
			b.mu.Unlock()
			return nil
		}
		b.settle(c, i, why == stopFailed)
		if why != stopFailed {
			b.mu.Unlock()
			continue
		}
		if !c.handOver() {
			return fmt.Errorf("memory broker: consumer %d of subscription %d: handler: %w", c.id, c.sub.index, herr)
		}
		ns := b.leave(c)
		b.mu.Unlock()
		sendNotices(ns)
		return fmt.Errorf("memory broker: consumer %d of subscription %d: handler: %w", c.id, c.sub.index, herr)
	}
}

// handOver calls the handover hook without the broker lock, then releases
// the lanes it was waiting for. Called by Run with b.mu held, which it
// holds again on return; false (lock released) when Close came meanwhile.
func (c *consumer) handOver() bool {
	b := c.b
	if c.handover != nil {
		b.mu.Unlock()
		c.handover()
		b.mu.Lock()
	}
	if c.closed {
		b.mu.Unlock()
		return false
	}
	b.release(c)
	return true
}

// release lets go of the lanes c was handing over. Called with b.mu held.
func (b *Broker) release(c *consumer) {
	if len(c.handing) == 0 {
		return
	}
	s := c.sub
	for _, l := range c.handing {
		if s.lanes[l].holder == c {
			s.lanes[l].holder = nil
		}
	}
	c.handing = c.handing[:0]
	s.wakeWaiting()
}

// deliver hands the batch to h, one entry at a time, acknowledging each on a
// nil return. It reads the batch without the broker lock: only Run writes it.
func (c *consumer) deliver(done <-chan struct{}, h broker.Handler, d *broker.Delivery) (int, stop, error) {
	for i := 0; i < len(c.batch); i++ {
		select {
		case <-done:
			return i, stopCtx, nil
		default:
		}
		if !c.state.CompareAndSwap(uint64(i), uint64(i)|handlerBit) {
			return i, stopInterrupted, nil
		}
		e := &c.batch[i]
		d.Payload, d.Redelivered = e.payload, e.redelivered
		if c.sub.queue {
			// The domain is this consumer's view of the queue, where a
			// log index would not be unique: no position, as AMQP
			// queues give none.
			d.Domain, d.HasPosition = c.queueDomain, false
		} else {
			d.Domain, d.Position, d.HasPosition = c.b.domains[e.lane], e.pos, true
		}
		err := h(d)
		switch {
		case err == nil:
			if !c.state.CompareAndSwap(uint64(i)|handlerBit, uint64(i+1)) {
				return i + 1, stopInterrupted, nil
			}
		case errors.Is(err, broker.ErrReject):
			if !c.b.reject(c, i) {
				return i, stopInterrupted, nil
			}
		default:
			return i, stopFailed, err
		}
	}
	return len(c.batch), stopDone, nil
}

// fetch fills c's empty batch. Called with b.mu held.
func (b *Broker) fetch(c *consumer) bool {
	s := c.sub
	if s.queue {
		q := &s.lanes[0].q
		for q.len() > 0 && (len(c.batch) < maxInFlight || c.batch[len(c.batch)-1].glue) {
			c.batch = append(c.batch, q.popFront())
		}
		return len(c.batch) > 0
	}
	k := len(c.owned)
	// Start at a rotating lane so a busy partition cannot starve the others.
	for j := 0; j < k && len(c.batch) < maxInFlight; j++ {
		l := c.owned[(c.rot+j)%k]
		ln := &s.lanes[l]
		if ln.holder != nil || ln.q.len() == 0 {
			continue
		}
		for ln.q.len() > 0 && len(c.batch) < maxInFlight {
			c.batch = append(c.batch, ln.q.popFront())
		}
		ln.holder = c
		c.holding = append(c.holding, l)
	}
	c.rot++
	return len(c.batch) > 0
}

// reject puts entry i back at the front of its lane, flagged, and lets the
// consumer go on with its batch: only the rejected message is redelivered,
// as a requeueing nack does. In partitioned mode the lane is still held, so
// the redelivery comes after the rest of the batch, and first deliveries
// stay in order. It returns false when Close got there first.
func (b *Broker) reject(c *consumer, i int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.closed {
		return false
	}
	e := c.batch[i]
	e.redelivered = true
	c.sub.lanes[e.lane].q.pushFront(e)
	c.returned++
	c.returnedBytes += entryCost(&e)
	if c.sub.queue {
		c.sub.wakeWaiting()
	}
	// Keep a revoke request: the next compare-and-swap must see it.
	c.state.Store(uint64(i+1) | c.state.Load()&revokeBit)
	return true
}

// settle ends Run's batch: entries before upto are acknowledged (or were
// rejected and put back), the others go back to their lanes. flagFirst marks
// entry upto as seen by the handler, so it comes back flagged redelivered.
// Called by Run with b.mu held.
func (b *Broker) settle(c *consumer, upto int, flagFirst bool) {
	b.giveBack(c, upto, flagFirst)
	clear(c.batch)
	c.batch = c.batch[:0]
	c.returned, c.returnedBytes = 0, 0
	// Nobody else writes state while b.mu is held and c is not closed.
	c.state.Store(0)
}

// giveBack acknowledges batch entries before upto and puts the others back
// at the front of their lanes, in order, with the entry at upto flagged
// redelivered when flagFirst is set. It only reads the batch, so Close can
// call it while Run is still in the handler. Called with b.mu held.
func (b *Broker) giveBack(c *consumer, upto int, flagFirst bool) {
	s := c.sub
	s.backlog -= int64(upto - c.returned)
	acked := -c.returnedBytes
	for i := range c.batch[:upto] {
		acked += entryCost(&c.batch[i])
	}
	s.queued.Add(-acked)
	b.makeRoom()
	rest := c.batch[upto:]
	for i := len(rest) - 1; i >= 0; i-- {
		e := rest[i]
		if i == 0 && flagFirst {
			e.redelivered = true
		}
		s.lanes[e.lane].q.pushFront(e)
	}
	for _, l := range c.holding {
		ln := &s.lanes[l]
		switch {
		case ln.holder != c:
		case ln.owner != c && c.handover != nil && !c.closed:
			// Lost to a rebalance: it moves on after the handover.
			c.handing = append(c.handing, l)
		default:
			ln.holder = nil
		}
	}
	c.holding = c.holding[:0]
	s.wakeWaiting()
}

// Close gives the consumer's unacknowledged deliveries back at once, the one
// in the handler included (flagged redelivered: it may have been processed,
// as when a client crashes before its ack), and makes Run return. It does not
// wait for Run, so a handler may call it.
func (c *consumer) Close() error {
	b := c.b
	b.mu.Lock()
	if c.closed {
		b.mu.Unlock()
		return nil
	}
	c.closed = true
	st := c.state.Or(closedBit)
	var ns []notice
	if c.running {
		b.giveBack(c, int(st&indexMask), st&handlerBit != 0)
		b.release(c)
		ns = b.leave(c)
	}
	c.signal()
	b.mu.Unlock()
	sendNotices(ns)
	return nil
}
