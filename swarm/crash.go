package swarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// idleCrashAfter: a consumer asked to crash crashes at its next delivery
// (so that it holds one it has processed and not acknowledged); one that
// gets none this long is crashed idle.
const idleCrashAfter = time.Second

// rejoinWait bounds how long a consumer crash waits for the new consumer's
// first delivery (it may get nothing: more consumers than partitions).
const rejoinWait = 5 * time.Second

// producersWait bounds how long a producer crash waits for the producers
// to exist.
const producersWait = 5 * time.Second

// errCrash is what a consumer's handler returns to crash: the driver sees a
// failed handler, does not acknowledge, and Run returns.
var errCrash = errors.New("consumer crashed on purpose (fault injection)")

// crashRequest hands one crash at a time from the chaos layer to a worker
// goroutine and its outcome back. Requests that come while one is under
// way (two faults whose windows overlap on one client) wait their turn:
// each is carried out after the one before, none fails for it.
type crashRequest struct {
	wanted atomic.Bool
	wake   chan struct{} // interrupts a worker that waits
	turn   chan struct{} // held by the request under way
	mu     sync.Mutex
	reply  chan error // of the pending request
	ended  chan struct{}
	once   sync.Once
}

func newCrashRequest() crashRequest {
	return crashRequest{wake: make(chan struct{}, 1), turn: make(chan struct{}, 1), ended: make(chan struct{})}
}

// ask posts a request and waits for its outcome, for ctx, or for the worker
// to end. onTimeout runs once if no answer came within after (0: never).
func (r *crashRequest) ask(ctx context.Context, who string, after time.Duration, onTimeout func()) error {
	select {
	case r.turn <- struct{}{}:
	case <-r.ended:
		return fmt.Errorf("crashing %s: it had already stopped", who)
	case <-ctx.Done():
		return fmt.Errorf("crashing %s: %w", who, ctx.Err())
	}
	defer func() { <-r.turn }()
	reply := make(chan error, 1)
	r.mu.Lock()
	r.reply = reply
	r.mu.Unlock()
	r.wanted.Store(true)
	select {
	case r.wake <- struct{}{}:
	default:
	}
	var timeout <-chan time.Time
	if after > 0 && onTimeout != nil {
		t := time.NewTimer(after)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case err := <-reply:
			return err
		case <-timeout:
			timeout = nil
			onTimeout()
		case <-r.ended:
			r.cancel()
			return fmt.Errorf("crashing %s: it had already stopped", who)
		case <-ctx.Done():
			r.cancel()
			return fmt.Errorf("crashing %s: %w", who, ctx.Err())
		}
	}
}

func (r *crashRequest) cancel() {
	r.wanted.Store(false)
	r.mu.Lock()
	r.reply = nil
	r.mu.Unlock()
}

// answer is called by the worker once it crashed and started again.
func (r *crashRequest) answer(err error) {
	r.wanted.Store(false)
	r.mu.Lock()
	reply := r.reply
	r.reply = nil
	r.mu.Unlock()
	if reply != nil {
		reply <- err
	}
}

// end marks the worker gone: later requests fail at once.
func (r *crashRequest) end() { r.once.Do(func() { close(r.ended) }) }

// Producers is the number of producers of the load phase.
func (s *Swarm) Producers() int { return s.cfg.Producers }

// Consumers is the number of consumers across subscriptions.
func (s *Swarm) Consumers() int { return s.cfg.Consumers * s.cfg.Subscriptions }

// CrashProducer closes producer i with its messages in flight (the driver
// completes them as indeterminate) and starts it again with a new
// connection, as a restarted client process would be; its sequence numbers
// go on. It returns once the new producer is in place.
func (s *Swarm) CrashProducer(ctx context.Context, i int) error {
	// A fault at the very start can come before Produce made them.
	t := time.NewTimer(producersWait)
	defer t.Stop()
	select {
	case <-s.produced:
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	var p *producer
	if i >= 0 && i < len(s.producers) {
		p = s.producers[i]
	}
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("crashing producer %d: not running (%d producers)", i, s.cfg.Producers)
	}
	return p.crash.ask(ctx, fmt.Sprintf("producer %d", i), 0, nil)
}

// CrashConsumer crashes consumer i (numbered across subscriptions) at its
// next delivery: the delivery is processed (counted received) and not
// acknowledged, the driver's consumer is crashed (broker.Crasher, else
// Close), and a new one joins in its place. The broker must deliver that
// message again: a duplicate, flagged redelivered where the broker flags.
// A consumer that gets no delivery within idleCrashAfter crashes idle. It
// returns once the new consumer received something (the subscription had
// its consumer back: for Kafka, after the group rebalanced), or after
// rejoinWait.
func (s *Swarm) CrashConsumer(ctx context.Context, i int) error {
	if i < 0 || i >= len(s.consumers) {
		return fmt.Errorf("crashing consumer %d: not running (%d consumers)", i, len(s.consumers))
	}
	c := s.consumers[i]
	if err := c.crash.ask(ctx, fmt.Sprintf("consumer %d", i), idleCrashAfter, c.stopRun); err != nil {
		return err
	}
	before := c.receivedLive()
	deadline := time.NewTimer(rejoinWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.receivedLive() == before {
		select {
		case <-tick.C:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
