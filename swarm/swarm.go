// Package swarm drives a broker with paced producers and verifying consumers
// and feeds what they see to the checker, with latency histograms.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/processing"
)

// Config is the swarm's part of a scenario.
type Config struct {
	RunID         uint64
	Seed          int64
	Producers     int
	Consumers     int // per subscription
	Subscriptions int
	// Rate is the total rate in messages per second; 0 runs closed loop.
	Rate     float64
	Duration time.Duration
	// Pacer, when set, schedules the load instead of Rate (stages, the
	// steps of find-max); the load lasts its Length.
	Pacer Pacer
	// Clock is where the swarm reads time and waits; nil is the monotonic
	// clock. Tests give a virtual one.
	Clock       Clock
	MessageSize int
	MaxInFlight int // per producer
	Keys        int
	// Text sends the text-safe header variant (for brokers whose bodies must be text).
	Text bool
	// HeaderOnly checksums each message's header alone
	// (producers.checksum: header): the consumers then cannot see damage
	// to the payload past it, and say so per delivery.
	HeaderOnly bool
	// StartSeq is every producer's first sequence number (default 0): a
	// run can start high to cover sequence numbers past 2^32 without
	// sending four billion messages first.
	StartSeq uint64
	// FailFraction of first deliveries consumers fail on purpose; FailDeadLetter
	// rejects them for good (dead-letter) instead of for redelivery, on
	// every delivery of such a message.
	FailFraction   float64
	FailDeadLetter bool
	// FlushTimeout bounds the wait for outstanding confirms after the load.
	FlushTimeout time.Duration
	// Processing, when set, is what consumers do with each clean
	// delivery: the side effect and its dedupe store (an idempotent
	// consumer). The caller opens and closes it.
	Processing processing.Store
	// Abort, once closed, ends that wait at once (an interrupted run stops
	// waiting for a stalled broker): what has no outcome yet completes as
	// indeterminate.
	Abort <-chan struct{}
	// Lanes is how many goroutines make a paced load's sends (see
	// lane.go): 0 picks (none for one producer), -1 none, so that each
	// producer runs alone (tests run both).
	Lanes int
	// Share, when set, makes this swarm one worker of a run split across
	// several (mqcheck run --worker I/N): Producers and Consumers are
	// then this worker's part, numbered within the whole run.
	Share *Share
}

// Share is one worker's part of a run split across workers. Producer and
// consumer ids are the ones a single process running the whole scenario
// would give them, so no two workers' ids collide and the merged state
// reads as one process's.
type Share struct {
	Worker, Workers int
	// FirstProducer is the id of this worker's first producer;
	// TotalProducers is how many the whole run has: the pacer's hits are
	// numbered across all of them, so each producer keeps the schedule it
	// has in a single process and the rate is divided with them.
	FirstProducer, TotalProducers int
	// FirstConsumer is the index of this worker's first consumer within
	// each subscription; TotalConsumers how many each subscription has
	// across workers.
	FirstConsumer, TotalConsumers int
}

// Part returns the first index and the count of worker's part when n
// things are split across workers: the first n%workers workers take one
// more. Every index is in exactly one worker's part.
func Part(n, workers, worker int) (first, count int) {
	if workers <= 0 {
		return 0, n
	}
	count = n / workers
	rem := n % workers
	first = worker*count + min(worker, rem)
	if worker < rem {
		count++
	}
	return first, count
}

// NewShare is worker's part of a run of producers and consumers (per
// subscription) split across workers (see Part).
func NewShare(worker, workers, producers, consumers int) *Share {
	fp, _ := Part(producers, workers, worker)
	fc, _ := Part(consumers, workers, worker)
	return &Share{Worker: worker, Workers: workers, FirstProducer: fp, TotalProducers: producers,
		FirstConsumer: fc, TotalConsumers: consumers}
}

// producerID is the run-wide id of this swarm's i-th producer.
func (c *Config) producerID(i int) int {
	if c.Share == nil {
		return i
	}
	return c.Share.FirstProducer + i
}

// producerStride is how many producers the pacer's hits are dealt to.
func (c *Config) producerStride() uint64 {
	if c.Share == nil {
		return uint64(max(1, c.Producers))
	}
	return uint64(max(1, c.Share.TotalProducers))
}

// consumerID is the run-wide id of this swarm's k-th consumer of sub.
func (c *Config) consumerID(sub, k int) int {
	if c.Share == nil {
		return sub*c.Consumers + k
	}
	return sub*c.Share.TotalConsumers + c.Share.FirstConsumer + k
}

