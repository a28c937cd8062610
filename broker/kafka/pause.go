package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// gate holds the connections of one broker port while it is paused: nil is
// open, else a channel closed when the pause ends. One atomic load per Read
// or Write while open.
type gate struct {
	closed atomic.Pointer[chan struct{}]
}

func (g *gate) pause() {
	ch := make(chan struct{})
	g.closed.CompareAndSwap(nil, &ch)
}

func (g *gate) resume() {
	if ch := g.closed.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (g *gate) paused() bool { return g.closed.Load() != nil }

// wait returns once the gate is open, or net.ErrClosed when done is closed
// first (the connection was closed while paused).
func (g *gate) wait(done <-chan struct{}) error {
	for {
		ch := g.closed.Load()
		if ch == nil {
			return nil
		}
		select {
		case <-*ch:
		case <-done:
			return net.ErrClosed
		}
	}
}

func (t *connTracker) pause(ports []int) {
	for _, p := range ports {
		t.gate(p).pause()
	}
}

func (t *connTracker) resume(ports []int) {
	for _, p := range ports {
		t.gate(p).resume()
	}
}

// portsOf lists the port of node, or every port when node < 0.
func (e *embedded) portsOf(node int) []int {
	if node < 0 || node >= len(e.ports) {
		return e.ports
	}
	return e.ports[node : node+1]
}

// Pause freezes node (all when node < 0) as SIGSTOP freezes a broker
// process: its listener still accepts (the kernel would), its open and new
// connections stay open, and nothing is read or answered until Resume.
// kfake's own timers (group sessions) keep running, where a stopped
// process's would wait.
func (e *embedded) Pause(_ context.Context, node int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.closed:
		return errors.New("pausing embedded kafka: the target is closed")
	case node >= e.n:
		return fmt.Errorf("pausing embedded kafka node %d: the cluster has nodes 0..%d", node, e.n-1)
	case e.cluster == nil:
		return errors.New("pausing embedded kafka: the cluster is stopped")
	case node >= 0 && e.down[node]:
		return fmt.Errorf("pausing embedded kafka node %d: it is stopped", node)
	}
	for _, p := range e.portsOf(node) {
		if e.conns.gate(p).paused() {
			return fmt.Errorf("pausing embedded kafka port %d: already paused", p)
		}
	}
	e.conns.pause(e.portsOf(node))
	return nil
}

// Resume lets node (all when node < 0) read and answer again.
func (e *embedded) Resume(_ context.Context, node int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if node >= e.n {
		return fmt.Errorf("resuming embedded kafka node %d: the cluster has nodes 0..%d", node, e.n-1)
	}
	e.conns.resume(e.portsOf(node))
	return nil
}
