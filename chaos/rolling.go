package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// rolling restarts the nodes of a cluster one after another, as an upgrade
// does: node i goes down for each, comes back, and node i+1 goes down each
// later. Inject runs the whole sequence; Heal starts a node the sequence
// left down (an interrupted run).
type rolling struct {
	r        broker.Restarter
	graceful bool
	each     time.Duration
	down     int // the node now down, -1 none
}

func (f *rolling) Kind() string { return "rolling-restart" }

func (f *rolling) Name() string {
	how := "kill"
	if f.graceful {
		how = "graceful"
	}
	return fmt.Sprintf("rolling restart of %d nodes (%s), %s each", f.r.Nodes(), how, f.each)
}

func (f *rolling) Inject(ctx context.Context) error {
	for i := range f.r.Nodes() {
		if i > 0 && !sleep(ctx, f.each) {
			return nil
		}
		f.down = i
		if err := f.r.Stop(ctx, i, f.graceful); err != nil {
			return fmt.Errorf("%s: stopping node %d: %w", f.Name(), i, err)
		}
		if !sleep(ctx, f.each) {
			return nil
		}
		if err := f.r.Start(ctx, i); err != nil {
			return fmt.Errorf("%s: starting node %d again: %w", f.Name(), i, err)
		}
		f.down = -1
	}
	return nil
}

func (f *rolling) Heal(ctx context.Context) error {
	if f.down < 0 {
		return nil
	}
	if err := f.r.Start(ctx, f.down); err != nil {
		return fmt.Errorf("%s: starting node %d again: %w", f.Name(), f.down, err)
	}
	f.down = -1
	return nil
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
