package swarm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
)

// Latency histograms hold microseconds from 1 µs to one hour at 3
// significant digits; longer values are clamped to the top.
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// NewHistogram returns a latency histogram with mqcheck's range and precision.
func NewHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// batchSize: workers hand over events in batches of this many, so the
// collector's lock is taken once per batch, not per message.
const batchSize = 1024

// freeMax bounds the batches kept for reuse: as many as the collector's
// queue holds, so a burst of hand-overs is met from it.
const freeMax = 256

// initialBatchCap is a new batch's room for events.
const initialBatchCap = 32

// batchAge: a batch older than this is handed over even if not full, so live
// figures stay fresh at low rates.
const batchAge = 250 * time.Millisecond

// Series is one latency histogram of a run (microseconds).
type Series int

// The latency series, by what they measure. Publish latencies count from
// the intended send time, one series per outcome; Publish, the headline,
// is all of them together, so it never leaves out the worst (the sends
// that timed out, or were never made).
const (
	Publish              Series = iota // every intended send, whatever became of it
	PublishAcked                       // intended → ack: what the user waits
	PublishFailed                      // intended → refusal
	PublishIndeterminate               // intended → timeout or lost connection
	PublishNotSent                     // intended → end of the load, never sent
	PublishAborted                     // intended → the broker confirmed the transaction aborted
	SendToAck                          // actual send → ack: what the broker costs
	EndToEnd                           // intended → received
	NumSeries
)

// String is the series' name in results.json.
func (s Series) String() string {
	switch s {
	case Publish:
		return "publish"
	case PublishAcked:
		return "publish_acked"
	case PublishFailed:
		return "publish_failed"
	case PublishIndeterminate:
		return "publish_indeterminate"
	case PublishNotSent:
		return "publish_not_sent"
	case PublishAborted:
		return "publish_aborted"
	case SendToAck:
		return "send_to_ack"
	case EndToEnd:
		return "end_to_end"
	}
	return "unknown"
}

// publishParts are the series the headline Publish is made of.
var publishParts = []Series{PublishAcked, PublishFailed, PublishIndeterminate, PublishNotSent, PublishAborted}

// Histograms holds one histogram per series.
type Histograms [NumSeries]*hdrhistogram.Histogram

func newHistograms() Histograms {
	var h Histograms
	for i := range h {
		h[i] = NewHistogram()
	}
	return h
}

// withHeadline fills Publish from its parts.
func (h *Histograms) withHeadline() {
	h[Publish] = NewHistogram()
	for _, s := range publishParts {
		h[Publish].Merge(h[s])
	}
}

// batch is what a worker hands the collector: checker events, plus the
// latencies (µs) measured with them.
type batch struct {
	events  []checker.Event
	lat     [NumSeries][]int64
	notSent *hdrhistogram.Histogram // intended sends never made, with their latency so far
	started int64                   // unix nanos of the first entry, for batchAge
	ack     chan struct{}           // a marker, not data: closed once everything before it is applied
	acked   uint64
	failed  uint64
	indet   uint64
	aborted uint64
	// delivered counts receipts; negative those whose receipt time came
	// before the intended send time (a clock problem: not in the
	// histogram, counted).
	delivered, negative uint64
	unsent              uint64
	firstAck            int64 // unix nanos of the batch's first Acked outcome
	// merged counts the outcomes folded into an event before them (acks
	// of consecutive numbers): the batch holds len(events)+merged entries.
	merged int
}

// entries is how many outcomes, receipts and samples b holds.
func (b *batch) entries() int { return len(b.events) + b.merged }

func (b *batch) reset() {
	b.events = b.events[:0]
	for i := range b.lat {
		b.lat[i] = b.lat[i][:0]
	}
	b.notSent = nil
	b.firstAck = 0
	b.started, b.acked, b.failed, b.indet, b.aborted, b.delivered, b.negative, b.unsent = 0, 0, 0, 0, 0, 0, 0, 0
	b.merged = 0
}