// extraBase is the first id of consumers that join during the run.
func (c *Config) extraBase() int {
	if c.Share == nil {
		return c.Consumers * c.Subscriptions
	}
	// Past every worker's own, and apart from other workers' joiners.
	return c.Share.TotalConsumers*c.Subscriptions + c.Share.Worker*extraPerWorker
}

// extraPerWorker bounds the ids of consumers one worker adds during a run.
const extraPerWorker = 1 << 12

// NoOneWay marks a worker none of whose messages this one received.
const NoOneWay = int64(math.MaxInt64)

// newOneWay returns the one-way minimums, none yet, and the producer to
// worker table of sh's run.
func newOneWay(sh *Share) ([]int64, []uint16) {
	oneWay := make([]int64, sh.Workers)
	for i := range oneWay {
		oneWay[i] = NoOneWay
	}
	workerOf := make([]uint16, sh.TotalProducers)
	for w := range sh.Workers {
		first, n := Part(sh.TotalProducers, sh.Workers, w)
		for p := first; p < first+n; p++ {
			workerOf[p] = uint16(w)
		}
	}
	return oneWay, workerOf
}

// OneWay returns, per worker of a split run, the least time from a send on
// that worker's clock to a receipt on this one's (NoOneWay: none
// received): a delay plus the offset between the two clocks. Two workers'
// figures of each other bound that offset as an NTP exchange does (see
// merge). Nil unless the run is split. Call it after StopConsumers.
func (s *Swarm) OneWay() []int64 {
	if !s.cfg.distributed() {
		return nil
	}
	out, _ := newOneWay(s.cfg.Share)
	for _, c := range append(s.consumers, s.extras...) {
		c.mu.Lock()
		for w, d := range c.oneWay {
			out[w] = min(out[w], d)
		}
		c.mu.Unlock()
	}
	return out
}

// distributed: this swarm is one worker of several.
func (c *Config) distributed() bool { return c.Share != nil && c.Share.Workers > 1 }

// Swarm is a run's producers and consumers.
type Swarm struct {
	cfg    Config
	drv    broker.Driver
	col    *Collector
	names  *checker.Names
	notify func(broker.Notice)

	consumers []*consumer
	// extras are consumers that joined during the run (a rebalance
	// storm) and have not left; under mu.
	extras    []*consumer
	nextExtra int
	cctx      context.Context // the consumers' context
	mu        sync.Mutex
	producers []*producer   // while Produce runs, for CrashProducer
	produced  chan struct{} // closed once Produce has made its producers (or failed to)
	prodOnce  sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stopOnce  sync.Once
	flushStop chan struct{}

	clock    Clock
	proc     procStats
	load     loadSpan
	prepared bool // Prepare ran (the run's goroutine only)
	// outs are the batches of outcomes a fleet's producers share, handed
	// over once every producer finished (nil: each has its own).
	outs []*outcomes
}

// addOutcomes hands the collector the shared batches of outcomes, once
// every producer finished.
func (s *Swarm) addOutcomes() {
	for _, o := range s.outs {
		s.col.add(o.b)
		o.b = nil
	}
	s.outs = nil
}

// loadSpan is when the load starts and ends on the swarm's clock. The end
// can come sooner than planned (EndLoad: find-max found its answer).
type loadSpan struct {
	start    atomic.Int64
	end      atomic.Int64
	stop     chan struct{} // closed by EndLoad: wakes producers that wait
	stopOnce sync.Once
	// stopped is when the last producer stopped publishing.
	stopped atomic.Int64
}

// New returns a swarm that drives d and checks into a fresh checker. notify
// receives driver notices for the timeline (may be nil).
func New(cfg Config, d broker.Driver, notify func(broker.Notice)) *Swarm {
	if cfg.Subscriptions <= 0 {
		cfg.Subscriptions = 1
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1000
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 30 * time.Second
	}
	if notify == nil {
		notify = func(broker.Notice) {}
	}
	if cfg.Clock == nil {
		cfg.Clock = monoClock{}
	}
	if cfg.Pacer == nil && cfg.Rate > 0 {
		cfg.Pacer = Constant(cfg.Rate, cfg.Duration)
	}
	if cfg.Pacer != nil {
		cfg.Duration = cfg.Pacer.Length()
	}
	// Without consumers (a produce-only run) nothing is expected to
	// arrive anywhere: the checker knows no subscription, so nothing acked
	// counts as missing.
	var subs []string
	if cfg.Consumers > 0 || (cfg.Share != nil && cfg.Share.TotalConsumers > 0) {
		subs = make([]string, cfg.Subscriptions)
		for i := range subs {
			subs[i] = fmt.Sprintf("sub-%d", i)
		}
	}
	names := checker.NewNames(subs...)
	return &Swarm{cfg: cfg, drv: d, names: names, col: NewCollector(checker.New(names)), notify: notify,
		flushStop: make(chan struct{}), produced: make(chan struct{}), clock: cfg.Clock,
		load: loadSpan{stop: make(chan struct{})}}
}

