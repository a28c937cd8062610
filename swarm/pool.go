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
// few it has in flight, not a whole window of payloads. And they are let go
// when no longer needed: a producer whose window filled once (a broker
// that stalled, then caught up) drops the messages that stay idle.
//
// Idle is judged over periods of at least shrinkGets messages taken, and
// at least two windows' worth (size): a client that completes in bursts
// of thousands (franz-go answers a batch per partition at once) has its
// most in flight at some moment of each window's sends, which a shorter
// period can miss, so messages were dropped and made again all along (an
// eighth of a closed-loop Kafka run's messages, window 50,000). The
// loop notes the most it had out at once (taken and not yet handed back
// to it, so a batch of returns not yet handed over counts as out). What
// it made beyond that peak was idle the whole period; if that is more
// than two batches of returns (2×retMax), half of it, less one batch,
// goes at the next hand-over of returns. The slack kept means a steady
// load, paced or window-bound, makes no message twice.
//
// Its fields sit on 64-byte lines by who writes them (192 bytes, a size
// class whose objects start on a line; TestPoolLayout keeps it so): line
// 0 is written at hand-overs, line 1 by the loop at each take, line 2 by
// the completion side at each put. With the loop's slice next to the
// completion side's, each take and each put moved a line between two
// cores.
type msgPool struct {
	// Line 0: under mu, or atomic.
	mu      sync.Mutex
	shared  []*broker.Message // returned, not yet taken
	waiting atomic.Bool       // the loop found nothing and sleeps on wake
	wake    chan struct{}
	// flushed counts the messages handed back by the completion side
	// (added once a batch).
	flushed atomic.Uint64
	retMax  int

	// Line 1: the publishing loop's. taken counts the messages it took;
	// peak is the most it had out at once this period, and gets the
	// messages taken in it.
	local      []*broker.Message
	taken      uint64
	made       int
	peak, gets int
	size       int

	// Line 2: the completion side's ret, and what the loop reads only
	// to make messages or at a hand-over.
	ret    []*broker.Message
	newMsg func() *broker.Message
	period int // gets per shrinking period
	_      [24]byte
}

// shrinkGets is the shortest shrinking period, in messages taken.
const shrinkGets = 4096

func newMsgPool(size int, newMsg func() *broker.Message) *msgPool {
	// Returns are handed over at least every quarter window, so the loop
	// never waits long for messages that are already done.
	retMax := min(64, max(1, size/4))
	// ret grows to what the completions hand back at once: a slow
	// producer of a fleet, one message in flight, kept 64 empty slots
	// (512 B each, for the garbage collector to scan) until it ended.
	return &msgPool{wake: make(chan struct{}, 1), ret: make([]*broker.Message, 0, min(retMax, 2)), retMax: retMax,
		newMsg: newMsg, size: size, period: max(shrinkGets, 2*size)}
}

// get returns a free message, waiting while all are in flight (with w, at
// most until deadline on its clock); nil when ctx ends or the deadline
// passes first, or when intr fires while it waits (interrupted is then
// true). now, when not 0, is a reading of the clock just taken, which a
// first wait starts from instead of reading it again (fromWaiter).
func (p *msgPool) get(ctx context.Context, w Waiter, deadline, now int64, intr <-chan struct{}) (m *broker.Message, interrupted bool) {
	for {
		if m := p.take(true); m != nil {
			return m, false
		}
		var wake Wake
		if fw, ok := w.(fromWaiter); ok && now != 0 {
			wake, _ = fw.UntilFrom(ctx, deadline, now, p.wake, intr)
			now = 0 // older by a wait: a second wait reads the clock
		} else {
			wake, _ = w.Until(ctx, deadline, p.wake, intr)
		}
		switch wake {
		case WokeA:
		case WokeB:
			p.waiting.Store(false)
			return nil, true
		default:
			p.waiting.Store(false)
			return nil, false
		}
	}
}

// tryGet returns a free message, or nil when all are in flight, without
// waiting (a lane's send: see lane.go).
func (p *msgPool) tryGet() *broker.Message { return p.take(false) }

// take returns a free message: one handed back, or a new one while fewer
// than size were made; nil when all are in flight. With wait it then has
// marked the loop waiting, under the lock, so that returns handed over
// after it wake the loop.
func (p *msgPool) take(wait bool) *broker.Message {
	if len(p.local) == 0 {
		p.mu.Lock()
		switch {
		case len(p.shared) > 0:
			p.local, p.shared = p.shared, p.local[:0]
			p.mu.Unlock()
			p.shrink()
		case p.made < p.size:
			p.mu.Unlock()
			p.made++
			p.took()
			return p.newMsg()
		default:
			if wait {
				p.waiting.Store(true)
			}
			p.mu.Unlock()
			return nil
		}
	}
	m := p.local[len(p.local)-1]
	p.local = p.local[:len(p.local)-1]
	p.took()
	return m
}

// took counts a message taken, and the most out at once.
func (p *msgPool) took() {
	p.taken++
	p.gets++
	p.peak = max(p.peak, int(p.taken-p.flushed.Load()))
}

// shrink, at a hand-over of returns (just taken into local) after a
// period, drops the messages that stayed idle throughout it.
func (p *msgPool) shrink() {
	if p.gets < p.period {
		return
	}
	if idle := p.made - p.peak; idle > 2*p.retMax {
		drop := min((idle-p.retMax)/2, len(p.local))
		keep := len(p.local) - drop
		clear(p.local[keep:])
		p.local = p.local[:keep]
		p.made -= drop
	}
	p.peak, p.gets = 0, 0
}

// unget gives back a message the loop took but did not send.
func (p *msgPool) unget(m *broker.Message) {
	p.local = append(p.local, m)
	p.taken--
}

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
	p.flushed.Add(uint64(len(p.ret)))
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
