// Package barewait ends the bare client loops the benchmarks compare
// mqcheck with: it waits for their consumers to read what was confirmed.
package barewait

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Limit bounds the wait for a bare loop's consumers.
const Limit = time.Minute

// Consumed waits until consumed reaches n (or Limit passes, or ctx ends),
// then stops the consumers (stop) and waits for them (wait): the wait is
// outside the bare loop's timing, as mqcheck's drain is outside its rate.
// It fails with the consumers' error, or when they read fewer than n;
// more than n fails too unless dups (a broker that may deliver twice).
func Consumed(ctx context.Context, consumed *atomic.Int64, n int, dups bool, stop func(), wait func() error) error {
	deadline := time.Now().Add(Limit)
	for consumed.Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := wait(); err != nil {
		return err
	}
	if got := consumed.Load(); got < int64(n) || got > int64(n) && !dups {
		return fmt.Errorf("bare consume: %d of %d confirmed messages read", got, n)
	}
	return nil
}
