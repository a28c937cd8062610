package swarm

import (
	"context"
	"sync"
	"time"
)

// flushContexts hands finishing producers the context that bounds their
// Flush: the flush timeout from when they finish, or the run's abort.
// Producers that finish within an eighth of the timeout of one another
// share one: a context.WithTimeout each put 10,000 producers finishing
// together through the runtime's timer heap and its lock, two thirds of
// their finish's CPU.
type flushContexts struct {
	timeout time.Duration
	abort   <-chan struct{}

	mu      sync.Mutex
	ctx     context.Context
	made    time.Time
	cancels []context.CancelFunc
}

func newFlushContexts(timeout time.Duration, abort <-chan struct{}) *flushContexts {
	return &flushContexts{timeout: timeout, abort: abort}
}

// get returns a context that ends at least seven eighths of the timeout
// from now, or when the run is aborted.
func (f *flushContexts) get() context.Context {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx != nil && now.Sub(f.made) <= f.timeout/8 {
		return f.ctx
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	if f.abort != nil {
		go func() {
			select {
			case <-f.abort:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	f.ctx, f.made = ctx, now
	f.cancels = append(f.cancels, cancel)
	return ctx
}

// close releases every context handed out, once every Flush returned.
func (f *flushContexts) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cancel := range f.cancels {
		cancel()
	}
	f.cancels, f.ctx = nil, nil
}
