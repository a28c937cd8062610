package chaos

import (
	"context"
	"fmt"
)

// StorePauser freezes and resumes the processing store's private server
// (consumers.processing with target exec).
type StorePauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// storePause freezes the processing store for the fault's length: the
// consumers' calls to it wait, as on a server that stalls.
type storePause struct{ s StorePauser }

func (f *storePause) Kind() string { return "store-pause" }
func (f *storePause) Name() string { return "pause the processing store" }

func (f *storePause) Inject(ctx context.Context) error {
	if err := f.s.Pause(ctx); err != nil {
		return fmt.Errorf("pausing the processing store: %w", err)
	}
	return nil
}

func (f *storePause) Heal(ctx context.Context) error {
	if err := f.s.Resume(ctx); err != nil {
		return fmt.Errorf("resuming the processing store: %w", err)
	}
	return nil
}

func buildStorePause(d *Deps, o Occurrence, path string) (Fault, error) {
	if d.Store == nil {
		return nil, fmt.Errorf("%s: store-pause needs a processing store whose server mqcheck started (consumers.processing.target: exec)", path)
	}
	return &storePause{s: d.Store}, nil
}