func (b *batch) full(now int64) bool {
	return b.entries() >= batchSize || (b.started != 0 && now-b.started > int64(batchAge))
}

// Totals are cumulative counts as the collector has seen them.
type Totals struct {
	Sent, Acked, Failed, Indeterminate, Received uint64
	// Aborted: publishes whose transaction the broker confirmed aborted.
	Aborted uint64
	// NotSent: intended sends of the load never made (see ProduceFrom).
	NotSent uint64
	// Negative: receipts dated before their intended send time, left out
	// of the end-to-end histogram.
	Negative uint64
	// InFlight: published and not completed, read live from the producers.
	InFlight uint64
	Live     checker.Live
}

// Interval is what happened since the previous call to Collector.Interval.
type Interval struct {
	Start, End time.Time
	// Latency has every series of the interval; Publish and EndToEnd are
	// two of them.
	Latency           Histograms
	Publish, EndToEnd *hdrhistogram.Histogram
	Delta             Totals // counts within the interval
	Totals            Totals // counts since the start
}

// Collector owns the checker and the latency histograms. Workers hand it
// batches; the run reads intervals and, at the end, the checker.
type Collector struct {
	mu       sync.Mutex
	check    *checker.Checker
	cur      Histograms // the open interval; its Publish stays empty
	all      Histograms // closed intervals, Publish included
	totals   Totals
	last     Totals
	lastTime time.Time
	applied  int
	firstAck int64
	// lastReceipt is the latest receipt time of a delivery (unix nanos on
	// the swarm's clock), for a consume-only run's rate.
	lastReceipt int64
	// free and freeBig hold batches for reuse, as grown, by size (see
	// bigBatch). Not sync.Pools: those empty at every GC, and the batches
	// made again grew again (their events and latencies re-appended from
	// initialBatchCap), a fifth of the heap a message cost in a run
	// against the memory broker, which in turn brought the next GC
	// sooner. Bounded: past freeMax each, a returned batch is left to the
	// GC.
	free, freeBig chan *batch

	// Workers hand batches to the collector's goroutine, so that folding
	// them into the checker never holds up a publishing loop or a
	// driver's completion goroutine.
	in      chan *batch
	done    chan struct{}
	closed  atomic.Bool
	closeMu sync.RWMutex

	// Producers report sends as a high-water mark, pulled before any read.
	sources  []*producer
	reported []uint64
	sinks    []*consumer // for Progress
}

// NewCollector returns a collector feeding c.
func NewCollector(c *checker.Checker) *Collector {
	col := &Collector{check: c, cur: newHistograms(), all: newHistograms(), lastTime: time.Now(),
		in: make(chan *batch, 256), done: make(chan struct{}), free: make(chan *batch, freeMax),
		freeBig: make(chan *batch, freeMax)}
	go col.loop()
	return col
}

func (c *Collector) loop() {
	defer close(c.done)
	for b := range c.in {
		if b.ack != nil {
			close(b.ack)
			continue
		}
		c.apply(b)
	}
}

// sync returns once every batch handed over before the call is applied,
// and the producers' sends are recorded.
func (c *Collector) sync() {
	// closeMu keeps Close from closing the channel between the check and
	// the send: readers (a metrics scrape) may run while the run ends.
	c.closeMu.RLock()
	if !c.closed.Load() {
		ack := make(chan struct{})
		c.in <- &batch{ack: ack}
		<-ack
	}
	c.closeMu.RUnlock()
	c.pullSent()
}

// reserve readies the checker's state of producers lo to hi-1
// (checker.Reserve).
func (c *Collector) reserve(lo, hi int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.check.Reserve(uint32(lo), uint32(hi))
}

// watch makes the collector record p's sends.
func (c *Collector) watch(p *producer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sources = append(c.sources, p)
	c.reported = append(c.reported, p.sentNext.Load())
}

