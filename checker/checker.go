package checker

import (
	"fmt"
	"slices"
)

// MaxProducers bounds producer ids: the swarm numbers its producers densely
// from 0, so a larger id can only come from a payload nobody sent.
const MaxProducers = 1 << 16

// MaxExamples bounds the evidence kept per anomaly kind.
const MaxExamples = 20

// Checker consumes events and keeps compact per-producer state: one set
// of sequence numbers (roaring bitmaps, 64-bit) per outcome and per
// subscription, never a map entry per message. It is not safe for
// concurrent use: one goroutine owns it and is handed batches of events.
type Checker struct {
	names     *Names
	producers []*producer
	subs      []*subscription
	domains   []*domain

	foreign uint64
	corrupt uint64
	// unchecked: clean deliveries whose checksum covered the header alone
	// (producers.checksum: header), so their payload's damage, if any,
	// is not in corrupt.
	unchecked uint64
	beyond    uint64 // received with an impossible producer id: unexpected
	reorders  uint64
	received  uint64 // every clean delivery, duplicates included

	examples map[string][]Example

	// reserved holds the states of producers reservedLo on, made at once
	// (Reserve) and taken as each producer is first seen.
	reserved   []producer
	reservedLo uint32
}

type producer struct {
	// acked and ackedAt first: every ack touches both, and next to each
	// other they share cache lines (10,000 producers' states are not
	// all in the cache).
	acked seqSet
	// sentAt and ackedAt date messages for evidence and attribution.
	ackedAt, sentAt             seqTimes
	sent, failed, indeterminate seqSet
	// aborted: written in transactions the broker confirmed aborted.
	aborted seqSet
	// txns names the first aborted transactions, for evidence.
	txns txnSpans
}

type subscription struct {
	recv []*seqSet // by producer
	// recvReserved holds the receipt sets of the reserved producers
	// (Checker.Reserve), each taken at the producer's first receipt.
	recvReserved []seqSet
	dead         []*seqSet // by producer: read back from the dead-letter queue
	// dups counts the extra copies of the whole subscription, dupsBy
	// those of each producer (grown at a producer's first duplicate), for
	// claims scoped to some producers (Options.Scopes).
	dups     dups
	dupsBy   []dups
	rejected uint64
	// proc: side effects read back (Processed), by producer; procTwice
	// counts the extra ones, procAll every one.
	proc               []*seqSet
	procTwice, procAll uint64
}

// dups counts extra copies: all of them; of those, redel were flagged by
// the broker, stored came from a storage position never delivered before
// (stored twice), noPos had no position at all.
type dups struct {
	all, redel, stored, noPos uint64
}

func (d *dups) add(o dups) {
	d.all += o.all
	d.redel += o.redel
	d.stored += o.stored
	d.noPos += o.noPos
}

// addDups counts o for producer p in s, in its total and its producer's.
func (s *subscription) addDups(p uint32, o dups) {
	s.dups.add(o)
	for int(p) >= len(s.dupsBy) {
		s.dupsBy = append(s.dupsBy, dups{})
	}
	s.dupsBy[p].add(o)
}

type domain struct {
	// high[p] is the highest sequence number first-delivered from producer
	// p in this domain.
	high []highest
	// positions are the storage positions delivered in this domain.
	positions seqSet
}

type highest struct {
	seq  uint64
	seen bool
}

// New returns an empty checker whose ids resolve through names.
func New(names *Names) *Checker {
	if names == nil {
		names = NewNames()
	}
	return &Checker{names: names, examples: map[string][]Example{}}
}

// Names returns the registry the checker resolves ids with.
func (c *Checker) Names() *Names { return c.names }

// Apply folds a batch of events into the state.
func (c *Checker) Apply(events []Event) {
	for i := range events {
		c.apply(&events[i])
	}
}

