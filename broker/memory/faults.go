package memory

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"

	"github.com/mqcheck/mqcheck/broker"
)

// faultKind is one knob of Faults.
type faultKind uint8

const (
	noFault faultKind = iota
	faultDrop
	faultDuplicate
	faultDuplicateRedelivered
	faultReorder
	faultCorrupt
	faultWithholdAckDelivered
	faultWithholdAckDropped
	faultReject
	faultPhantom
	numKinds
)

// String is the knob's YAML name, so errors point at what to edit.
func (k faultKind) String() string {
	switch k {
	case faultDrop:
		return "drop"
	case faultDuplicate:
		return "duplicate"
	case faultDuplicateRedelivered:
		return "duplicate_redelivered"
	case faultReorder:
		return "reorder"
	case faultCorrupt:
		return "corrupt"
	case faultWithholdAckDelivered:
		return "withhold_ack_delivered"
	case faultWithholdAckDropped:
		return "withhold_ack_dropped"
	case faultReject:
		return "reject"
	case faultPhantom:
		return "phantom"
	}
	return "none"
}

// The errors producers see with injected outcomes. They say the outcome was
// injected so that a reader of a run's log does not hunt for a broker bug.
var (
	errWithheld = errors.New("memory broker: publish confirm withheld (injected fault)")
	errNacked   = errors.New("memory broker: publish nacked (injected fault)")
)

func faultCounts(f Faults) [numKinds]int {
	var c [numKinds]int
	c[faultDrop] = f.Drop
	c[faultDuplicate] = f.Duplicate
	c[faultDuplicateRedelivered] = f.DuplicateRedelivered
	c[faultReorder] = f.Reorder
	c[faultCorrupt] = f.Corrupt
	c[faultWithholdAckDelivered] = f.WithholdAckDelivered
	c[faultWithholdAckDropped] = f.WithholdAckDropped
	c[faultReject] = f.Reject
	c[faultPhantom] = f.Phantom
	return c
}

func faultsFrom(c *[numKinds]atomic.Int64, window int) Faults {
	n := func(k faultKind) int { return int(c[k].Load()) }
	return Faults{
		Window:               window,
		Drop:                 n(faultDrop),
		Duplicate:            n(faultDuplicate),
		DuplicateRedelivered: n(faultDuplicateRedelivered),
		Reorder:              n(faultReorder),
		Corrupt:              n(faultCorrupt),
		WithholdAckDelivered: n(faultWithholdAckDelivered),
		WithholdAckDropped:   n(faultWithholdAckDropped),
		Reject:               n(faultReject),
		Phantom:              n(faultPhantom),
	}
}

// plannedFault is one knob's message: the publish that arrives at position
// pos (0-based, in broker arrival order) gets kind.
type plannedFault struct {
	pos  int64
	kind faultKind
}

