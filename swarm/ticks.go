package swarm

import (
	"context"
	"math"
	"sync"
	"time"
)

// tick is the pacing grain of the monotonic clock: waiters are woken in
// batches at whole ticks of the clock, at the first tick at or after the
// time they wait for. A runtime timer per waiter woke the process once per
// paced send (20,000 times a second at 20k/s), and with a thousand
// producers most of the CPU went to the scheduler parking and waking
// them; in ticks the process wakes at most a thousand times a second,
// and each producer sends everything due by then in one go. The price:
// a paced send goes up to one tick after its intended time (plus the
// scheduler's delay), and its latency, counted from the intended time,
// includes that.
const tick = int64(time.Millisecond)

// ceilTick is the first whole tick of the clock at or after t.
func ceilTick(t int64) int64 {
	r := t % tick
	if r == 0 || t > math.MaxInt64-tick {
		return t
	}
	return t - r + tick
}

// ticker is the process's one pacing goroutine: it keeps the monotonic
// clock's waiters by the time they wait for and wakes, at each tick, those
// whose time has come. It sleeps while nobody waits.
type ticker struct {
	mu      sync.Mutex
	waits   waitHeap
	planned int64 // the tick it sleeps until; 0: until kicked
	kick    chan struct{}
	start   sync.Once
}

var sharedTicker = &ticker{kick: make(chan struct{}, 1)}

// add registers w, which waits for w.at.
func (tk *ticker) add(w *tickWaiter) {
	tk.start.Do(func() { go tk.run() })
	wake := ceilTick(w.at)
	tk.mu.Lock()
	tk.waits.push(w)
	kick := tk.planned == 0 || wake < tk.planned
	if kick {
		tk.planned = wake
	}
	tk.mu.Unlock()
	if kick {
		select {
		case tk.kick <- struct{}{}:
		default:
		}
	}
}

// remove takes back w's wait, unless the ticker took it already.
func (tk *ticker) remove(w *tickWaiter) {
	tk.mu.Lock()
	if w.idx >= 0 {
		tk.waits.remove(w.idx)
	}
	tk.mu.Unlock()
}

// run wakes the waiters whose time has come, then sleeps until the tick
// of the next one, or until a waiter due sooner kicks it.
func (tk *ticker) run() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	var due []*tickWaiter
	for {
		tk.mu.Lock()
		now := clockNow()
		for len(tk.waits) > 0 && tk.waits[0].at <= now {
			due = append(due, tk.waits.remove(0))
		}
		tk.planned = 0
		if len(tk.waits) > 0 {
			tk.planned = ceilTick(tk.waits[0].at)
		}
		planned := tk.planned
		tk.mu.Unlock()
		for _, w := range due {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
		clear(due)
		due = due[:0]
		if planned == 0 {
			<-tk.kick
			continue
		}
		t.Reset(time.Duration(planned - clockNow()))
		select {
		case <-t.C:
		case <-tk.kick:
			t.Stop()
		}
	}
}

// tickWaiter waits on the monotonic clock in the shared ticker's ticks.
// It has at most one wait in the ticker at a time. A wake that raced with
// the end of an earlier wait (the ticker took the wait just before the
// waiter, woken otherwise, took it back) is told apart by the clock.
type tickWaiter struct {
	wake chan struct{}
	at   int64 // the time waited for; under the ticker's lock while in it
	idx  int   // its place in the ticker's heap, -1 when not in it
}

func newTickWaiter() *tickWaiter { return &tickWaiter{wake: make(chan struct{}, 1), idx: -1} }

func (w *tickWaiter) Until(ctx context.Context, t int64, a, b <-chan struct{}) (Wake, int64) {
	if now := clockNow(); t <= now {
		select {
		case <-a:
			return WokeA, 0
		case <-b:
			return WokeB, 0
		default:
			return Reached, now
		}
	}
	w.at = t
	sharedTicker.add(w)
	for {
		select {
		case <-w.wake:
			if now := clockNow(); now >= t {
				return Reached, now
			}
			// A wake meant for an earlier wait: go on waiting.
			continue
		case <-a:
			sharedTicker.remove(w)
			return WokeA, 0
		case <-b:
			sharedTicker.remove(w)
			return WokeB, 0
		case <-ctx.Done():
			sharedTicker.remove(w)
			return Ended, 0
		}
	}
}

// waitHeap is a binary min-heap of waiters by the time they wait for,
// each knowing its place (so that a wait ended otherwise is taken out at
// once, not left until its time: a producer waiting for a free message
// until the load's end waits many times a second). It is written out
// rather than used through container/heap, whose interface would box
// every entry.
type waitHeap []*tickWaiter

func (h *waitHeap) push(w *tickWaiter) {
	*h = append(*h, w)
	w.idx = len(*h) - 1
	h.up(w.idx)
}

// remove takes out the waiter at i and returns it.
func (h *waitHeap) remove(i int) *tickWaiter {
	s := *h
	w := s[i]
	last := len(s) - 1
	if i != last {
		h.swap(i, last)
	}
	s[last] = nil
	*h = s[:last]
	if i != last {
		h.down(i)
		h.up(i)
	}
	w.idx = -1
	return w
}

func (h waitHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h waitHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].at <= h[i].at {
			return
		}
		h.swap(parent, i)
		i = parent
	}
}

func (h waitHeap) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(h) && h[l].at < h[small].at {
			small = l
		}
		if r := l + 1; r < len(h) && h[r].at < h[small].at {
			small = r
		}
		if small == i {
			return
		}
		h.swap(i, small)
		i = small
	}
}
