package chaos

import (
	"context"
	"fmt"

	"github.com/mqcheck/mqcheck/broker"
)

// Restart takes broker nodes down (kill, or graceful stop) and brings them
// back on the same addresses and data when healed.
type Restart struct {
	R        broker.Restarter
	Node     int // < 0: all nodes
	Graceful bool
	stopped  bool
}

func (f *Restart) Kind() string { return "restart" }

func (f *Restart) Name() string {
	how := "kill"
	if f.Graceful {
		how = "graceful"
	}
	if f.Node < 0 {
		return fmt.Sprintf("restart all nodes (%s)", how)
	}
	return fmt.Sprintf("restart node %d (%s)", f.Node, how)
}

func (f *Restart) Inject(ctx context.Context) error {
	// Even a failed stop may have taken part of the target down: heal tries
	// to start it in any case.
	f.stopped = true
	if err := f.R.Stop(ctx, f.Node, f.Graceful); err != nil {
		return fmt.Errorf("%s: stopping: %w", f.Name(), err)
	}
	return nil
}

func (f *Restart) Heal(ctx context.Context) error {
	if !f.stopped {
		return nil
	}
	if err := f.R.Start(ctx, f.Node); err != nil {
		return fmt.Errorf("%s: starting again: %w", f.Name(), err)
	}
	f.stopped = false
	return nil
}
