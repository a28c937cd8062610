// Package swarmtest has test doubles for the swarm: a virtual clock on which a
// load takes no wall-clock time, and a driver that stalls on a script.
package swarmtest

import (
	"container/heap"
	"context"
	"sync"

	"github.com/mqcheck/mqcheck/swarm"
)

// Clock is a virtual swarm.Clock. Time moves only when a goroutine waits on
// it: Until jumps to the time waited for, running on the way, in order,
// the events scheduled with At (a stalled broker's release). One goroutine
// may drive it at a time (one producer); the others only read Now. On it a
// load of seconds runs in microseconds and every latency is exact.
type Clock struct {
	mu     sync.Mutex
	now    int64
	seq    int
	events events
}

// NewClock returns a clock reading start (unix ns).
func NewClock(start int64) *Clock { return &Clock{now: start} }

// Now is the virtual time.
func (c *Clock) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewWaiter returns the clock itself: waiting has no state of its own.
func (c *Clock) NewWaiter() swarm.Waiter { return c }

// At schedules f to run when the clock reaches t (at once if it has).
func (c *Clock) At(t int64, f func()) {
	c.mu.Lock()
	c.seq++
	heap.Push(&c.events, event{at: t, seq: c.seq, f: f})
	c.mu.Unlock()
}

// Until moves the clock to t, running the events due by then in order and
// returning early when one of them made a or b ready.
func (c *Clock) Until(ctx context.Context, t int64, a, b <-chan struct{}) (swarm.Wake, int64) {
	for {
		select {
		case <-a:
			return swarm.WokeA, 0
		case <-b:
			return swarm.WokeB, 0
		default:
		}
		if ctx.Err() != nil {
			return swarm.Ended, 0
		}
		c.mu.Lock()
		if len(c.events) == 0 || c.events[0].at > t {
			c.now = max(c.now, t)
			now := c.now
			c.mu.Unlock()
			return swarm.Reached, now
		}
		e := heap.Pop(&c.events).(event)
		c.now = max(c.now, e.at)
		c.mu.Unlock()
		e.f()
	}
}

// Advance moves the clock to t, running the events due by then.
func (c *Clock) Advance(t int64) { c.Until(context.Background(), t, nil, nil) }

type event struct {
	at  int64
	seq int // ties run in the order scheduled
	f   func()
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}
