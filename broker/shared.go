package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// flushPoll is how often WaitCompleted looks at the count: Flush runs at
// the end of a load, never per message.
const flushPoll = 2 * time.Millisecond

// WaitCompleted waits until *pending, a producer's count of publishes not
// yet completed, is 0, or ctx ends (its error returned): Flush for drivers
// that keep such a count.
func WaitCompleted(ctx context.Context, pending *atomic.Int64) error {
	if pending.Load() <= 0 {
		return nil
	}
	t := time.NewTicker(flushPoll)
	defer t.Stop()
	for pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// OneNode is the answer of a Restarter of a single node (0) asked about
// node (all nodes when node < 0): nil, or an error saying what (a verb and
// the broker: "stopping goaws") cannot be done.
func OneNode(what string, node int) error {
	if node > 0 {
		return fmt.Errorf("%s node %d: the target has one node (0)", what, node)
	}
	return nil
}