// Driver returns the driver the swarm drives.
func (s *Swarm) Driver() broker.Driver { return s.drv }

// Collector returns the swarm's collector (live intervals, the checker).
func (s *Swarm) Collector() *Collector { return s.col }

// StartConsumers creates every consumer and starts them; they run until
// StopConsumers.
func (s *Swarm) StartConsumers(ctx context.Context) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.mu.Lock()
	s.cctx = cctx
	s.nextExtra = s.cfg.extraBase()
	s.mu.Unlock()
	for sub := range s.cfg.Subscriptions {
		for k := range s.cfg.Consumers {
			c, err := newConsumer(ctx, s.cfg.consumerID(sub, k), sub, &s.cfg, s.drv, s.col, s.names, s.notify, &s.proc)
			if err != nil {
				s.StopConsumers()
				return err
			}
			s.consumers = append(s.consumers, c)
			s.col.watchConsumer(c)
		}
	}
	for _, c := range s.consumers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.run(cctx)
		}()
	}
	// A flusher hands over partly filled consumer batches so live figures
	// and the drain see every receipt within batchAge.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(batchAge)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				for _, c := range s.allConsumers() {
					c.flush()
				}
			case <-s.flushStop:
				return
			}
		}
	}()
	return nil
}

// ConsumerErrors returns the errors of consumers that gave up.
func (s *Swarm) ConsumerErrors() []error {
	var errs []error
	for _, c := range s.consumers {
		select {
		case <-c.done:
			if c.err != nil {
				errs = append(errs, c.err)
			}
		default:
		}
	}
	return errs
}

// Produce runs the load from now: see ProduceFrom.
func (s *Swarm) Produce(ctx context.Context) error { return s.ProduceFrom(ctx, s.clock.Now()) }

// Prepare makes the producers, so that a load started afterwards finds
// them ready (ProduceFrom makes them otherwise, and the sends due while it
// does are late). On error the producers made so far are closed.
func (s *Swarm) Prepare(ctx context.Context) error {
	if s.prepared {
		return nil
	}
	s.prepared = true
	var ps []*producer
	s.outs = sharedOutcomes(s.cfg.Producers, s.col)
	if s.cfg.Producers > 0 {
		s.col.reserve(s.cfg.producerID(0), s.cfg.producerID(s.cfg.Producers-1)+1)
	}
	for i := range s.cfg.Producers {
		var out *outcomes
		if s.outs != nil {
			out = s.outs[i%len(s.outs)]
		}
		p, err := newProducer(ctx, s.cfg.producerID(i), &s.cfg, s.drv, s.col, s.notify, out)
		if err != nil {
			flush := newFlushContexts(time.Second, s.cfg.Abort)
			for _, q := range ps {
				q.finish(flush.get())
			}
			flush.close()
			s.addOutcomes()
			s.prodOnce.Do(func() { close(s.produced) })
			return err
		}
		ps = append(ps, p)
		s.col.watch(p)
	}
	s.mu.Lock()
	s.producers = ps
	s.mu.Unlock()
	s.prodOnce.Do(func() { close(s.produced) })
	return nil
}

// ProduceFrom runs every producer for the load that starts at start (on
// the swarm's clock: ClockNS) and lasts the configured duration, or until
// ctx ends or EndLoad, then waits for their outcomes. Every send the load
// intended is made, late if need be, or counted not sent (Totals.NotSent)
// with its latency so far. It returns the producers' errors.
func (s *Swarm) ProduceFrom(ctx context.Context, start int64) error {
	defer s.prodOnce.Do(func() { close(s.produced) })
	s.load.start.Store(start)
	s.load.end.Store(start + int64(s.cfg.Duration))
	if err := s.Prepare(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	ps := s.producers
	s.mu.Unlock()
	flush := newFlushContexts(s.cfg.FlushTimeout, s.cfg.Abort)
	if lanes := laneCount(len(ps), s.cfg.Lanes); s.cfg.Pacer != nil && lanes > 0 {
		runLanes(ctx, ps, lanes, &s.load, flush)
	} else {
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.run(ctx, &s.load, flush)
			}()
		}
		wg.Wait()
	}
	flush.close()
	s.addOutcomes()
	var errs []error
	for _, p := range ps {
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errors.Join(errs...)
}

