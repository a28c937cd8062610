package chaos

import (
	"context"
	"fmt"

	"github.com/mqcheck/mqcheck/broker"
)

// pause freezes broker nodes (SIGSTOP, or an embedded broker that stops
// reading its sockets) and lets them go on when healed: connections stay
// open and nothing is answered meanwhile.
type pause struct {
	p      broker.Pauser
	node   int
	paused bool
}

func (f *pause) Kind() string { return "pause" }

func (f *pause) Name() string {
	if f.node < 0 {
		return "pause all nodes"
	}
	return fmt.Sprintf("pause node %d", f.node)
}

func (f *pause) Inject(ctx context.Context) error {
	// A pause that failed halfway may have frozen some nodes: heal resumes
	// in any case.
	f.paused = true
	if err := f.p.Pause(ctx, f.node); err != nil {
		return fmt.Errorf("%s: %w", f.Name(), err)
	}
	return nil
}

func (f *pause) Heal(ctx context.Context) error {
	if !f.paused {
		return nil
	}
	if err := f.p.Resume(ctx, f.node); err != nil {
		return fmt.Errorf("%s: resuming: %w", f.Name(), err)
	}
	f.paused = false
	return nil
}
