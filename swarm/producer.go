package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
)

// producer is one publishing worker. Its loop goroutine paces and publishes;
// the driver calls complete (serialized per producer) for each outcome. Each
// side fills its own batch, so neither takes a lock per message.
//
// Its fields sit on 64-byte lines by who touches them at each message (a
// struct of 384 bytes, a size class whose objects start on a line;
// TestProducerLayout keeps it so): lines 0 to 2 are read by both sides
// and written by neither, line 4 is written by the loop goroutine alone
// and line 5 by the completion side alone. Each side's writes at each
// message on a line the other read moved it between two cores at every
// publish and every completion (a tenth of a closed-loop 100-byte Kafka
// run's CPU on a 2-core host). A fleet's producer, cold at each of its
// sends, touches lines 0, 1, 2, 4 and 5: padding each side's fields apart
// instead made it touch more, and cost 10,000 paced producers about
// 0.5 µs a message.
type producer struct {
	// Line 0.
	id    int
	cfg   *Config
	drv   broker.Producer // replaced by a crash, in the loop goroutine only
	clock Clock
	enc   *message.Encoder
	pool  *msgPool // the in-flight bound and the reusable messages in one

	// Line 1: a crash's wanted and wake are read at each send.
	crash crashRequest

	// Line 2.
	out  *outcomes
	col  *Collector
	keys [][]byte
	d    broker.Driver
	// sentTo is where sample records the exact send times: &sent, or a
	// lane's batch, which the lane's producers share (10,000 producers'
	// batches of two or three samples each cost an allocation, page
	// faults and a hand-over per producer).
	sentTo **batch

	// Line 3: seldom touched.
	opts broker.ProducerOptions
	// scratch is the one payload buffer of a driver that copies payloads
	// at Publish (broker.PayloadCopier); nil: a buffer per message.
	scratch []byte
	// sent is the producer's batch of exact send times, owned by the
	// loop goroutine and taken on first use.
	sent *batch

	// Line 4: the loop goroutine's.
	err error
	// sentNext is the next seq: every one from Config.StartSeq below it
	// was handed to the driver. The collector reads it and records the
	// sends as a range, so the publishing loop hands over no event per
	// message.
	sentNext atomic.Uint64
	// last is the last message published and when it was meant to go:
	// finish records it as an exact sample, so the checker dates the
	// last slot of sends from it.
	last     uint64
	lastTime int64
	_        [24]byte

	// Line 5: the completion side's.
	//
	// completed counts outcomes as they happen, for a live in-flight figure
	// that does not wait for the outcome batch to be handed over.
	completed atomic.Uint64
	// failed and indet count the outcomes other than acked, live: acked is
	// completed minus them, so the happy path adds no atomic of its own.
	failed  atomic.Uint64
	indet   atomic.Uint64
	aborted atomic.Uint64
	// sentSeen is sentNext as complete last read it: a completion below
	// it is not the last in flight, with no read of the loop's line.
	sentSeen uint64
	_        [24]byte
}

// outcomes is the batch completions are recorded into, handed over when
// full or old (batch.full): a producer's own, which takes no lock (the
// driver never overlaps one producer's completions), or, in a fleet
// (fleetProducers or more), one of a few shared under mu. A batch of its
// own each, 1,000 producers at 20 messages a second each handed the
// collector thousands of batches of a few outcomes a second, each outcome
// written into memory no cache still held (a tenth of the swarm's CPU);
// and 1,000 closed-loop producers filling a batch each held 73 MB of
// outcomes (about 70 bytes each) while the checker caught up. Now at
// most max(fleetProducers, two a core) batches of batchSize fill at once,
// whatever the number of producers.
type outcomes struct {
	mu     sync.Mutex
	shared bool
	b      *batch
}

// sharedOutcomes returns the batches a fleet of n producers shares,
// producer i recording into the (i mod len)-th; nil when n is no fleet.
// Two a core: few enough that each fills whole batches (the collector
// hands back a batch that size, instead of one that grows again), and
// enough that completions on different cores seldom wait for one another.
func sharedOutcomes(n int, col *Collector) []*outcomes {
	if n < fleetProducers {
		return nil
	}
	outs := make([]*outcomes, 2*runtime.GOMAXPROCS(0))
	for i := range outs {
		outs[i] = &outcomes{shared: true, b: col.getBatch()}
	}
	return outs
}

