package swarm

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mqcheck/mqcheck/broker"
)

// A lane is one goroutine that makes the paced sends of many producers,
// in the order they are due, so that a fleet's pacing costs a timer and a
// goroutine wake per lane, not per producer: with a goroutine per
// producer, 1,000 producers at 20k/s in total spent half the swarm's CPU
// in the scheduler and the runtime's timer heap, and each message cost
// 1.8-2.5 times what one producer's did.
//
// Each producer's sends are due in turn (producer i's hits are i, i+P,
// ...: see Pacer), so a lane that visits its producers round-robin meets
// the sends in their due order. A lane hands a producer over to a
// goroutine of its own (runFrom: the loop a producer runs alone) when it
// cannot send without waiting on that producer: its window is full (a
// slow or stalled broker), a crash is asked of it. That goroutine keeps
// the producer to the end of the load, so a stall costs what it cost
// before lanes and never holds the lane's other producers back. A
// Publish that blocks does hold them: their sends go late, and their
// latency, counted from when they were due, shows it.

// Paced producers share lanes from two on (laneFrom); one runs alone,
// as it would on a lane of its own. With a goroutine each, 10 producers
// at 20k/s in total cost 1.4-1.5× one producer's CPU per message, on
// lanes 1.16×: ten goroutines each woken by a timer of its own. A
// Publish that waits in the normal course (broker.PublishWaiter) gets a
// goroutine of its own however many producers there are.
//
// fleetProducers is the fewest producers of a fleet, which share batches
// of outcomes (sharedOutcomes). laneProducers is the most a lane drives:
// every lane is a timer waking the runtime, so a core's lane drives
// thousands (10,000 producers at 20k/s in total on 10 lanes cost 1.9× one
// producer's CPU per message, on 2 lanes 1.4-1.6×). A lane keeps up with
// its producers' rate as one goroutine alone would: a round of 5,000
// sends takes milliseconds.
const (
	laneFrom       = 2
	fleetProducers = 64
	laneProducers  = 5000
)

// laneCount is how many lanes drive n paced producers (0: none); set is
// Config.Lanes.
func laneCount(n, set int) int {
	switch {
	case set < 0:
		return 0
	case set > 0:
		return min(set, n)
	case n < laneFrom:
		return 0
	}
	return min(n, max(runtime.GOMAXPROCS(0), (n+laneProducers-1)/laneProducers))
}

// runLanes runs ps's loads on lanes, producer i on lane i mod lanes
// (a producer whose Publish waits, broker.PublishWaiter, alone), and
// returns once every producer has finished (flushed and closed).
func runLanes(ctx context.Context, ps []*producer, lanes int, load *loadSpan, flush *flushContexts) {
	var wg sync.WaitGroup
	laned := make([]*producer, 0, len(ps))
	for _, p := range ps {
		if w, ok := p.drv.(broker.PublishWaiter); ok && w.PublishWaits() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.run(ctx, load, flush)
			}()
			continue
		}
		laned = append(laned, p)
	}
	for l := range lanes {
		var mine []*producer
		for i := l; i < len(laned); i += lanes {
			mine = append(mine, laned[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLane(ctx, mine, load, flush, &wg)
		}()
	}
	wg.Wait()
}

// runLane makes ps's paced sends until each producer's load is over or it
// was handed a goroutine of its own; wg counts the goroutines it starts.
func runLane(ctx context.Context, ps []*producer, load *loadSpan, flush *flushContexts, wg *sync.WaitGroup) {
	if len(ps) == 0 {
		return
	}
	cfg := ps[0].cfg
	clock := ps[0].clock
	w := clock.NewWaiter()
	start := load.start.Load()
	stride := cfg.producerStride()
	first := cfg.StartSeq
	next := make([]uint64, len(ps)) // each producer's next seq
	for i := range next {
		next[i] = first
	}
	// The lane's producers record their exact send times into one batch,
	// the lane's (see producer.sentTo), handed over when the lane ends.
	var sent *batch
	for _, p := range ps {
		p.sentTo = &sent
	}
	col := ps[0].col
	defer func() {
		if sent != nil {
			col.add(sent)
		}
	}()
	// leave ends a producer's part in the lane: alone (from its next
	// send on) or finished (see finishAll). Either way the producer
	// records what it sends from then on into a batch of its own, away
	// from the lane's goroutine.
	var finished []*producer
	leave := func(p *producer, alone bool, seq uint64, now int64) {
		if !alone {
			p.sampleLast() // into the lane's batch
			p.sentTo = &p.sent
			finished = append(finished, p)
			return
		}
		p.sentTo = &p.sent
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.runFrom(ctx, load, flush, seq, now)
		}()
	}
	// now is the lane's last reading of the clock, as in runFrom.
	var now int64
	for len(ps) > 0 {
		kept := 0
		for i, p := range ps {
			seq := next[i]
			end := load.end.Load()
			due, ok := cfg.Pacer.Due(uint64(p.id) + (seq-first)*stride)
			if !ok || start+int64(due) >= end {
				leave(p, false, seq, now)
				continue
			}
			intended := start + int64(due)
			if intended > now {
				var wake Wake
				switch wake, now = w.Until(ctx, intended, load.stop, nil); wake {
				case Ended:
					p.notSent(load, seq-first, min(clock.Now(), load.end.Load()))
					leave(p, false, seq, now)
					continue
				case WokeA:
					// The load was ended early: this send is due after
					// the new end, or it is due now.
					if intended >= load.end.Load() {
						leave(p, false, seq, now)
						continue
					}
					now = clock.Now()
				}
			}
			if p.crash.wanted.Load() {
				leave(p, true, seq, now)
				continue
			}
			m := p.pool.tryGet()
			if m == nil {
				leave(p, true, seq, now)
				continue
			}
			if !p.publish(ctx, load, m, seq, intended, now) {
				leave(p, false, seq, now)
				continue
			}
			next[kept], ps[kept] = seq+1, p
			kept++
		}
		clear(ps[kept:])
		ps, next = ps[:kept], next[:kept]
		if len(finished) > 0 {
			stopped(load, clock.Now())
			finishAll(finished, flush.get(), wg)
			finished = nil
		}
	}
}

// finishers is the most goroutines that finish a lane's producers at
// once: a goroutine each cost 10,000 producers finishing together a
// goroutine's start, stack and exit apiece, and a driver's Flush and
// Close that wait on the network still overlap 32 at a time.
const finishers = 32

// finishAll finishes ps (flushes and closes them) on up to finishers
// goroutines, their flushes bounded by fctx, which every one of ps
// shares: a flush that waits until fctx ends does not hold back the
// next ones' timeouts. wg counts the goroutines.
func finishAll(ps []*producer, fctx context.Context, wg *sync.WaitGroup) {
	var next atomic.Int64
	for range min(len(ps), finishers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ps)) {
					return
				}
				ps[i].finish(fctx)
			}
		}()
	}
}