// newPlan draws distinct positions in [0, window) for every faulted message
// and deals the knobs onto them at random, sorted by position so that the
// publish path only compares against the next one.
func newPlan(rng *rand.Rand, counts [numKinds]int, window int) []plannedFault {
	var kinds []faultKind
	for k, n := range counts {
		for range n {
			kinds = append(kinds, faultKind(k))
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	// Floyd's sampling: memory follows the number of faults, not the window.
	chosen := make(map[int]struct{}, len(kinds))
	for j := window - len(kinds); j < window; j++ {
		t := rng.IntN(j + 1)
		if _, dup := chosen[t]; dup {
			t = j
		}
		chosen[t] = struct{}{}
	}
	pos := make([]int, 0, len(chosen))
	for p := range chosen {
		pos = append(pos, p)
	}
	slices.Sort(pos)

	plan := make([]plannedFault, len(kinds))
	for i := range plan {
		plan[i] = plannedFault{pos: int64(pos[i]), kind: kinds[i]}
	}
	return plan
}

// pickFault returns the fault of the publish arriving now. A planned fault
// that cannot apply to this message is carried over to the next publish that
// has none, past the window if need be, so that every knob still injects
// exactly its count. Called with b.mu held.
func (b *Broker) pickFault(producer, lane, size int) faultKind {
	pos := b.arrivals
	b.arrivals++
	if b.planNext < len(b.plan) && b.plan[b.planNext].pos == pos {
		k := b.plan[b.planNext].kind
		b.planNext++
		if b.applicable(k, producer, lane, size) {
			return k
		}
		b.carry = append(b.carry, k)
		return noFault
	}
	if len(b.carry) > 0 && b.applicable(b.carry[0], producer, lane, size) {
		k := b.carry[0]
		b.carry = append(b.carry[:0], b.carry[1:]...)
		return k
	}
	return noFault
}

// applicable says whether fault k may hit the message arriving now. The
// message right after a held one (same producer and lane) stays plain in
// every subscription: it is the higher sequence number the held message's
// reorder is measured against, and a fault on it (a drop, a corrupted or
// phantom copy) would leave a checker free to count that reorder or not.
// That also keeps a second message from being held in the same slot.
func (b *Broker) applicable(k faultKind, producer, lane, size int) bool {
	if len(b.held) > 0 {
		for si := range b.subs {
			if _, ok := b.held[holdKey{si, lane, producer}]; ok {
				return false
			}
		}
	}
	return k != faultCorrupt || size > 0
}

// verdict is what a producer will be told about one publish, with the
// fault behind it so that the completion can count the outcome faults when
// they are actually reported.
type verdict struct {
	outcome broker.Outcome
	err     error
	kind    faultKind
}

// arrive stores a copy of one publish and applies its fault.
func (b *Broker) arrive(p *producer, producerID int, payload []byte, lane int) (verdict, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return verdict{}, errBrokerClosed
	}
	payload = b.slabCopy(payload)
	p.published++
	kind := b.pickFault(producerID, lane, len(payload))

	target := -1
	switch kind {
	case faultReject:
		return verdict{broker.Failed, errNacked, kind}, nil
	case faultWithholdAckDropped:
		return verdict{broker.Indeterminate, errWithheld, kind}, nil
	case faultDrop, faultDuplicate, faultDuplicateRedelivered, faultCorrupt, faultReorder:
		target = b.rng.IntN(len(b.subs))
	}

	for si, sub := range b.subs {
		e := entry{payload: payload, producer: producerID, lane: lane}
		if si != target {
			sub.add(e)
			b.releaseAfter(sub, e)
			continue
		}
		switch kind {
		case faultDrop:
			b.injected[faultDrop].Add(1)
		case faultReorder:
			b.hold(sub, e, p)
		case faultCorrupt:
			e.payload = corruptCopy(b.rng, payload)
			sub.add(e)
			b.injected[faultCorrupt].Add(1)
		case faultDuplicate:
			// Stored twice, as by a producer's retry: two log entries.
			sub.add(e)
			sub.add(e)
			b.injected[kind].Add(1)
		case faultDuplicateRedelivered:
			// Stored once and delivered twice, as after a lost ack: the
			// same log entry again, flagged.
			e = sub.add(e)
			e.redelivered = true
			sub.count(&e)
			sub.enqueue(e)
			b.injected[kind].Add(1)
		}
	}

	switch kind {
	case faultWithholdAckDelivered:
		return verdict{broker.Indeterminate, errWithheld, kind}, nil
	case faultPhantom:
		return verdict{broker.Failed, errNacked, kind}, nil
	}
	return verdict{broker.Acked, nil, kind}, nil
}

// corruptCopy flips one byte in the second half of the payload: a header at
// the front keeps the producer and sequence readable, so a checker can name
// the message whose checksum fails.
func corruptCopy(rng *rand.Rand, payload []byte) []byte {
	c := slices.Clone(payload)
	half := len(c) / 2
	c[half+rng.IntN(len(c)-half)] ^= 0xff
	return c
}

// holdKey is the slot a reorder occupies: one held message per producer
// and ordering domain in each subscription.
type holdKey struct {
	sub, lane, producer int
}

type held struct {
	e     entry
	owner *producer
}

func (b *Broker) hold(sub *subscription, e entry, owner *producer) {
	e.pos = sub.store(e.lane)
	sub.count(&e)
	b.held[holdKey{sub.index, e.lane, e.producer}] = held{e: e, owner: owner}
}

// releaseAfter delivers the message held for e's producer and lane right
// after e, which was just added: the held one's first delivery then comes
// after a higher sequence number of its producer in the same domain, which is
// exactly one reorder. In queue mode e is glued to it so one consumer takes
// both back to back, since there the domain is the consumer.
func (b *Broker) releaseAfter(sub *subscription, e entry) {
	if len(b.held) == 0 {
		return
	}
	key := holdKey{sub.index, e.lane, e.producer}
	h, ok := b.held[key]
	if !ok {
		return
	}
	delete(b.held, key)
	if b.queue {
		sub.lanes[e.lane].q.fromBack(0).glue = true
	}
	sub.enqueue(h.e)
	b.injected[faultReorder].Add(1)
}

// releaseHeld delivers held messages whose producer can send no successor
// any more (all of them when all is set). They come last in their domain,
// not out of order, so they are not counted as injected.
func (b *Broker) releaseHeld(all bool) {
	for key, h := range b.held {
		if all || h.owner.finished() {
			delete(b.held, key)
			b.subs[key.sub].enqueue(h.e)
		}
	}
}