// lock locks a shared batch.
func (o *outcomes) lock() {
	if o.shared {
		o.mu.Lock()
	}
}

func (o *outcomes) unlock() {
	if o.shared {
		o.mu.Unlock()
	}
}

// noneSent marks a producer that has published nothing.
const noneSent = ^uint64(0)

// newProducer makes producer id; out is the batch of outcomes it shares,
// nil for one of its own.
func newProducer(ctx context.Context, id int, cfg *Config, d broker.Driver, col *Collector, notify func(broker.Notice), out *outcomes) (*producer, error) {
	if out == nil {
		out = &outcomes{b: col.getBatch()}
	}
	p := &producer{id: id, cfg: cfg, d: d, col: col, clock: cfg.Clock, out: out,
		crash: newCrashRequest(), last: noneSent}
	p.sentTo = &p.sent
	p.sentNext.Store(cfg.StartSeq)
	var err error
	p.enc, err = message.NewEncoder(cfg.RunID, uint32(id), cfg.MessageSize, cfg.Seed+int64(id))
	if err != nil {
		return nil, fmt.Errorf("producer %d: %w", id, err)
	}
	p.enc.SetHeaderOnly(cfg.HeaderOnly)
	p.pool = newMsgPool(cfg.MaxInFlight, func() *broker.Message {
		m := &broker.Message{Producer: id}
		if p.scratch != nil {
			// The driver copies at Publish: every message is built in
			// the one buffer (broker.PayloadCopier).
			m.Payload = p.scratch
			m.PaddingCRC = p.enc.PaddingCRC(p.scratch)
			return m
		}
		if cfg.Text {
			m.Payload = p.enc.NewTextBuffer()
		} else {
			m.Payload = p.enc.NewBuffer()
			m.PaddingCRC = p.enc.PaddingCRC(m.Payload)
		}
		return m
	})
	if cfg.Keys > 0 {
		p.keys = make([][]byte, cfg.Keys)
		for i := range p.keys {
			p.keys[i] = []byte("k" + strconv.Itoa(i))
		}
	}
	p.opts = broker.ProducerOptions{ID: id, OnComplete: p.complete, OnCompleteBatch: p.completeBatch, Notify: notify}
	p.drv, err = d.NewProducer(ctx, p.opts)
	if err != nil {
		return nil, fmt.Errorf("creating producer %d: %w", id, err)
	}
	// Messages are made once the driver's producer exists (the pool makes
	// them as the loop needs them).
	if c, ok := p.drv.(broker.PayloadCopier); ok && c.CopiesPayload() && !cfg.Text {
		p.scratch = p.enc.NewBuffer()
	}
	return p, nil
}

// complete records one outcome. Publish latency is measured from the
// intended send time, so a stalled broker shows as latency (no coordinated
// omission), in the histogram of its outcome; an acked one also records
// what the broker cost, from the actual send.
func (p *producer) complete(m *broker.Message, o broker.Outcome, _ error) {
	now := p.clock.Now()
	p.out.lock()
	p.outcome(m, o, now)
	p.out.unlock()
	done := p.completed.Add(1)
	// The last message in flight completed: no later completion will
	// hand the returns over, so hand them over now. A driver that
	// completes in bursts from inside Publish (a transaction ending)
	// would otherwise strand up to a batch of them while the publishing
	// loop waits for messages.
	p.pool.put(m, p.lastInFlight(done))
}

// lastInFlight says whether done completions are all that was sent.
// sentNext only grows while messages are in flight (a failed Publish
// takes back its one send, then the loop stops), so a completion count
// below its last reading needs no new one: the loop's line is read once a
// window, not once a message.
func (p *producer) lastInFlight(done uint64) bool {
	if done < p.sentSeen {
		return false
	}
	p.sentSeen = p.sentNext.Load() - p.cfg.StartSeq
	return done >= p.sentSeen
}

