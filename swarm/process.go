package swarm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/processing"
)

// ProcessingStats count what the consumers' processing did with their
// deliveries: their own view, beside the effects the store reads back.
type ProcessingStats struct {
	// Applied: side effects made.
	Applied uint64
	// Skipped: deliveries the dedupe store knew (no side effect).
	Skipped uint64
	// Stopped: deliveries whose processing a crash cut after the dedupe
	// step, before the side effect.
	Stopped uint64
	// Errors: deliveries the store failed (given back to the broker);
	// FirstError is the first of them.
	Errors     uint64
	FirstError string
}

// procStats is shared by every consumer of a swarm (those that join and
// leave too).
type procStats struct {
	applied, skipped, stopped, errs atomic.Uint64
	once                            sync.Once
	first                           atomic.Pointer[string]
}

// Processing returns the processing counts so far (zero without
// Config.Processing).
func (s *Swarm) Processing() ProcessingStats {
	st := ProcessingStats{Applied: s.proc.applied.Load(), Skipped: s.proc.skipped.Load(), Stopped: s.proc.stopped.Load(),
		Errors: s.proc.errs.Load()}
	if f := s.proc.first.Load(); f != nil {
		st.FirstError = *f
	}
	return st
}

// openProcessor gives c the processing of a new consumer process (at
// the start, and after each crash: the old process's memory died with it).
func (c *consumer) openProcessor(ctx context.Context) error {
	if c.store == nil {
		return nil
	}
	if c.proc != nil {
		_ = c.proc.Close()
		c.proc = nil
	}
	p, err := c.store.Open(ctx, c.id)
	if err != nil {
		return fmt.Errorf("consumer %d: opening its %s processing: %w", c.id, c.store.Kind(), err)
	}
	c.proc = p
	return nil
}

// process runs the side effect of a delivery received clean (ev) through
// the store, and returns what the handler returns: crash (errCrash) when a
// crash is wanted, at its point; a store that failed gives the message
// back to the broker (a rejection, redelivered), and the receipt counts as
// rejected.
func (c *consumer) process(ev *checker.Event, crash bool) error {
	stop := processing.NoCrash
	if crash {
		stop = processing.Point(c.crashPoint.Load())
	}
	out, err := c.proc.Process(c.pctx, processing.Key{Sub: c.sub, Producer: ev.Producer, Seq: ev.Seq}, ev.At, stop)
	st := c.stats
	switch {
	case err != nil:
		st.errs.Add(1)
		st.once.Do(func() {
			msg := err.Error()
			st.first.Store(&msg)
		})
		ev.Kind = checker.Rejected
		if crash {
			return errCrash
		}
		return broker.ErrReject
	case out == processing.Skipped:
		st.skipped.Add(1)
	case out == processing.Stopped:
		st.stopped.Add(1)
	default:
		st.applied.Add(1)
	}
	if crash {
		return errCrash
	}
	return nil
}

// CrashConsumerAt is CrashConsumer at a point of the processing: after the
// dedupe step (before the side effect) or after the side effect (before
// the ack, as CrashConsumer). Without processing both are CrashConsumer.
func (s *Swarm) CrashConsumerAt(ctx context.Context, i int, point processing.Point) error {
	if i >= 0 && i < len(s.consumers) {
		s.consumers[i].crashPoint.Store(uint32(point))
	}
	return s.CrashConsumer(ctx, i)
}