// EndLoad ends the load now, before its planned end (find-max found its
// answer): producers stop publishing, and what they had not sent of the
// load so far is counted not sent.
func (s *Swarm) EndLoad() {
	now := s.clock.Now()
	for {
		end := s.load.end.Load()
		if end <= now || s.load.end.CompareAndSwap(end, now) {
			break
		}
	}
	s.load.stopOnce.Do(func() { close(s.load.stop) })
}

// LoadSpan returns when the load started and when its last producer
// stopped publishing, on the swarm's clock (unix ns): the load's true
// length, which a producer blocked in a broker call can stretch past the
// planned end. Valid once ProduceFrom returned.
func (s *Swarm) LoadSpan() (start, stopped int64) {
	start = s.load.start.Load()
	return start, max(s.load.stopped.Load(), start)
}

// LoadEnd is when the load ends (or ended) on the swarm's clock: as
// planned, or sooner after EndLoad.
func (s *Swarm) LoadEnd() int64 { return s.load.end.Load() }

// Clock returns the swarm's clock.
func (s *Swarm) Clock() Clock { return s.clock }

// DrainResult says how the drain ended.
type DrainResult struct {
	// Drained: every acked message was received, or the broker reported
	// nothing left to deliver (then what is missing is lost).
	Drained  bool
	Reason   string
	Duration time.Duration
	// Settle is how long consumption went on after every acked message
	// had arrived, or while the broker had nothing left to deliver.
	Settle time.Duration
}

// Drain waits until every acked message has been received by every
// subscription, or the broker's backlog stays at zero (settle), or timeout
// passes, or ctx's deadline, whichever comes first: every wait inside (the
// broker's backlog, its probes) ends by then. timeout names the limit in
// the reason. Once everything arrived it keeps consuming for settle, so
// that a duplicate arriving a moment later (a redelivery after a crash
// near the end) is counted; the deadline bounds that too.
func (s *Swarm) Drain(ctx context.Context, timeout, settle time.Duration) DrainResult {
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if s.cfg.Consumers == 0 {
		if s.cfg.distributed() {
			return DrainResult{Drained: true, Reason: "this worker runs no consumers: the other workers' receive its messages"}
		}
		return DrainResult{Drained: true, Reason: "no consumers: nothing was to be received (a produce-only run)"}
	}
	bl, hasBacklog := s.drv.(broker.Backlogger)
	if s.cfg.distributed() {
		return s.drainQuiet(ctx, start, deadline, timeout, settle, bl)
	}
	const poll = 100 * time.Millisecond
	var zeroSince time.Time
	var zeroReceived uint64
	// What arrived during the drain tells a user (and a failed test) a
	// slow consumer from a stuck one: the first needs a longer
	// drain_timeout, the second is the broker's or the client's doing.
	// The baseline is taken after the first flush: what consumers had
	// buffered arrived before the drain.
	var first, last uint64
	var lastAt time.Time // zero: nothing arrived during the drain
	based := false
	timedOut := func() DrainResult {
		return DrainResult{Duration: time.Since(start),
			Reason: fmt.Sprintf("drain timed out (%s) with %d acknowledged messages not received; %s",
				timeout, s.col.Outstanding(), drainProgress(last-first, time.Since(lastAt), lastAt.IsZero()))}
	}
	for {
		for _, c := range s.allConsumers() {
			c.flush()
		}
		switch got := s.col.Totals().Received; {
		case !based:
			first, last, based = got, got, true
		case got != last:
			last, lastAt = got, time.Now()
		}
		if s.col.Outstanding() == 0 {
			watched := s.settle(ctx, settle, deadline)
			return DrainResult{Drained: true, Reason: "every acknowledged message was received", Duration: time.Since(start), Settle: watched}
		}
		if hasBacklog {
			bctx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(2*time.Second), deadline))
			n, err := bl.Backlog(bctx)
			cancel()
			received := s.col.Totals().Received
			zeroNow := err == nil && n == 0
			switch {
			case !zeroNow:
				zeroSince = time.Time{}
			case zeroSince.IsZero() || received != zeroReceived:
				// Anything received restarts the settle window.
				zeroSince, zeroReceived = time.Now(), received
			case time.Since(zeroSince) >= settle:
				return DrainResult{Drained: true, Duration: time.Since(start), Settle: time.Since(zeroSince),
					Reason: fmt.Sprintf("the broker had nothing left to deliver for %s", settle)}
			}
		}
		if !time.Now().Before(deadline) {
			return timedOut()
		}
		t := time.NewTimer(min(poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return timedOut()
			}
			return DrainResult{Duration: time.Since(start), Reason: "drain interrupted"}
		case <-t.C:
		}
	}
}

