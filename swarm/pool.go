package swarm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/mqcheck/mqcheck/broker"
)

// msgPool is a producer's set of messages: its size is the in-flight
// bound. The publishing loop takes messages from a private list and the
// completion side returns them in batches, so neither side synchronizes per
// message (a channel send and receive per message cost a third of the
// throughput against an in-process Kafka). Messages are made when the loop
// finds none returned, up to size: a slow producer of a fleet holds the
// few it has in flight, not a whole window of payloads.
type msgPool struct {
	mu      sync.Mutex
	shared  []*broker.Message // returned, not yet taken
	waiting atomic.Bool       // the loop found nothing and sleeps on wake
	wake    chan struct{}
	local   []*broker.Message // owned by the publishing loop
	ret     []*broker.Message // owned by the completion side
	retMax  int
	newMsg  func() *broker.Message
	size    int
	made    int // owned by the publishing loop
}

func newMsgPool(size int, newMsg func() *broker.Message) *msgPool {
	// Returns are handed over at least every quarter window, so the loop
	// never waits long for messages that are already done.
	retMax := min(64, max(1, size/4))
	return &msgPool{wake: make(chan struct{}, 1), ret: make([]*broker.Message, 0, retMax), retMax: retMax,
		newMsg: newMsg, size: size}
}

// get returns a free message, waiting while all are in flight (with w, at
// most until deadline on its clock); nil when ctx ends or the deadline
// passes first, or when intr fires while it waits (interrupted is then
// true).
func (p *msgPool) get(ctx context.Context, w Waiter, deadline int64, intr <-chan struct{}) (m *broker.Message, interrupted bool) {
	for len(p.local) == 0 {
		p.mu.Lock()
		if len(p.shared) > 0 {
			p.local, p.shared = p.shared, p.local[:0]
			p.mu.Unlock()
			break
		}
		if p.made < p.size {
			p.mu.Unlock()
			p.made++
			return p.newMsg(), false
		}
		p.waiting.Store(true)
		p.mu.Unlock()
		switch wake, _ := w.Until(ctx, deadline, p.wake, intr); wake {
		case WokeA:
		case WokeB:
			p.waiting.Store(false)
			return nil, true
		default:
			p.waiting.Store(false)
			return nil, false
		}
	}
	m = p.local[len(p.local)-1]
	p.local = p.local[:len(p.local)-1]
	return m, false
}

// unget gives back a message the loop took but did not send.
func (p *msgPool) unget(m *broker.Message) { p.local = append(p.local, m) }

// put returns a completed message; called only from the completion side.
// last says nothing else is in flight: the returns are handed over now.
func (p *msgPool) put(m *broker.Message, last bool) {
	p.ret = append(p.ret, m)
	if last || len(p.ret) >= p.retMax || p.waiting.Load() {
		p.flush()
	}
}

// flush hands the completion side's returns to the loop.
func (p *msgPool) flush() {
	if len(p.ret) == 0 {
		return
	}
	p.mu.Lock()
	p.shared = append(p.shared, p.ret...)
	p.ret = p.ret[:0]
	wake := p.waiting.Swap(false)
	p.mu.Unlock()
	if wake {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}
