package swarm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestCeilTick(t *testing.T) {
	ms := tick
	for _, tc := range []struct{ in, want int64 }{
		{0, 0},
		{1, ms},
		{ms - 1, ms},
		{ms, ms},
		{ms + 1, 2 * ms},
		{7*ms + ms/2, 8 * ms},
		{math.MaxInt64, math.MaxInt64}, // a wait without end does not wrap
		{math.MaxInt64 - 1, math.MaxInt64 - 1},
	} {
		if got := ceilTick(tc.in); got != tc.want {
			t.Errorf("ceilTick(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestWaitHeap pushes waits in a shuffled order, takes some out from the
// middle (waits ended otherwise) and checks that the rest come out by
// time, each knowing its place throughout.
func TestWaitHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200
	ws := make([]*tickWaiter, n)
	var h waitHeap
	for i, at := range rng.Perm(n) {
		ws[i] = &tickWaiter{at: int64(at), idx: -1}
		h.push(ws[i])
	}
	check := func() {
		t.Helper()
		for i, w := range h {
			if w.idx != i {
				t.Fatalf("waiter at %d thinks it is at %d", i, w.idx)
			}
		}
	}
	check()
	removed := map[int64]bool{}
	for i := 0; i < n; i += 3 {
		w := ws[i]
		if got := h.remove(w.idx); got != w || w.idx != -1 {
			t.Fatalf("remove(%d) took %p (idx %d), want %p", i, got, got.idx, w)
		}
		removed[w.at] = true
		check()
	}
	prev := int64(-1)
	count := 0
	for len(h) > 0 {
		w := h.remove(0)
		if w.at <= prev || removed[w.at] {
			t.Fatalf("popped %d after %d (removed %v)", w.at, prev, removed[w.at])
		}
		prev = w.at
		count++
		check()
	}
	if want := n - len(removed); count != want {
		t.Errorf("popped %d waits, want %d", count, want)
	}
}

// TestTickWaiter: a wait returns Reached never before its time, several
// waiters at once; a wait ended by a channel leaves nothing in the ticker,
// and its waiter's next wait is not ended early by a stale wake.
func TestTickWaiter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const waiters, waits = 8, 5
	errs := make(chan string, waiters*waits)
	done := make(chan struct{})
	for i := range waiters {
		go func() {
			defer func() { done <- struct{}{} }()
			w := newTickWaiter()
			for j := range waits {
				at := clockNow() + int64(i*100+j*300)*int64(time.Microsecond)
				got, reading := w.Until(ctx, at, nil, nil)
				if got != Reached {
					errs <- fmt.Sprintf("wait ended with %d, want Reached", got)
					return
				}
				if now := clockNow(); now < at || reading < at || reading > now {
					errs <- fmt.Sprintf("woken %s early, reading %d outside [%d, %d]", time.Duration(at-now), reading, at, now)
				}
			}
		}()
	}
	for range waiters {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	w := newTickWaiter()
	stop := make(chan struct{})
	close(stop)
	if got, _ := w.Until(ctx, clockNow()+int64(time.Hour), stop, nil); got != WokeA {
		t.Fatalf("wait with a closed a: %d, want WokeA", got)
	}
	sharedTicker.mu.Lock()
	idx := w.idx
	sharedTicker.mu.Unlock()
	if idx != -1 {
		t.Errorf("a wait ended by a is still in the ticker at %d", idx)
	}
	// A stale wake in the channel (a race the ticker can lose) does not
	// end the next wait before its time.
	w.wake <- struct{}{}
	at := clockNow() + int64(2*time.Millisecond)
	if got, _ := w.Until(ctx, at, nil, nil); got != Reached || clockNow() < at {
		t.Errorf("wait after a stale wake: %d, %s before its time", got, time.Duration(at-clockNow()))
	}
}