// pullSent records, as one range per producer, what was sent since the last
// pull. A message is marked sent before it is published, so anything a
// consumer can have received is covered by the time its receipt is read.
func (c *Collector) pullSent() {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := clockNow()
	for i, p := range c.sources {
		next := p.sentNext.Load()
		if next <= c.reported[i] {
			continue
		}
		n := next - c.reported[i]
		c.check.Apply([]checker.Event{{Kind: checker.Sent, Producer: uint32(p.id), Seq: c.reported[i], Count: uint32(n), At: at}})
		c.totals.Sent += n
		c.reported[i] = next
	}
}

// watchConsumer makes Progress count c's deliveries.
func (c *Collector) watchConsumer(cs *consumer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sinks = append(c.sinks, cs)
}

// Progress returns how many publishes were acked and how many deliveries
// received so far, read live from the workers' counters: unlike Totals it
// does not wait for their batches, so a fault meter sampling it sees
// service stop and resume within its own sampling period.
func (c *Collector) Progress() (acked, received uint64) {
	c.mu.Lock()
	sources, sinks := c.sources, c.sinks
	c.mu.Unlock()
	for _, p := range sources {
		acked += p.ackedLive()
	}
	// Not under c.mu: a consumer holds its own lock while it hands a batch
	// to the collector, whose goroutine needs c.mu to take it.
	for _, cs := range sinks {
		received += cs.receivedLive()
	}
	return acked, received
}

// Anomalies returns the duplicated and reordered deliveries the checker
// has seen (receipts reach it within batchAge) and the indeterminate
// outcomes so far, read live from the producers: a producer that stalls
// holds its outcome batch until its next completion, and a fault's
// indeterminate sends must count when they happen.
func (c *Collector) Anomalies() (duplicated, reordered, indeterminate uint64) {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.check.Live()
	for _, p := range c.sources {
		indeterminate += p.indet.Load()
	}
	return l.Duplicated, l.Reordered, indeterminate
}

// Close applies what is pending and stops the collector's goroutine. No
// worker may hand over a batch afterwards; reading stays possible.
func (c *Collector) Close() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed.Swap(true) {
		return
	}
	close(c.in)
	<-c.done
}

func (c *Collector) getBatch() *batch {
	select {
	case b := <-c.free:
		return b
	default:
		// Events and latency slices grow on first use (a producer's
		// batch fills two or three series, a consumer's one), and keep
		// what they grew to when the batch comes back: each of a fleet's
		// slow producers holds two batches of a few events, not two of
		// batchSize.
		return &batch{events: make([]checker.Event, 0, initialBatchCap)}
	}
}

// add hands b to the collector's goroutine.
func (c *Collector) add(b *batch) { c.in <- b }

// bigBatch is the size from which a batch is recycled apart: a worker
// that fills batches this far (a fast consumer) gets back batches of that
// size, and a worker that hands over fewer events (each of a thousand
// closed-loop producers, at its share of the rate) gets the small ones it
// grew. One pool for both gave the small takers the big batches: 1,000
// producers then held two batches of 1,024 events each.
const bigBatch = batchSize / 2

// handOver hands b to the collector's goroutine and returns the worker's
// next batch, big when b was.
func (c *Collector) handOver(b *batch) *batch {
	big := b.entries() >= bigBatch
	c.in <- b
	if big {
		select {
		case nb := <-c.freeBig:
			return nb
		default:
		}
	}
	return c.getBatch()
}

// apply folds b into the state and recycles it.
func (c *Collector) apply(b *batch) {
	c.mu.Lock()
	c.check.Apply(b.events)
	for s, vs := range b.lat {
		for _, v := range vs {
			record(c.cur[s], v)
		}
	}
	if b.notSent != nil {
		c.cur[PublishNotSent].Merge(b.notSent)
	}
	c.totals.Acked += b.acked
	if b.firstAck != 0 && (c.firstAck == 0 || b.firstAck < c.firstAck) {
		c.firstAck = b.firstAck
	}
	c.totals.Failed += b.failed
	c.totals.Indeterminate += b.indet
	c.totals.Aborted += b.aborted
	c.totals.Received += b.delivered
	if b.delivered > 0 {
		// A consumer's batch is in receipt order: its last event is its
		// latest.
		c.lastReceipt = max(c.lastReceipt, b.events[len(b.events)-1].At)
	}
	c.totals.Negative += b.negative
	c.totals.NotSent += b.unsent
	c.applied += len(b.events)
	// Compacting the bitmaps now and then keeps state small without a
	// timer of its own.
	if c.applied > 1<<20 {
		c.check.Compact()
		c.applied = 0
	}
	c.mu.Unlock()
	b.reset()
	free := c.free
	if cap(b.events) > bigBatch || cap(b.lat[PublishAcked]) > bigBatch {
		free = c.freeBig
	}
	select {
	case free <- b:
	default:
	}
}