// completeBatch records one outcome for messages the broker answered
// together, all at one reading of the clock: a clock read per message was
// a tenth of the swarm's CPU on core NATS, whose flush confirms hundreds
// at once.
func (p *producer) completeBatch(ms []*broker.Message, o broker.Outcome, _ error) {
	if len(ms) == 0 {
		return
	}
	now := p.clock.Now()
	p.out.lock()
	for _, m := range ms {
		p.outcome(m, o, now)
	}
	p.out.unlock()
	last := len(ms) - 1
	for _, m := range ms[:last] {
		p.pool.put(m, false)
	}
	done := p.completed.Add(uint64(len(ms)))
	p.pool.put(ms[last], p.lastInFlight(done))
}

// outcome records m's outcome, which came at now, into the completion
// side's batch, locked when shared.
func (p *producer) outcome(m *broker.Message, o broker.Outcome, now int64) {
	b := p.out.b
	if b.started == 0 {
		b.started = now
	}
	kind := checker.Indeterminate
	lat := (now - m.Intended) / 1e3
	switch o {
	case broker.Acked:
		kind = checker.Acked
		b.acked++
		if b.firstAck == 0 {
			b.firstAck = now
		}
		b.lat[PublishAcked] = append(b.lat[PublishAcked], lat)
		b.lat[SendToAck] = append(b.lat[SendToAck], (now-m.Sent)/1e3)
	case broker.Failed:
		kind = checker.Failed
		b.failed++
		b.lat[PublishFailed] = append(b.lat[PublishFailed], lat)
		p.failed.Add(1)
	case broker.Aborted:
		kind = checker.Aborted
		b.aborted++
		b.lat[PublishAborted] = append(b.lat[PublishAborted], lat)
		p.aborted.Add(1)
	default:
		b.indet++
		b.lat[PublishIndeterminate] = append(b.lat[PublishIndeterminate], lat)
		p.indet.Add(1)
	}
	txn := txnNumber(m.Txn)
	if kind != checker.Acked || !b.mergeAck(uint32(m.Producer), m.Seq, txn, now) {
		b.events = append(b.events, checker.Event{Kind: kind, Producer: uint32(m.Producer), Seq: m.Seq, At: now, Txn: txn})
	}
	if b.full(now) {
		p.out.b = p.col.handOver(b)
	}
}

// ackMergeWithin is how far apart in time consecutive acks may come and
// still be one event, dated at the first: the checker keeps ack times to
// the millisecond (they date losses), and a broker answers a batch of
// records together, so its acks come microseconds apart.
const ackMergeWithin = int64(time.Millisecond)

// mergeAck folds an ack of seq into the batch's last event when that is an
// ack of the numbers just below it, of the same producer and transaction,
// dated at most ackMergeWithin before now. An event per ack was most of
// what the checker did for a producer-only run: a broker acks records in
// batches of consecutive numbers, and a range is one set insert.
func (b *batch) mergeAck(producer uint32, seq uint64, txn uint32, now int64) bool {
	n := len(b.events)
	if n == 0 {
		return false
	}
	e := &b.events[n-1]
	count := uint64(max(e.Count, 1))
	if e.Kind != checker.Acked || e.Producer != producer || e.Txn != txn || e.Seq+count != seq ||
		now-e.At > ackMergeWithin || now < e.At || count == math.MaxUint32 {
		return false
	}
	e.Count = uint32(count + 1)
	b.merged++
	return true
}

// run publishes until ctx ends or the load is over, then flushes and
// closes the driver's producer so that every message has an outcome.
//
// With a pacer, every send the load intends (due before its end) is made,
// late if need be (its latency counts from when it was due; a send due
// just before the end may go just after it), or, when the load ends while
// every in-flight slot is taken (a stalled broker), counted not sent with
// its latency so far: from when it was due to the end.
func (p *producer) run(ctx context.Context, load *loadSpan, flush *flushContexts) {
	p.runFrom(ctx, load, flush, p.cfg.StartSeq, 0)
}