func (c *Checker) apply(e *Event) {
	switch e.Kind {
	case Sent:
		p := c.producer(e.Producer)
		if p == nil {
			return
		}
		if e.Count <= 1 {
			// A single send is a sample with its exact time (the
			// swarm sends one for every 1024th message and for a
			// producer's first and last).
			p.sent.Add(e.Seq)
			p.sentAt.mark(e.Seq, e.At)
			return
		}
		last := e.Seq + uint64(e.Count) - 1
		if last < e.Seq { // past the top of the space: keep what fits
			last = ^uint64(0)
		}
		p.sent.AddRange(e.Seq, last)
		p.sentAt.markRange(e.Seq, last, e.At)
	case Acked:
		p := c.producer(e.Producer)
		if p == nil {
			return
		}
		if e.Count <= 1 {
			p.acked.Add(e.Seq)
			p.ackedAt.mark(e.Seq, e.At)
			return
		}
		// Consecutive numbers acked together (a batch the broker
		// answered at once): one range, each number dated At.
		last := e.Seq + uint64(e.Count) - 1
		if last < e.Seq {
			last = ^uint64(0)
		}
		p.acked.AddRange(e.Seq, last)
		p.ackedAt.markEach(e.Seq, last, e.At)
	case Failed:
		if p := c.producer(e.Producer); p != nil {
			p.failed.Add(e.Seq)
		}
	case Indeterminate:
		if p := c.producer(e.Producer); p != nil {
			p.indeterminate.Add(e.Seq)
		}
	case Aborted:
		if p := c.producer(e.Producer); p != nil {
			p.aborted.Add(e.Seq)
			p.txns.add(e.Seq, e.Txn)
		}
	case Received:
		c.receive(e)
	case Corrupted:
		c.corrupt++
		if c.room("corrupted") {
			c.example(Example{Anomaly: "corrupted", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At, Redelivered: e.Redelivered,
				Detail: e.Reason.String() + "; producer and seq as the damaged header claims"}, e.Sub, e.Domain)
		}
	case Foreign:
		c.foreign++
		if c.room("foreign") {
			x := Example{Anomaly: "foreign", At: e.At, Detail: e.Reason.String()}
			if e.Reason == OtherRun {
				x.Producer, x.Seq, x.SeqEnd = e.Producer, e.Seq, e.Seq
			}
			c.example(x, e.Sub, e.Domain)
		}
	case DeadLettered:
		if c.producer(e.Producer) != nil {
			setAt(&c.sub(e.Sub).dead, e.Producer).Add(e.Seq)
		} else {
			c.beyond++
		}
	case Rejected:
		c.sub(e.Sub).rejected++
	case Processed:
		c.processed(e)
	}
}

func (c *Checker) sub(id uint16) *subscription {
	for int(id) >= len(c.subs) {
		c.subs = append(c.subs, &subscription{})
	}
	return c.subs[id]
}

func (c *Checker) domain(id uint32) *domain {
	for int(id) >= len(c.domains) {
		c.domains = append(c.domains, nil)
	}
	d := c.domains[id]
	if d == nil {
		d = &domain{}
		c.domains[id] = d
	}
	return d
}

// setAt returns (*sets)[i], growing the slice and creating the set.
func setAt(sets *[]*seqSet, i uint32) *seqSet {
	for int(i) >= len(*sets) {
		*sets = append(*sets, nil)
	}
	s := (*sets)[i]
	if s == nil {
		s = &seqSet{}
		(*sets)[i] = s
	}
	return s
}

// producer returns the state of producer id, or nil when the id is
// outside what the swarm can have sent.
func (c *Checker) producer(id uint32) *producer {
	if id >= MaxProducers {
		return nil
	}
	for int(id) >= len(c.producers) {
		c.producers = append(c.producers, nil)
	}
	p := c.producers[id]
	if p == nil {
		if i := id - c.reservedLo; id >= c.reservedLo && int(i) < len(c.reserved) {
			p = &c.reserved[i]
		} else {
			p = &producer{}
		}
		c.producers[id] = p
	}
	return p
}

// recvSet returns s's set of producer id's receipts, making it from the
// reservation when there is one.
func (s *subscription) recvSet(c *Checker, id uint32) *seqSet {
	if int(id) < len(s.recv) && s.recv[id] != nil {
		return s.recv[id]
	}
	if i := id - c.reservedLo; c.reserved != nil && id >= c.reservedLo && int(i) < len(c.reserved) {
		if s.recvReserved == nil {
			s.recvReserved = make([]seqSet, len(c.reserved))
		}
		for int(id) >= len(s.recv) {
			s.recv = append(s.recv, nil)
		}
		s.recv[id] = &s.recvReserved[i]
		return s.recv[id]
	}
	return setAt(&s.recv, id)
}

