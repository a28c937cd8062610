package swarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/message"
	"github.com/mqcheck/mqcheck/processing"
)

// consumer is one receiving worker: it decodes each delivery's header and
// hands the checker what it saw, with end-to-end latency.
type consumer struct {
	id    int
	sub   uint16
	runID uint64
	text  bool
	// failBelow: a first delivery whose failure hash is below it is failed
	// on purpose with failErr (0: none).
	failBelow uint64
	failSeed  uint64
	failErr   error
	drv       broker.Consumer // replaced by a crash, in run's goroutine only
	d         broker.Driver
	opts      broker.ConsumerOptions
	col       *Collector
	clock     Clock
	names     *checker.Names
	crash     crashRequest
	// store, when set, processes every clean delivery: proc is this
	// consumer process's processing (replaced by a crash), pctx the
	// context it runs under, crashPoint where a crash comes (a
	// processing.Point).
	store      processing.Store
	proc       processing.Processor
	pctx       context.Context
	crashPoint atomic.Uint32
	stats      *procStats
	// fetchedAt is the clock's reading for the broker's answer being
	// handled (Delivery.SameFetch); handle's goroutine only.
	fetchedAt int64

	mu       sync.Mutex // guards b between the handler and the flusher, and received
	b        *batch
	received uint64 // deliveries so far, for the fault meter (under mu: handle holds it anyway)
	// held names the delivery a crash came at (under mu): processed, not
	// acknowledged. "" when the consumer crashed idle.
	held    string
	domains map[string]uint32
	lastDom string
	lastID  uint32
	err     error
	done    chan struct{}
	// oneWay[w] is the least receipt time minus send time of a message
	// from worker w's producers (under mu), for the clock offsets between
	// workers (see OneWay); nil unless the run is split.
	oneWay   []int64
	workerOf []uint16 // producer id -> worker, with oneWay
	runMu    sync.Mutex
	stop     context.CancelFunc // of the driver's Run under way
}

func newConsumer(ctx context.Context, id int, sub int, cfg *Config, d broker.Driver, col *Collector, names *checker.Names,
	notify func(broker.Notice), stats *procStats) (*consumer, error) {
	c := &consumer{id: id, sub: uint16(sub), runID: cfg.RunID, text: cfg.Text, d: d, col: col, clock: cfg.Clock, names: names,
		b: col.getBatch(), domains: map[string]uint32{}, done: make(chan struct{}),
		failSeed: uint64(cfg.Seed), failErr: broker.ErrReject, crash: newCrashRequest(),
		store: cfg.Processing, stats: stats, pctx: context.WithoutCancel(ctx)}
	c.crashPoint.Store(uint32(processing.AfterEffect))
	if err := c.openProcessor(ctx); err != nil {
		return nil, err
	}
	if cfg.FailFraction > 0 {
		c.failBelow = uint64(cfg.FailFraction * (1 << 63) * 2)
	}
	if cfg.FailDeadLetter {
		c.failErr = broker.ErrDeadLetter
	}
	if sh := cfg.Share; sh != nil && sh.Workers > 1 {
		c.oneWay, c.workerOf = newOneWay(sh)
	}
	var err error
	// A domain this consumer gives up must not be delivered by its next
	// owner before this consumer's receipts of it reach the checker.
	c.opts = broker.ConsumerOptions{ID: id, Subscription: sub, Notify: notify, Handover: c.flush}
	c.drv, err = d.NewConsumer(ctx, c.opts)
	if err != nil {
		return nil, fmt.Errorf("creating consumer %d of subscription %d: %w", id, sub, err)
	}
	return c, nil
}

func (c *consumer) domain(name string) uint32 {
	if name == c.lastDom && c.lastDom != "" {
		return c.lastID
	}
	id, ok := c.domains[name]
	if !ok {
		id = c.names.Domain(c.sub, name)
		c.domains[name] = id
	}
	c.lastDom, c.lastID = name, id
	return id
}

