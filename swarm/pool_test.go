package swarm

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
)

// TestMsgPoolBoundsInFlight runs a publishing loop against a completion
// goroutine and checks that no more than the pool's size is ever in flight
// and that the loop never stalls for good, for window sizes around the
// batching thresholds.
func TestMsgPoolBoundsInFlight(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 63, 256, 1000} {
		msgs := make([]*broker.Message, n)
		for i := range msgs {
			msgs[i] = &broker.Message{}
		}
		p := newMsgPool(msgs)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		inflight := make(chan *broker.Message, n)
		outstanding := map[*broker.Message]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the driver: completes in order, one at a time
			defer wg.Done()
			for m := range inflight {
				mu.Lock()
				delete(outstanding, m)
				mu.Unlock()
				p.put(m)
			}
		}()
		for i := 0; i < 20000; i++ {
			m, _ := p.get(ctx, monoClock{}.NewWaiter(), math.MaxInt64, nil)
			if m == nil {
				t.Fatalf("n=%d: loop stalled after %d messages", n, i)
			}
			mu.Lock()
			if outstanding[m] {
				t.Fatalf("n=%d: message handed out twice", n)
			}
			outstanding[m] = true
			if len(outstanding) > n {
				t.Fatalf("n=%d: %d in flight", n, len(outstanding))
			}
			mu.Unlock()
			inflight <- m // would block (and the test time out) past n in flight
		}
		close(inflight)
		wg.Wait()
		cancel()
	}
}

// TestCollectorReadDuringClose reads the collector while it closes, as a
// metrics scrape at the end of a run does.
func TestCollectorReadDuringClose(t *testing.T) {
	for range 50 {
		col := NewCollector(checker.New(checker.NewNames("s0")))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					col.Totals()
				}
			}()
		}
		col.Close()
		wg.Wait()
	}
}