// Reserve makes the states of producers lo to hi-1 in one allocation,
// each taken when the producer is first seen: a swarm of thousands
// allocates them while it prepares its producers, not at each one's first
// message (10,000 producers' states, made in a run's first second, set
// off a collection of the whole heap there); so are their receipt sets in
// the subscriptions named so far. Which producers have a state, and so
// what results and saved state hold, is as without it.
func (c *Checker) Reserve(lo, hi uint32) {
	hi = min(hi, MaxProducers)
	if lo >= hi {
		return
	}
	c.reserved, c.reservedLo = make([]producer, hi-lo), lo
	// Room only: producers beyond hi may have been seen already (a split
	// run's consumers read the other workers' producers).
	c.producers = slices.Grow(c.producers, max(0, int(hi)-len(c.producers)))
	// And their receipt sets in each subscription named so far.
	for i := range c.names.Subs() {
		s := c.sub(uint16(i))
		s.recvReserved = make([]seqSet, hi-lo)
		s.recv = slices.Grow(s.recv, max(0, int(hi)-len(s.recv)))
	}
}

func (c *Checker) receive(e *Event) {
	c.received++
	if e.HeaderOnly {
		c.unchecked++
	}
	if e.Producer >= MaxProducers {
		c.beyond++
		c.example(Example{Anomaly: "unexpected", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At,
			Detail: "producer id beyond anything this run has"}, e.Sub, e.Domain)
		return
	}
	c.producer(e.Producer) // so that finalize visits producers only seen on receipt
	s := c.sub(e.Sub)
	d := c.domain(e.Domain)
	pd := d
	if e.PosDomain != 0 {
		pd = c.domain(e.PosDomain - 1)
	}
	if !s.recvSet(c, e.Producer).CheckedAdd(e.Seq) {
		c.duplicate(s, pd, e)
		return
	}
	if e.HasPosition {
		pd.positions.Add(e.Position)
	}
	if int(e.Producer) >= len(d.high) {
		// At once to the end of the reservation, if any: one producer at
		// a time, 10,000 producers' first receipts grew it a dozen times.
		n := max(int(e.Producer)+1, int(c.reservedLo)+len(c.reserved))
		d.high = append(d.high, make([]highest, n-len(d.high))...)
	}
	h := &d.high[e.Producer]
	switch {
	case !h.seen || e.Seq > h.seq:
		*h = highest{e.Seq, true}
	case e.Seq < h.seq && !e.Redelivered:
		// A redelivery the broker flags (after a requeue or a consumer
		// crash) comes behind later messages by design; brokers promise
		// order only for first attempts, so it is exempt.
		c.reorders++
		c.example(Example{Anomaly: "reordered", Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, After: h.seq, At: e.At,
			Redelivered: e.Redelivered}, e.Sub, e.Domain)
	}
}

// duplicate counts a delivery of a message the subscription already had,
// and tells by its storage position whether the broker stored the message
// twice (a position never delivered before: the producer or the broker
// failed) or delivered one stored copy again (the consumer side). d is
// the domain the position is unique in.
func (c *Checker) duplicate(s *subscription, d *domain, e *Event) {
	one := dups{all: 1}
	if e.Redelivered {
		one.redel = 1
	}
	anomaly := "duplicated"
	switch {
	case !e.HasPosition:
		one.noPos = 1
	case d.positions.CheckedAdd(e.Position):
		one.stored = 1
		anomaly = "duplicated_stored"
	}
	s.addDups(e.Producer, one)
	// The evidence is built only when it is kept (off the hot path).
	if !c.room(anomaly) {
		return
	}
	x := Example{Anomaly: anomaly, Producer: e.Producer, Seq: e.Seq, SeqEnd: e.Seq, At: e.At, Redelivered: e.Redelivered}
	switch {
	case !e.HasPosition:
		x.Detail = "the broker gives no storage position: stored twice or delivered twice is unknown"
	case one.stored == 1:
		x.Position = ptr(e.Position)
		x.Detail = fmt.Sprintf("stored twice: this copy is at position %d, a position never delivered before", e.Position)
	default:
		x.Position = ptr(e.Position)
		x.Detail = fmt.Sprintf("one stored copy delivered again: position %d was delivered before", e.Position)
	}
	c.example(x, e.Sub, e.Domain)
}