func (c *consumer) handle(d *broker.Delivery) error {
	// One clock reading per answer of the broker (a Kafka poll of
	// thousands): every delivery in it was received when it came in, and
	// a reading per delivery was a twentieth of a verified Kafka run's CPU.
	// Processing reads it per delivery: its events are dated as they are
	// processed.
	now := c.fetchedAt
	if !d.SameFetch || now == 0 || c.proc != nil {
		now = c.clock.Now()
		c.fetchedAt = now
	}
	var h message.Header
	var err error
	if c.text {
		h, err = message.DecodeText(d.Payload)
	} else {
		h, err = message.Decode(d.Payload)
	}
	ev := checker.Event{Sub: c.sub, Redelivered: d.Redelivered, Producer: h.Producer, Seq: h.Seq, At: now,
		HasPosition: d.HasPosition, Position: d.Position, HeaderOnly: h.HeaderOnly}
	var ret error
	switch {
	case err != nil:
		ev.Kind, ev.Reason = classify(err)
	case h.RunID != c.runID:
		ev.Kind, ev.Reason = checker.Foreign, checker.OtherRun
	case d.DeadLettered:
		ev.Kind = checker.DeadLettered
	case c.failBelow > 0 && (!d.Redelivered || c.failErr == broker.ErrDeadLetter) && failHash(c.failSeed, h.Producer, h.Seq) < c.failBelow:
		// A simulated processing failure: the handler declines the message,
		// so it is not received; the broker redelivers or dead-letters it.
		// A failure for good (dead-letter) is a poison message: it fails on
		// every delivery, so a rejection the broker never got (the
		// connection died first) is made again. A requeued one is a
		// transient failure that the retry gets past.
		ev.Kind = checker.Rejected
		ret = c.failErr
	default:
		ev.Kind = checker.Received
		crash := c.crash.wanted.Load()
		if crash {
			// Processed, never acknowledged: the crash comes between.
			ret = errCrash
		}
		if c.proc != nil {
			// Before c.mu: a store that stalls (paused, unreachable)
			// must not hold up the flusher and the live readers.
			ret = c.process(&ev, crash)
		}
	}
	c.mu.Lock()
	b := c.b
	if b.started == 0 {
		b.started = now
	}
	ev.Domain = c.domain(d.Domain)
	if d.PositionDomain != "" {
		ev.PosDomain = c.domain(d.PositionDomain) + 1
	}
	if ev.Kind == checker.Received {
		b.delivered++
		if e2e := now - h.Intended; e2e >= 0 {
			b.lat[EndToEnd] = append(b.lat[EndToEnd], e2e/1e3)
		} else {
			b.negative++
		}
		c.received++
		if c.oneWay != nil && int(h.Producer) < len(c.workerOf) {
			if w := c.workerOf[h.Producer]; now-h.Sent < c.oneWay[w] {
				c.oneWay[w] = now - h.Sent
			}
		}
	}
	if ret == errCrash {
		c.held = fmt.Sprintf("producer %d seq %d (%s)", h.Producer, h.Seq, d.Domain)
	}
	b.events = append(b.events, ev)
	if b.full(now) {
		c.b = c.col.handOver(b)
	}
	c.mu.Unlock()
	return ret
}

// classify tells a payload that is no mqcheck message at all (a stray
// record on a shared topic: foreign, not an error) from an mqcheck message
// that was damaged (corrupted: it fails every claim).
func classify(err error) (checker.Kind, checker.Reason) {
	switch {
	case errors.Is(err, message.ErrTooShort):
		return checker.Foreign, checker.TooShort
	case errors.Is(err, message.ErrBadMagic):
		return checker.Foreign, checker.BadMagic
	case errors.Is(err, message.ErrVersion):
		return checker.Foreign, checker.UnknownVersion
	case errors.Is(err, message.ErrSize):
		return checker.Corrupted, checker.BadSize
	}
	return checker.Corrupted, checker.BadChecksum
}

// failHash spreads (producer, seq) uniformly (splitmix64), so the messages
// failed on purpose are the same for a seed whichever consumer gets them.
func failHash(seed uint64, producer uint32, seq uint64) uint64 {
	z := seed ^ uint64(producer)<<40 ^ seq + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// flush hands over a partly filled batch (the drain needs every receipt).
func (c *consumer) flush() {
	c.mu.Lock()
	if len(c.b.events) > 0 {
		c.b = c.col.handOver(c.b)
	}
	c.mu.Unlock()
}

func (c *consumer) run(ctx context.Context) {
	defer close(c.done)
	defer c.crash.end()
	c.pctx = ctx
	defer func() {
		if c.proc != nil {
			_ = c.proc.Close()
		}
	}()
	for {
		rctx, stop := context.WithCancel(ctx)
		c.runMu.Lock()
		c.stop = stop
		c.runMu.Unlock()
		err := c.drv.Run(rctx, c.handle)
		stop()
		if c.crash.wanted.Load() && ctx.Err() == nil {
			if !c.crashNow(ctx) {
				return
			}
			continue
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			c.err = fmt.Errorf("consumer %d: %w", c.id, err)
		}
		return
	}
}

// stopRun ends the driver's Run under way (a crash of an idle consumer).
func (c *consumer) stopRun() {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.stop != nil {
		c.stop()
	}
}

// crashNow crashes the driver's consumer and starts a new one in the same
// subscription, after Run returned.
func (c *consumer) crashNow(ctx context.Context) bool {
	c.flush()
	c.mu.Lock()
	held := c.held
	c.held = ""
	c.mu.Unlock()
	// What the crash held is the evidence for the duplicate it should
	// cause, and an idle crash is why there is none.
	what := fmt.Sprintf("consumer %d crashed holding %s, processed and not acknowledged (a broker that promises at-least-once delivers it again)", c.id, held)
	if held == "" {
		what = fmt.Sprintf("consumer %d crashed idle (no delivery within %s of the request): it held nothing to deliver again", c.id, idleCrashAfter)
	}
	if c.opts.Notify != nil {
		c.opts.Notify(broker.Notice{Kind: "consumer-crash", Detail: what, At: time.Now()})
	}
	var err error
	if cr, ok := c.drv.(broker.Crasher); ok {
		err = cr.Crash()
	} else {
		err = c.drv.Close()
	}
	if err != nil {
		err = fmt.Errorf("crashing consumer %d: %w", c.id, err)
	}
	nc, nerr := c.d.NewConsumer(ctx, c.opts)
	if nerr == nil {
		nerr = c.openProcessor(ctx)
	}
	if nerr != nil {
		c.err = fmt.Errorf("consumer %d: starting again after a crash: %w", c.id, nerr)
		c.crash.answer(errors.Join(err, c.err))
		return false
	}
	c.drv = nc
	c.crash.answer(err)
	return true
}

// receivedLive is how many deliveries c has had, read live.
func (c *consumer) receivedLive() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.received
}
