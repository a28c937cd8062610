package broker

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by a Consumer's Run after Close.
var ErrClosed = errors.New("consumer closed")

// ErrRunning is returned by a second Run while one is running.
var ErrRunning = errors.New("consumer already running")

// RunGuard is the bookkeeping every Consumer needs around Run and Close:
// one Run at a time, none after Close, and Close stops a running Run and
// waits for it to return. The zero value is ready to use.
type RunGuard struct {
	mu      sync.Mutex
	closed  bool
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Begin starts a Run: it returns the context the Run must follow (ended
// by Close) and the function the Run defers.
func (g *RunGuard) Begin(ctx context.Context) (context.Context, func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
		return nil, nil, ErrClosed
	case g.running:
		return nil, nil, ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	g.running, g.cancel, g.done = true, cancel, done
	return ctx, func() {
		cancel()
		g.mu.Lock()
		g.running = false
		g.mu.Unlock()
		close(done)
	}, nil
}

// Close marks the consumer closed, ends a running Run and waits for it. It
// reports false when the consumer was closed already.
func (g *RunGuard) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	cancel, done := g.cancel, g.done
	g.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return true
}
