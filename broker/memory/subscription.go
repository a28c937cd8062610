package memory

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mqcheck/mqcheck/broker"
)

// subscription is one consumer group (partitioned mode) or one queue (queue
// mode). Everything in it is guarded by Broker.mu.
type subscription struct {
	index int
	// lanes are the partitions, or the single queue in queue mode.
	lanes []lane
	// members are the running consumers, sorted by ID, which is the order
	// partitions are dealt in.
	members []*consumer
	// backlog counts entries added and not yet acknowledged: queued, in a
	// consumer's batch, or held back by a reorder.
	backlog int64
	// queued is the broker's count of backlog bytes (entryCost each), which
	// every subscription adds to: publishes read it without the lock.
	queued *atomic.Int64
	queue  bool
}

// entryOverhead is what a waiting delivery costs besides its payload: its
// slot in a lane.
const entryOverhead = int64(unsafe.Sizeof(entry{}))

// entryCost is what e counts against Config.MaxBacklog.
func entryCost(e *entry) int64 { return int64(len(e.payload)) + entryOverhead }

// count adds e to the backlog.
func (s *subscription) count(e *entry) {
	s.backlog++
	s.queued.Add(entryCost(e))
}

type lane struct {
	q deque
	// owner is the consumer the partition is assigned to (partitioned mode).
	owner *consumer
	// holder is the consumer with entries of this lane in its batch. A new
	// owner waits until the previous holder gives them back, so a partition
	// never has two consumers at once and its order survives a rebalance.
	holder *consumer
	// stored counts the entries ever stored in the lane: the next log index.
	stored uint64
}

func newSubscription(index, lanes int, queue bool, queued *atomic.Int64) *subscription {
	return &subscription{index: index, lanes: make([]lane, lanes), queue: queue, queued: queued}
}

// add stores a new delivery at the lane's next log index, enqueues it and
// counts it in the backlog. It returns the entry as stored.
func (s *subscription) add(e entry) entry {
	e.pos = s.store(e.lane)
	s.count(&e)
	s.enqueue(e)
	return e
}

// store takes the next log index of a lane.
func (s *subscription) store(lane int) uint64 {
	ln := &s.lanes[lane]
	ln.stored++
	return ln.stored - 1
}

// enqueue appends to the lane and wakes whoever can take it.
func (s *subscription) enqueue(e entry) {
	ln := &s.lanes[e.lane]
	ln.q.pushBack(e)
	if s.queue {
		s.wakeWaiting()
		return
	}
	if o := ln.owner; o != nil && o.waiting && ln.holder == nil {
		o.waiting = false
		o.signal()
	}
}

// wakeWaiting wakes every idle member; those with nothing to take go back to
// sleep. Cheaper than working out who could fetch, and only idle members pay.
func (s *subscription) wakeWaiting() {
	for _, m := range s.members {
		if m.waiting {
			m.waiting = false
			m.signal()
		}
	}
}

// notice is a rebalance notice waiting to be sent once Broker.mu is released:
// Notify is the swarm's code and may call back into the broker.
type notice struct {
	notify func(broker.Notice)
	n      broker.Notice
}

func sendNotices(ns []notice) {
	for _, n := range ns {
		n.notify(n.n)
	}
}

// join makes c a member of its subscription. Called with b.mu held.
func (b *Broker) join(c *consumer) ([]notice, error) {
	switch {
	case b.closed:
		return nil, errBrokerClosed
	case c.closed:
		return nil, errConsumerClosed
	case c.running:
		return nil, errAlreadyRunning
	}
	c.running = true
	b.running.Add(1)
	s := c.sub
	i, _ := slices.BinarySearchFunc(s.members, c.id, func(m *consumer, id int) int { return m.id - id })
	// Equal IDs go after the existing member: joining order breaks the tie.
	for i < len(s.members) && s.members[i].id == c.id {
		i++
	}
	s.members = slices.Insert(s.members, i, c)
	return b.rebalance(s, nil), nil
}

// leave removes c from its subscription; c must have given its batch back.
// Called with b.mu held.
func (b *Broker) leave(c *consumer) []notice {
	if !c.running {
		return nil
	}
	b.release(c)
	c.running = false
	b.running.Add(-1)
	// With no consumer left nothing can make room: waiting publishes go on.
	b.makeRoom()
	c.waiting = false
	s := c.sub
	s.members = slices.DeleteFunc(s.members, func(m *consumer) bool { return m == c })
	return b.rebalance(s, c)
}

// rebalance deals the partitions round-robin over the members in ID order and
// tells every consumer whose assignment changed. A member that loses a
// partition while it has a batch is asked to give the batch back early (the
// revoke bit), as a cooperative Kafka consumer would at its next poll.
// Queue mode has nothing to deal. Called with b.mu held.
func (b *Broker) rebalance(s *subscription, leaver *consumer) []notice {
	if s.queue {
		return nil
	}
	type change struct {
		c                 *consumer
		assigned, revoked []string
	}
	var changes []*change
	find := func(c *consumer) *change {
		for _, ch := range changes {
			if ch.c == c {
				return ch
			}
		}
		ch := &change{c: c}
		changes = append(changes, ch)
		return ch
	}
	for l := range s.lanes {
		ln := &s.lanes[l]
		var owner *consumer
		if len(s.members) > 0 {
			owner = s.members[l%len(s.members)]
		}
		if owner == ln.owner {
			continue
		}
		if old := ln.owner; old != nil {
			find(old).revoked = append(find(old).revoked, b.domains[l])
			if len(old.batch) > 0 {
				old.state.Or(revokeBit)
			}
			if old != leaver && old.handover != nil && ln.holder == nil {
				// The old owner delivered from it: the partition moves on
				// once that owner has handed over what it received.
				ln.holder = old
				old.handing = append(old.handing, l)
				old.signal()
			}
		}
		if owner != nil {
			find(owner).assigned = append(find(owner).assigned, b.domains[l])
		}
		ln.owner = owner
	}
	for _, m := range s.members {
		m.owned = m.owned[:0]
	}
	if leaver != nil {
		leaver.owned = leaver.owned[:0]
	}
	for l := range s.lanes {
		if o := s.lanes[l].owner; o != nil {
			o.owned = append(o.owned, l)
		}
	}
	s.wakeWaiting()

	var out []notice
	now := time.Now()
	for _, ch := range changes {
		if ch.c.notify == nil {
			continue
		}
		var d strings.Builder
		fmt.Fprintf(&d, "consumer %d of subscription %d:", ch.c.id, s.index)
		if len(ch.assigned) > 0 {
			fmt.Fprintf(&d, " assigned %s;", strings.Join(ch.assigned, ","))
		}
		if len(ch.revoked) > 0 {
			fmt.Fprintf(&d, " revoked %s;", strings.Join(ch.revoked, ","))
		}
		fmt.Fprintf(&d, " %d members", len(s.members))
		out = append(out, notice{notify: ch.c.notify, n: broker.Notice{Kind: "rebalance", Detail: d.String(), At: now}})
	}
	return out
}
