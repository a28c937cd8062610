package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

var (
	errProducerClosed = errors.New("producer closed")
	errClosedInFlight = errors.New("memory broker: producer closed before the publish was confirmed")
)

// Payload copies are carved from slabs, so storing a message costs no
// allocation; a slab lives until its last message is acknowledged
// everywhere. The broker's producers share one slab at a time, filled in
// the order messages arrive: a slab of each producer's own cost 10,000
// slow producers a slab apiece (zeroed, and a page fault or two each) for
// their first few messages, and each message was written into memory no
// cache still held. slabSize is small because a slab lives as long as its
// last message: with 64 KiB, 1,000 closed-loop producers pinned 68 MB of
// slabs for a backlog of 5 MB of lanes. Larger payloads get their own
// allocation.
const (
	slabSize       = 16 << 10
	maxSlabPayload = slabSize / 8
)

// pending is a publish waiting for its completion.
type pending struct {
	m   *broker.Message
	v   verdict
	due int64 // Broker.now() when the confirm is due; 0 for at once
}

type producer struct {
	b          *Broker
	id         int
	onComplete broker.Completion
	latency    time.Duration

	wake   chan struct{} // room for one signal: the queue became non-empty
	stop   chan struct{} // closed by Close
	exited chan struct{} // closed when the last completion is made after Close

	// completing says a completer has the producer (see schedule);
	// exitedClosed says exited was closed. Under mu.
	completing, exitedClosed bool

	mu     sync.Mutex
	closed bool
	rr     int // next partition for messages without a key
	// queue is what the completion goroutine has not taken yet; it swaps
	// it with spare, so steady state allocates nothing.
	queue, spare []pending
	inflight     int           // published and not yet completed
	drained      chan struct{} // closed when inflight drops to zero; nil when nobody waits

	// Guarded by Broker.mu, which tells from them whether the producer can
	// still send a successor for a held message.
	published int64
	flushedAt int64 // published when a Flush last found nothing in flight; -1 never
	done      bool  // closed
}

func (p *producer) finished() bool { return p.done || p.flushedAt == p.published }

// Publish stores a copy of m's payload and queues m's completion. It waits
// while the backlog is past Config.MaxBacklog (see admit).
func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	if m == nil {
		return fmt.Errorf("memory broker: publish on producer %d: nil message", p.id)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory broker: publish %d/%d: %w", m.Producer, m.Seq, err)
	}
	// Waiting with p.mu held would stall the producer's completions and
	// Close.
	if err := p.b.admit(ctx, p); err != nil {
		return fmt.Errorf("memory broker: publish %d/%d: %w", m.Producer, m.Seq, err)
	}
	// p.mu is held across arrive so that one producer's messages reach the
	// broker in the order their Publish calls were serialized.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("memory broker: publish %d/%d: %w", m.Producer, m.Seq, errProducerClosed)
	}
	lane := p.lane(m.Key)
	payload := m.Payload
	if len(payload) > maxSlabPayload {
		// Its own allocation, made here rather than under the broker's
		// lock, which every producer and consumer takes.
		payload = bytes.Clone(payload)
	}
	v, err := p.b.arrive(p, m.Producer, payload, lane)
	if err != nil {
		return fmt.Errorf("memory broker: publish %d/%d: %w", m.Producer, m.Seq, err)
	}
	var due int64
	if p.latency > 0 {
		due = p.b.now() + int64(p.latency)
	}
	p.queue = append(p.queue, pending{m: m, v: v, due: due})
	p.inflight++
	switch {
	case p.latency == 0:
		if !p.completing {
			p.completing = true
			p.b.schedule(p)
		}
	case len(p.queue) == 1:
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// CopiesPayload says that Publish copies the payload (into the producer's
// slab): the swarm may build every message in one buffer
// (broker.PayloadCopier).
func (p *producer) CopiesPayload() bool { return true }

// lane picks the partition: by key hash when there is a key, else the next
// one round-robin, which keeps each partition's share of one producer in
// sequence order. Called with p.mu held.
func (p *producer) lane(key []byte) int {
	n := p.b.cfg.Partitions
	if p.b.queue || n == 1 {
		return 0
	}
	if key != nil {
		// FNV-1a, inline: hash/fnv would allocate a hasher per message.
		h := uint32(2166136261)
		for _, c := range key {
			h ^= uint32(c)
			h *= 16777619
		}
		return int(h % uint32(n))
	}
	l := p.rr
	p.rr = (p.rr + 1) % n
	return l
}

// slabCopy copies src into the current slab, unless it is too large for
// slabs (Publish copied it already). Called with b.mu held.
func (b *Broker) slabCopy(src []byte) []byte {
	n := len(src)
	if n > maxSlabPayload {
		return src
	}
	if len(b.slab)+n > cap(b.slab) {
		b.slab = make([]byte, 0, slabSize)
	}
	off := len(b.slab)
	b.slab = append(b.slab, src...)
	// Capped, so that nobody appending to a payload writes into the next.
	return b.slab[off : off+n : off+n]
}

// Completions are made by a few goroutines shared by every producer of
// the broker (completers), or, with an ack latency, by a goroutine of the
// producer's own, which sleeps until each confirm is due. A goroutine per
// producer woken for each message cost 1,000 paced producers twice the
// CPU per message of one (the runtime's scheduler); a completer drains
// what each producer has queued, producer after producer, and the
// OnComplete calls of one producer never overlap because the producer is
// with one completer at a time (completing).

// completers bounds the goroutines that make completions.
var completers = max(2, runtime.GOMAXPROCS(0))

// schedule queues p for a completer, starting one if fewer run than
// completers. Called with p.mu held and p.completing just set.
func (b *Broker) schedule(p *producer) {
	b.cmu.Lock()
	if b.readyHead > 0 && len(b.ready) == cap(b.ready) {
		// Full, with room at the front: move down rather than grow.
		n := copy(b.ready, b.ready[b.readyHead:])
		clear(b.ready[n:])
		b.ready, b.readyHead = b.ready[:n], 0
	}
	b.ready = append(b.ready, p)
	start := b.completing < completers
	if start {
		b.completing++
	}
	b.cmu.Unlock()
	if start {
		go b.complete()
	}
}

// complete makes the queued producers' completions until none is queued.
func (b *Broker) complete() {
	for {
		b.cmu.Lock()
		if b.readyHead == len(b.ready) {
			b.ready, b.readyHead = b.ready[:0], 0
			b.completing--
			b.cmu.Unlock()
			return
		}
		p := b.ready[b.readyHead]
		b.ready[b.readyHead] = nil
		b.readyHead++
		b.cmu.Unlock()
		p.completeQueued()
	}
}

// completeQueued makes the completions p has queued, on a completer, then
// queues p again if more came meanwhile (behind the other producers
// queued), or lets it go.
func (p *producer) completeQueued() {
	batch, closing := p.take()
	for i := range batch {
		p.report(&batch[i], closing)
	}
	p.made(batch, true)
}

// take takes the queued completions, and whether the producer is closing
// (they are then completed as indeterminate).
func (p *producer) take() ([]pending, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := p.queue
	p.queue = p.spare[:0]
	return batch, p.closed
}

// made counts batch's completions as made; true when they were the last
// after Close (exited is then closed). On a completer (shared), it queues
// p again if more came meanwhile, behind the other producers queued, or
// lets p go.
func (p *producer) made(batch []pending, shared bool) bool {
	clear(batch) // drop the *Message references: the swarm reuses them
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spare = batch[:0]
	p.inflight -= len(batch)
	if p.inflight == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	if p.closed && len(p.queue) == 0 {
		p.closeExited()
		return true
	}
	if shared {
		if len(p.queue) > 0 {
			p.b.schedule(p)
		} else {
			p.completing = false
		}
	}
	return false
}

// closeExited closes exited once. Called with p.mu held.
func (p *producer) closeExited() {
	if !p.exitedClosed {
		p.exitedClosed = true
		close(p.exited)
	}
}

// complete runs on the producer's own completion goroutine (with an ack
// latency): one per producer rather than one per message, sleeping until
// each confirm is due.
func (p *producer) complete() {
	var timer *time.Timer
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.closed {
			p.mu.Unlock()
			select {
			case <-p.wake:
			case <-p.stop:
			}
			p.mu.Lock()
		}
		p.mu.Unlock()
		batch, closing := p.take()
		for i := range batch {
			pd := &batch[i]
			if !closing && pd.due > 0 {
				if timer == nil {
					timer = time.NewTimer(time.Hour)
				}
				closing = !p.sleepUntil(pd.due, timer)
			}
			p.report(pd, closing)
		}
		if p.made(batch, false) {
			if timer != nil {
				timer.Stop()
			}
			return
		}
	}
}

