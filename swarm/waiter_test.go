package swarm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestTimerWaiter: a wait returns Reached never before its time, with a
// reading of the clock no earlier than it, several waiters at once; a
// wait ended by a channel says so, and the waiter's next wait (its timer
// reused) still waits for its time.
func TestTimerWaiter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const waiters, waits = 8, 5
	errs := make(chan string, waiters*waits)
	done := make(chan struct{})
	for i := range waiters {
		go func() {
			defer func() { done <- struct{}{} }()
			w := &timerWaiter{}
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

	w := &timerWaiter{}
	stop := make(chan struct{})
	close(stop)
	if got, _ := w.Until(ctx, clockNow()+int64(time.Hour), stop, nil); got != WokeA {
		t.Fatalf("wait with a closed a: %d, want WokeA", got)
	}
	at := clockNow() + int64(2*time.Millisecond)
	if got, _ := w.Until(ctx, at, nil, nil); got != Reached || clockNow() < at {
		t.Errorf("next wait: %d, %s before its time", got, time.Duration(at-clockNow()))
	}
}

// TestUntilFrom: a wait from the caller's reading reads no clock when it can tell from the
// reading alone; from a stale reading it still ends at its time, not the reading's age
// late, and never before it.
func TestUntilFrom(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &timerWaiter{}
	now := clockNow()
	if got, reading := w.UntilFrom(ctx, now-1, now, nil, nil); got != Reached || reading != now {
		t.Errorf("time already passed: %d, reading %d, want Reached with the caller's %d", got, reading, now)
	}
	for _, age := range []time.Duration{0, 50 * time.Millisecond, time.Second} {
		at := clockNow() + int64(20*time.Millisecond)
		got, reading := w.UntilFrom(ctx, at, clockNow()-int64(age), nil, nil)
		end := clockNow()
		if got != Reached || end < at || reading < at {
			t.Errorf("reading %s old: %d, ended %s before its time", age, got, time.Duration(at-end))
		}
		// fromCheck, and generous slack for a loaded machine: without the check a
		// second-old reading would end the wait a second late.
		if late := time.Duration(end - at); late > fromCheck+300*time.Millisecond {
			t.Errorf("reading %s old: ended %s late", age, late)
		}
	}
}