// runFrom is run from seq on, the sends before it made (by a lane: see
// lane.go); now is the clock's last reading taken for this producer, or 0.
func (p *producer) runFrom(ctx context.Context, load *loadSpan, flush *flushContexts, seq uint64, now int64) {
	defer func() { p.finish(flush.get()) }()
	pacer := p.cfg.Pacer
	// Hits are numbered across producers: producer i makes i, i+P, ...,
	// so producers start staggered and never publish in the same instant.
	stride := p.cfg.producerStride()
	w := p.clock.NewWaiter()
	start := load.start.Load()
	// Sequence numbers start at StartSeq (a test starts them near 2^32);
	// the pacer counts this producer's sends from 0.
	first := p.cfg.StartSeq
	defer func() { stopped(load, p.clock.Now()) }()
	// now is the clock's last reading in this loop, at most as late as
	// the true time: a send due by it is due, and only a send that looks
	// early reads the clock before its send time. Each send reads the
	// clock once for its send time (twice when it first sleeps).
	for ; ; seq++ {
		end := load.end.Load()
		var intended int64
		if pacer != nil {
			due, ok := pacer.Due(uint64(p.id) + (seq-first)*stride)
			if !ok || start+int64(due) >= end {
				return
			}
			intended = start + int64(due)
		}
		// Closed loop, the last send's reading is a moment old: a wait for
		// a free message starts from it (one clock read per send).
		var fresh int64
		if pacer == nil {
			fresh = now
		}
		m := p.getMessage(ctx, w, end, fresh)
		if m == nil {
			p.notSent(load, seq-first, min(p.clock.Now(), load.end.Load()))
			return
		}
		if pacer != nil && intended > now {
			var wake Wake
			switch wake, now = w.Until(ctx, intended, load.stop, nil); wake {
			case Ended:
				p.pool.unget(m)
				p.notSent(load, seq-first, min(p.clock.Now(), load.end.Load()))
				return
			case WokeA:
				// The load was ended early: this send is due after
				// the new end, or it is due now.
				if intended >= load.end.Load() {
					p.pool.unget(m)
					return
				}
				now = p.clock.Now()
			}
		} else {
			now = p.clock.Now()
		}
		if pacer == nil {
			if now >= load.end.Load() {
				p.pool.unget(m)
				return
			}
			intended = now
		}
		if !p.publish(ctx, load, m, seq, intended, now) {
			return
		}
	}
}

// publish sends m as seq, due at intended and sent at now. false: Publish
// failed, and the producer stops (its error kept unless the run was
// ending; this send and the rest of its load counted not sent).
func (p *producer) publish(ctx context.Context, load *loadSpan, m *broker.Message, seq uint64, intended, now int64) bool {
	m.Seq, m.Intended, m.Sent, m.Txn = seq, intended, now, 0
	if p.keys != nil {
		m.Key = p.keys[(seq+uint64(p.id))%uint64(len(p.keys))]
	}
	if p.cfg.Text {
		p.enc.EncodeText(m.Payload, seq, intended, now)
	} else {
		p.enc.EncodeWithPadding(m.Payload, m.PaddingCRC, seq, intended, now)
	}
	// Sent is recorded before Publish (a completion or even a delivery
	// can come back before Publish returns) and taken back if it fails.
	p.sentNext.Store(seq + 1)
	if err := p.drv.Publish(ctx, m); err != nil {
		p.sentNext.Store(seq)
		p.pool.unget(m)
		if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			p.err = fmt.Errorf("producer %d: publishing seq %d: %w", p.id, seq, err)
		}
		p.notSent(load, seq-p.cfg.StartSeq, min(p.clock.Now(), load.end.Load()))
		return false
	}
	p.last, p.lastTime = seq, intended
	if seq&(1<<10-1) == 0 || seq == p.cfg.StartSeq {
		// The exact send time of every 1024th message and of the
		// first (and, in finish, the last) dates evidence.
		p.sample(seq, intended, now)
	}
	return true
}

// sample hands the checker the exact send time of seq. Called by the loop
// goroutine only.
func (p *producer) sample(seq uint64, intended, now int64) {
	b := *p.sentTo
	if b == nil {
		b = p.col.getBatch()
		*p.sentTo = b
	}
	if b.started == 0 {
		b.started = now
	}
	b.events = append(b.events, checker.Event{Kind: checker.Sent, Producer: uint32(p.id), Seq: seq, At: intended})
	if b.full(now) {
		*p.sentTo = p.col.handOver(b)
	}
}

// sampleLast records the exact send time of the last message published,
// once: the checker dates the last slot of sends from it.
func (p *producer) sampleLast() {
	if p.last != noneSent {
		p.sample(p.last, p.lastTime, p.clock.Now())
		p.last = noneSent
	}
}