func record(h *hdrhistogram.Histogram, us int64) {
	switch {
	case us < histMin:
		us = histMin
	case us > histMax:
		us = histMax
	}
	_ = h.RecordValue(us) // cannot fail: clamped into range
}

// Interval closes the current interval and returns it.
func (c *Collector) Interval() Interval {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.totals.Live = c.check.Live()
	c.totals.InFlight = c.inFlight()
	lat := c.cur
	lat.withHeadline()
	iv := Interval{Start: c.lastTime, End: now, Latency: lat, Publish: lat[Publish], EndToEnd: lat[EndToEnd], Totals: c.totals}
	iv.Delta = Totals{
		Sent: c.totals.Sent - c.last.Sent, Acked: c.totals.Acked - c.last.Acked,
		Failed: c.totals.Failed - c.last.Failed, Indeterminate: c.totals.Indeterminate - c.last.Indeterminate,
		Aborted:  c.totals.Aborted - c.last.Aborted,
		Received: c.totals.Received - c.last.Received, NotSent: c.totals.NotSent - c.last.NotSent,
		Negative: c.totals.Negative - c.last.Negative,
	}
	for i, h := range lat {
		c.all[i].Merge(h)
	}
	c.cur = newHistograms()
	c.last, c.lastTime = c.totals, now
	return iv
}

// FirstAck is when the run's first publish was acknowledged, in unix
// nanos on the swarm's clock; 0 before any was.
func (c *Collector) FirstAck() int64 {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.firstAck
}

// LastReceipt is when the latest delivery was received, in unix nanos on
// the swarm's clock; 0 before any was.
func (c *Collector) LastReceipt() int64 {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastReceipt
}

// Totals returns the cumulative counts.
func (c *Collector) Totals() Totals {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.totals
	t.Live = c.check.Live()
	t.InFlight = c.inFlight()
	return t
}

// inFlight sums what producers published and have no outcome for yet.
func (c *Collector) inFlight() uint64 {
	var n uint64
	for _, p := range c.sources {
		// completed first: a completion between the two reads can only
		// make the figure one too high, never wrap it below zero.
		done := p.completed.Load()
		if sent := p.sentNext.Load() - p.cfg.StartSeq; sent > done {
			n += sent - done
		}
	}
	return n
}

// Outstanding is the number of (subscription, acked message) pairs not
// received yet.
func (c *Collector) Outstanding() uint64 {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.check.Outstanding()
}

// Latency returns copies of the whole-run histograms, including the
// interval still open.
func (c *Collector) Latency() Histograms {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	open := c.cur
	open.withHeadline()
	out := newHistograms()
	for i := range out {
		out[i].Merge(c.all[i])
		out[i].Merge(open[i])
	}
	return out
}

// Finalize asks the checker for its conclusion, with the swarm's count of
// intended sends never made.
func (c *Collector) Finalize(o checker.Options) *checker.Result {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.check.Finalize(o)
	res.Counts.NotSent = c.totals.NotSent
	return res
}

// addNotSent hands over n intended sends never made, with their latencies.
func (c *Collector) addNotSent(h *hdrhistogram.Histogram, n uint64) {
	b := c.getBatch()
	b.notSent, b.unsent = h, n
	c.add(b)
}

// Checker gives f exclusive access to the checker (to save its state).
func (c *Collector) Checker(f func(*checker.Checker) error) error {
	c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c.check)
}