// sleepUntil waits for the confirm's due time; false means Close came first.
func (p *producer) sleepUntil(due int64, timer *time.Timer) bool {
	d := time.Duration(due - p.b.now())
	if d <= 0 {
		return true
	}
	timer.Reset(d)
	select {
	case <-timer.C:
		return true
	case <-p.stop:
		timer.Stop()
		return false
	}
}

// report calls OnComplete, counting the outcome faults only when the
// producer is told the injected outcome: a phantom completed as
// indeterminate by Close is no phantom for the checker.
func (p *producer) report(pd *pending, closing bool) {
	o, err := pd.v.outcome, pd.v.err
	if closing && o != broker.Indeterminate {
		o, err = broker.Indeterminate, errClosedInFlight
	}
	switch k := pd.v.kind; k {
	case faultWithholdAckDelivered, faultWithholdAckDropped:
		p.b.injected[k].Add(1)
	case faultReject, faultPhantom:
		if o == broker.Failed {
			p.b.injected[k].Add(1)
		}
	}
	p.onComplete(pd.m, o, err)
}

// Flush waits until every message published so far is completed. A producer
// flushed with nothing published since is finished: Backlog then releases
// its held messages, since no successor can come.
func (p *producer) Flush(ctx context.Context) error {
	for {
		p.mu.Lock()
		if p.inflight == 0 {
			published := p.published // written under p.mu too, by Publish
			p.mu.Unlock()
			p.b.mu.Lock()
			p.flushedAt = published
			p.b.mu.Unlock()
			return nil
		}
		if p.drained == nil {
			p.drained = make(chan struct{})
		}
		ch := p.drained
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("memory broker: flush producer %d: %w", p.id, ctx.Err())
		}
	}
}

// Close refuses further publishes, completes what is in flight as
// Indeterminate, and releases the producer's held messages. It waits for the
// completion goroutine, so it must not be called from OnComplete.
func (p *producer) Close() error {
	p.shutdown()
	<-p.exited
	return nil
}

// shutdown starts Close without waiting, for Broker.Close to bound the wait.
func (p *producer) shutdown() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	if p.latency == 0 && !p.completing {
		// No completer has it: complete what is queued as
		// indeterminate, or say it is done.
		if len(p.queue) > 0 {
			p.completing = true
			p.b.schedule(p)
		} else {
			p.closeExited()
		}
	}
	p.mu.Unlock()

	b := p.b
	b.mu.Lock()
	p.done = true
	b.releaseHeld(false)
	b.mu.Unlock()
}
