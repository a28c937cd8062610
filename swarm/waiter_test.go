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
