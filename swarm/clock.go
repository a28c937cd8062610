package swarm

import (
	"context"
	"time"
)

// The swarm's clock: unix nanoseconds read from the monotonic clock, which
// costs about half of time.Now().UnixNano() here and cannot step backwards
// or forwards with the wall clock during a run. Every time of a run is on
// it: the pacer's intended times, the headers' send times, outcomes and
// receipts (so end-to-end latency within one process is monotonic), and,
// through ClockNS, the runner's load start, fault windows and timeline.
var (
	clockBase   = time.Now()
	clockBaseNS = clockBase.UnixNano()
)

func clockNow() int64 { return clockBaseNS + int64(time.Since(clockBase)) }

// ClockNS puts t on the swarm's clock: its unix nanoseconds as the swarm
// reads them, from t's monotonic reading (a time.Now() of this process),
// so times the runner and the chaos layer take compare exactly with the
// times the swarm records, whatever the wall clock did meanwhile.
func ClockNS(t time.Time) int64 { return clockBaseNS + int64(t.Sub(clockBase)) }

// Clock is where the swarm reads the time and waits for it. The default
// is the monotonic clock above; tests give a virtual one (swarmtest), on
// which a scripted broker stall takes no wall-clock time and every latency
// is exact.
type Clock interface {
	// Now is the time in unix nanoseconds.
	Now() int64
	// NewWaiter returns a Waiter for one goroutine.
	NewWaiter() Waiter
}

// Waiter waits on a Clock; one goroutine uses it at a time.
type Waiter interface {
	// Until returns once the clock reads t or later (Reached), ctx ends,
	// or a or b receives (nil channels never do). With Reached it returns
	// the clock's reading that saw t come, so that the caller, about to
	// send, need not read the clock once more (one reading per message);
	// otherwise 0.
	Until(ctx context.Context, t int64, a, b <-chan struct{}) (Wake, int64)
}

// Wake says why Waiter.Until returned.
type Wake uint8

// Why a wait ended.
const (
	Reached Wake = iota // the time came
	WokeA               // a received
	WokeB               // b received
	Ended               // ctx ended
)

// MonotonicClock is the swarm's default clock: real time, monotonic.
func MonotonicClock() Clock { return monoClock{} }

// monoClock is the swarm's default clock.
type monoClock struct{}

func (monoClock) Now() int64        { return clockNow() }
func (monoClock) NewWaiter() Waiter { return &timerWaiter{} }