// drainProgress says what arrived during a drain that timed out: n
// deliveries, the last ago before the timeout (none when nothing came).
func drainProgress(n uint64, ago time.Duration, none bool) string {
	switch {
	case none:
		return "nothing arrived during the drain"
	case ago < time.Second:
		return fmt.Sprintf("%d deliveries arrived during the drain and were still arriving at its end (a longer drain_timeout may receive the rest)", n)
	}
	return fmt.Sprintf("%d deliveries arrived during the drain, the last %s before its end", n, ago.Round(100*time.Millisecond))
}

// minQuiet is the shortest quiet a worker's drain waits for.
const minQuiet = time.Second

// drainQuiet is the drain of one worker of several: its consumers share
// subscriptions with other workers' consumers, so what its own producers
// sent is partly received elsewhere and only the merge can tell what is
// missing. The drain ends once nothing has been received for settle (at
// least minQuiet) and, where the broker tells, nothing is left to
// deliver (where it can count it with other workers' consumers attached;
// a count that failed holds the drain, one the driver says it cannot make
// does not); or at the deadline.
func (s *Swarm) drainQuiet(ctx context.Context, start, deadline time.Time, timeout, settle time.Duration, bl broker.Backlogger) DrainResult {
	quiet := max(settle, minQuiet)
	const poll = 100 * time.Millisecond
	last := s.col.Totals().Received
	since := time.Now()
	var failed error // the last count, when it failed
	for {
		for _, c := range s.allConsumers() {
			c.flush()
		}
		if got := s.col.Totals().Received; got != last {
			last, since = got, time.Now()
		}
		empty := true
		if bl != nil {
			bctx, cancel := context.WithDeadline(ctx, minTime(time.Now().Add(2*time.Second), deadline))
			n, err := bl.Backlog(bctx)
			cancel()
			switch {
			case err == nil && n > 0:
				empty, since = false, time.Now()
			case errors.Is(err, broker.ErrCannotCount):
				// The driver's answer (RabbitMQ's sees other workers'
				// consumers on its queues, and another worker may take
				// its probe): quiet decides.
				failed = nil
			case err != nil:
				// A count that failed (a lag query during the rebalance
				// after a restart) may have found partitions nobody
				// reads yet: ending on quiet then would hand the merge
				// unread messages to call lost. Wait for a count.
				empty, failed = false, err
			default:
				failed = nil
			}
		}
		if empty && time.Since(since) >= quiet {
			return DrainResult{Drained: true, Duration: time.Since(start), Settle: time.Since(since),
				Reason: fmt.Sprintf("worker %d/%d: nothing more arrived for %s (the merge decides what is missing)",
					s.cfg.Share.Worker, s.cfg.Share.Workers, quiet)}
		}
		if !time.Now().Before(deadline) {
			why := "with messages still arriving"
			if failed != nil {
				why = fmt.Sprintf("without counting what the broker holds (%v)", failed)
			}
			return DrainResult{Duration: time.Since(start),
				Reason: fmt.Sprintf("worker %d/%d: drain timed out (%s) %s", s.cfg.Share.Worker, s.cfg.Share.Workers, timeout, why)}
		}
		t := time.NewTimer(min(poll, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return DrainResult{Duration: time.Since(start), Reason: fmt.Sprintf("worker drain timed out (%s)", timeout)}
			}
			return DrainResult{Duration: time.Since(start), Reason: "drain interrupted"}
		case <-t.C:
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// settle lets the consumers go on for d (at most until deadline, or ctx)
// and hands over what they received; it returns how long it watched.
func (s *Swarm) settle(ctx context.Context, d time.Duration, deadline time.Time) time.Duration {
	start := time.Now()
	if until := time.Until(deadline); until < d {
		d = max(0, until)
	}
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	for _, c := range s.allConsumers() {
		c.flush()
	}
	return time.Since(start)
}

// Close stops the swarm's collector; call it after StopConsumers and after
// Produce returned. The collector stays readable.
func (s *Swarm) Close() {
	s.StopConsumers()
	s.col.Close()
}

// StopConsumers stops every consumer and hands over what they received.
func (s *Swarm) StopConsumers() {
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		close(s.flushStop)
		s.wg.Wait()
		s.mu.Lock()
		extras := s.extras
		s.extras = nil
		s.mu.Unlock()
		for _, c := range extras {
			<-c.done
		}
		for _, c := range append(s.consumers, extras...) {
			_ = c.drv.Close()
			c.flush()
		}
	})
}
