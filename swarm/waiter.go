package swarm

import (
	"context"
	"time"
)

// timerWaiter waits on the monotonic clock with one reusable runtime timer
// set to the time waited for, to the nanosecond: a paced send's latency
// counts from its intended time, so any grain in the wait would show in
// every fixed-rate latency. (Waits rounded up to whole 1 ms ticks, so that
// the runtime wakes a millisecond's producers in one pass, cut CPU per
// message at 1,000 producers by 10-20%, but put 0.5 ms on the average
// publish latency: the quickstart's p50 went from 0.56 to 0.9-1.3 ms.)
type timerWaiter struct{ t *time.Timer }

// fromWaiter is a Waiter that can start a wait from the caller's reading of the clock
// instead of reading it again: a closed-loop producer that finds its window full right
// after a send then reads the clock once per message, not twice (DESIGN's hot path).
//
// The reading may be older than it looks (the send's Publish blocked): waited from, it
// would end a timed wait late by its age. So such a wait's timer goes off after at most
// fromCheck, and from there the wait goes on from a reading of its own: a wait that a
// completion ends (the common case) reads no clock, one that runs to its time ends at
// most fromCheck late, and a long one costs a second timer.
type fromWaiter interface {
	UntilFrom(ctx context.Context, t, now int64, a, b <-chan struct{}) (Wake, int64)
}

// fromCheck bounds how long a wait trusts its caller's reading.
const fromCheck = 10 * time.Millisecond

func (w *timerWaiter) Until(ctx context.Context, t int64, a, b <-chan struct{}) (Wake, int64) {
	return w.wait(ctx, t, clockNow(), false, a, b)
}

// UntilFrom is Until from the caller's reading of the clock (see fromWaiter).
func (w *timerWaiter) UntilFrom(ctx context.Context, t, now int64, a, b <-chan struct{}) (Wake, int64) {
	return w.wait(ctx, t, now, true, a, b)
}

// wait is Until from now; borrowed: now is the caller's reading, trusted for at most
// fromCheck.
func (w *timerWaiter) wait(ctx context.Context, t, now int64, borrowed bool, a, b <-chan struct{}) (Wake, int64) {
	if t <= now {
		select {
		case <-a:
			return WokeA, 0
		case <-b:
			return WokeB, 0
		default:
			return Reached, now
		}
	}
	d := time.Duration(t - now)
	checked := borrowed && d > fromCheck
	if checked {
		d = fromCheck
	}
	if w.t == nil {
		w.t = time.NewTimer(d)
	} else {
		w.t.Reset(d)
	}
	select {
	case <-w.t.C:
		if checked {
			return w.Until(ctx, t, a, b)
		}
		return Reached, clockNow()
	case <-a:
		w.t.Stop()
		return WokeA, 0
	case <-b:
		w.t.Stop()
		return WokeB, 0
	case <-ctx.Done():
		w.t.Stop()
		return Ended, 0
	}
}
