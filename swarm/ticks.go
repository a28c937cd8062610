package swarm

import (
	"context"
	"math"
	"time"
)

// tick is the pacing grain of the monotonic clock: a paced wait ends at
// the first whole tick of the clock at or after the time waited for. A
// wait to the nanosecond woke the process once per paced send (20,000
// times a second at 20k/s, each its own wake of a sleeping thread); with
// waits ending on whole ticks the runtime finds every timer of a tick
// expired together and wakes their goroutines in one pass, so the process
// wakes at most a thousand times a second, and each producer sends
// everything due by then in one go. The price: a paced send goes up to one
// tick after its intended time (half a tick on average, plus the
// scheduler's delay), and its latency, counted from the intended time,
// includes that.
//
// A shared pacing goroutine keeping every waiter in a heap was tried too:
// the same CPU per message, but every wake went through that one
// goroutine, and when the machine was busy its delays fell on every
// producer at once (publish p99 of 50-580 ms in 4 of 11 quickstart runs
// where the runtime's timers had 1-80 ms).
const tick = int64(time.Millisecond)

// ceilTick is the first whole tick of the clock at or after t.
func ceilTick(t int64) int64 {
	r := t % tick
	if r == 0 || t > math.MaxInt64-tick {
		return t
	}
	return t - r + tick
}

// tickWaiter waits on the monotonic clock with one reusable runtime timer,
// set to end on a whole tick.
type tickWaiter struct{ t *time.Timer }

func (w *tickWaiter) Until(ctx context.Context, t int64, a, b <-chan struct{}) (Wake, int64) {
	now := clockNow()
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
	d := time.Duration(ceilTick(t) - now)
	if w.t == nil {
		w.t = time.NewTimer(d)
	} else {
		w.t.Reset(d)
	}
	select {
	case <-w.t.C:
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