func ptr[T any](v T) *T { return &v }

// room says whether evidence of anomaly still has room, so that an example
// is only built (names resolved, text formatted) when it will be kept.
func (c *Checker) room(anomaly string) bool { return len(c.examples[anomaly]) < MaxExamples }

// example keeps x as evidence if there is room, naming its subscription and
// domain (names are resolved only for kept examples, off the hot path).
func (c *Checker) example(x Example, sub uint16, dom uint32) {
	list := c.examples[x.Anomaly]
	if len(list) < MaxExamples {
		x.Subscription = c.names.Sub(sub)
		x.Domain = c.names.DomainName(dom)
		c.examples[x.Anomaly] = append(list, x)
	}
}

// Compact shrinks the bitmaps (runs of consecutive sequence numbers become
// one interval). The owner calls it now and then, e.g. once per interval.
func (c *Checker) Compact() {
	for _, p := range c.producers {
		if p == nil {
			continue
		}
		p.sent.RunOptimize()
		p.acked.RunOptimize()
		p.failed.RunOptimize()
		p.indeterminate.RunOptimize()
		p.aborted.RunOptimize()
	}
	for _, s := range c.subs {
		for _, set := range append(append(s.recv, s.dead...), s.proc...) {
			if set != nil {
				set.RunOptimize()
			}
		}
	}
	for _, d := range c.domains {
		if d != nil {
			d.positions.RunOptimize()
		}
	}
}

// SizeBytes estimates the memory held by the checker's sets.
func (c *Checker) SizeBytes() uint64 {
	var n uint64
	for _, p := range c.producers {
		if p == nil {
			continue
		}
		n += p.sent.SizeBytes() + p.acked.SizeBytes() + p.failed.SizeBytes() + p.indeterminate.SizeBytes() +
			p.aborted.SizeBytes() + p.sentAt.sizeBytes() + p.ackedAt.sizeBytes() + p.txns.sizeBytes()
	}
	for _, s := range c.subs {
		for _, set := range append(append(s.recv, s.dead...), s.proc...) {
			if set != nil {
				n += set.SizeBytes()
			}
		}
	}
	for _, d := range c.domains {
		if d != nil {
			n += uint64(16*len(d.high)) + d.positions.SizeBytes()
		}
	}
	return n
}

// Live are the counts known while the run goes on (loss is only known after
// the drain).
type Live struct {
	Received, Duplicated, Reordered, Corrupted, Unexpected, Foreign uint64
}

// Live returns the anomaly counts so far.
func (c *Checker) Live() Live {
	l := Live{Received: c.received, Reordered: c.reorders, Corrupted: c.corrupt,
		Unexpected: c.beyond, Foreign: c.foreign}
	for _, s := range c.subs {
		l.Duplicated += s.dups.all
	}
	return l
}

// Outstanding counts the (subscription, acked message) pairs not received
// yet: the drain waits for it to reach zero.
func (c *Checker) Outstanding() uint64 {
	nsubs := max(len(c.subs), len(c.names.Subs()))
	var n uint64
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		for sub := 0; sub < nsubs; sub++ {
			n += andNotCount(&p.acked, c.accounted(sub, id))
		}
	}
	return n
}

// accounted is what subscription sub has of producer's messages: received,
// or read back from the dead-letter queue. Never nil.
func (c *Checker) accounted(sub, producer int) *seqSet {
	r := c.recv(sub, producer)
	var d *seqSet
	if sub < len(c.subs) && producer < len(c.subs[sub].dead) {
		d = c.subs[sub].dead[producer]
	}
	switch {
	case r == nil && d == nil:
		return &seqSet{}
	case d == nil:
		return r
	case r == nil:
		return d
	}
	return union(r, d)
}