// stopped records when a producer stopped publishing: the load's true end
// is the latest.
func stopped(load *loadSpan, now int64) {
	for {
		prev := load.stopped.Load()
		if now <= prev || load.stopped.CompareAndSwap(prev, now) {
			return
		}
	}
}

// notSent counts this producer's sends from its n-th on that were due before
// until and never made, each with its latency so far (due to until), and
// hands them to the collector. Closed loop intends nothing.
func (p *producer) notSent(load *loadSpan, n0 uint64, until int64) {
	pacer := p.cfg.Pacer
	start := load.start.Load()
	if pacer == nil || until <= start {
		return
	}
	stride := p.cfg.producerStride()
	hits := pacer.Hits(time.Duration(until - start)) // due before until, every producer's
	first := uint64(p.id) + n0*stride
	if hits <= first {
		return
	}
	h := NewHistogram()
	var n uint64
	for hit := first; hit < hits; hit += stride {
		due, _ := pacer.Due(hit)
		record(h, (until-start-int64(due))/1e3)
		n++
	}
	p.col.addNotSent(h, n)
}

// getMessage takes a free message, crashing the driver's producer first
// when a crash was asked for (also while waiting for one). nil: ctx ended,
// the load ended (at end, or EndLoad) while every message was in flight, or
// a crash left no producer to publish with.
//
// now, when not 0, is a reading of the clock just taken (see msgPool.get).
func (p *producer) getMessage(ctx context.Context, w Waiter, end, now int64) *broker.Message {
	for {
		if p.crash.wanted.Load() {
			if !p.crashNow(ctx) {
				return nil
			}
			now = 0 // as old as the crash took
		}
		m, interrupted := p.pool.get(ctx, w, end, now, p.crash.wake)
		if m != nil || !interrupted {
			return m
		}
	}
}

// crashNow closes the driver's producer with what it has in flight (the
// driver completes those as indeterminate) and opens a new one for the same
// producer id; sequence numbers go on. It runs in the loop goroutine, so
// Publish never meets a closed producer, and the old producer's completions
// are all done before the new one's can start.
func (p *producer) crashNow(ctx context.Context) bool {
	closeErr := p.drv.Close()
	if closeErr != nil {
		closeErr = fmt.Errorf("crashing producer %d: %w", p.id, closeErr)
	}
	np, err := p.d.NewProducer(ctx, p.opts)
	if err != nil {
		p.drv = nil
		p.err = fmt.Errorf("producer %d: starting again after a crash: %w", p.id, err)
		p.crash.answer(errors.Join(closeErr, p.err))
		return false
	}
	p.drv = np
	p.crash.answer(closeErr)
	return true
}

func (p *producer) finish(fctx context.Context) {
	defer p.crash.end()
	p.sampleLast()
	if p.sent != nil {
		p.col.add(p.sent)
		p.sent = nil
	}
	if p.drv == nil {
		// A crash could not start a new producer: nothing is in flight.
		p.addOutcomes()
		return
	}
	_ = p.drv.Flush(fctx) // what does not complete in time is completed as indeterminate by Close
	if err := p.drv.Close(); err != nil && p.err == nil {
		p.err = fmt.Errorf("closing producer %d: %w", p.id, err)
	}
	// Close has completed everything: no more calls to complete.
	p.addOutcomes()
}

// addOutcomes hands the collector the producer's batch of outcomes once
// it has all of them; a shared one is the swarm's to hand over, once
// every producer sharing it finished.
func (p *producer) addOutcomes() {
	if !p.out.shared {
		p.col.add(p.out.b)
		p.out.b = nil
	}
}

// txnNumber fits a driver's transaction number into the checker's event,
// saturating: past 2^32 transactions of one producer evidence stops naming
// them apart.
func txnNumber(n uint64) uint32 { return uint32(min(n, 1<<32-1)) }

// ackedLive is how many publishes were acked so far, read live. Each
// counter is read once; a completion between the reads can make it one
// off for a moment, never wrap it.
func (p *producer) ackedLive() uint64 {
	bad := p.failed.Load() + p.indet.Load() + p.aborted.Load()
	done := p.completed.Load()
	if done < bad {
		return 0
	}
	return done - bad
}
